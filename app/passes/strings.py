"""Reading and writing the `pass.strings` files of localized passes."""

import re

_ENTRY = re.compile(
    r'"((?:[^"\\]|\\.)*)"\s*=\s*"((?:[^"\\]|\\.)*)"\s*;',
    re.DOTALL,
)
# A quoted string, kept as it is, or a comment: "http://x" is not a comment.
_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|/\*.*?\*/|//[^\n]*', re.DOTALL)
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def decode_strings_file(data: bytes) -> str:
    """Decode a .strings file, which may be UTF-16 (with a BOM) or UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), text)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
    )


def parse_strings(data: bytes) -> dict[str, str]:
    """Parse `"key" = "value";` lines, ignoring comments."""
    text = _COMMENT.sub(lambda m: m.group(1) or "", decode_strings_file(data))
    return {_unescape(k): _unescape(v) for k, v in _ENTRY.findall(text)}


def render_strings(strings: dict[str, str]) -> bytes:
    """Write a pass.strings file as UTF-8, one entry a line, sorted by key."""
    lines = [f'"{_escape(k)}" = "{_escape(v)}";' for k, v in sorted(strings.items())]
    return ("\n".join(lines) + "\n").encode("utf-8")
