"""Turning a .pkpass or .pass folder made by other tools into a template."""

import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.passes.bundle import PER_PASS_KEYS
from app.passes.strings import parse_strings
from app.passes.validation import (
    FIELD_GROUPS,
    is_allowed_path,
    style_of,
)

MAX_BUNDLE_BYTES = 20 * 1024 * 1024
MAX_FILES = 200
# A string, kept as it is, or a comma followed only by a closing bracket.
_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')
_LOOSE_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::(\d{2}))?(Z|[+-]\d{2}):?(\d{2})?$"
)


class PassImportError(ValueError):
    """A pass source that cannot become a template; the message says why."""


@dataclass
class ImportedDesign:
    style: str
    design: dict[str, Any]
    images: dict[str, bytes]
    localizations: dict[str, dict[str, str]]
    skipped: list[str] = field(default_factory=list)


def read_source(source: Path | bytes) -> dict[str, bytes]:
    """Read every file of a .pkpass (bytes or path) or a .pass folder."""
    if isinstance(source, Path) and source.is_dir():
        return {
            p.relative_to(source).as_posix(): p.read_bytes()
            for p in sorted(source.rglob("*"))
            if p.is_file()
        }
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PassImportError(
            "That is not a .pkpass file (not a ZIP archive)."
        ) from exc
    entries = [e for e in archive.infolist() if not e.is_dir()]
    if len(entries) > MAX_FILES or sum(e.file_size for e in entries) > MAX_BUNDLE_BYTES:
        raise PassImportError("That pass is too large to import.")
    try:
        return {e.filename: archive.read(e) for e in entries}
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as exc:
        # Bad CRC or deflate data, an encrypted entry (RuntimeError) or an
        # unknown compression method: the archive lists files it cannot give.
        raise PassImportError(
            "Could not read that .pkpass: it is damaged or password-protected."
        ) from exc


def load_lenient_json(data: bytes) -> Any:
    """Parse JSON as Wallet does, accepting a BOM and trailing commas."""
    text = data.decode("utf-8-sig")
    text = _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)
    return json.loads(text)


def upgrade_date(value: Any) -> Any:
    """Add the seconds and the colon in the offset that older passes omit."""
    if not isinstance(value, str):
        return value
    match = _LOOSE_DATE_TIME.match(value)
    if not match:
        return value
    minutes, seconds, zone, zone_minutes = match.groups()
    offset = "Z" if zone == "Z" else f"{zone}:{zone_minutes or '00'}"
    return f"{minutes}:{seconds or '00'}{offset}"


def upgrade_design(pass_json: dict[str, Any]) -> dict[str, Any]:
    """Drop the per-pass keys and upgrade deprecated shapes."""
    design = {k: v for k, v in pass_json.items() if k not in PER_PASS_KEYS}
    design.pop("formatVersion", None)
    barcode = design.pop("barcode", None)
    if "barcodes" not in design and isinstance(barcode, dict):
        design["barcodes"] = [barcode]
    for key in ("relevantDate", "expirationDate"):
        if key in design:
            design[key] = upgrade_date(design[key])
    relevant_dates = design.get("relevantDates")
    for entry in relevant_dates if isinstance(relevant_dates, list) else []:
        for key in ("date", "startDate", "endDate"):
            if isinstance(entry, dict) and key in entry:
                entry[key] = upgrade_date(entry[key])
    style = style_of(design)
    if style and isinstance(design[style], dict):
        for group in FIELD_GROUPS:
            entries = design[style].get(group)
            # Anything but a list is left for validation to name.
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and "value" in entry:
                    entry["value"] = upgrade_date(entry["value"])
    return design


def import_design(source: Path | bytes) -> ImportedDesign:
    """Read a pass and return its design, images and localizations.

    The old manifest and signature are dropped, and so is any file Wallet
    would not accept (listed in `skipped`). Raises PassImportError with the reason
    when there is no usable pass.json.
    """
    files = read_source(source)
    if "pass.json" not in files:
        raise PassImportError("There is no pass.json at the top of that pass.")
    try:
        pass_json = load_lenient_json(files.pop("pass.json"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PassImportError(f"pass.json is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise PassImportError("pass.json is nested too deeply to read.") from exc
    if not isinstance(pass_json, dict):
        raise PassImportError("pass.json must hold a JSON object.")
    design = upgrade_design(pass_json)
    style = style_of(design)
    if style is None:
        raise PassImportError("pass.json needs exactly one style key, such as generic.")

    images: dict[str, bytes] = {}
    localizations: dict[str, dict[str, str]] = {}
    skipped = []
    for path, content in sorted(files.items()):
        if path in ("manifest.json", "signature"):
            continue
        if not is_allowed_path(path):
            skipped.append(path)
        elif path.endswith("/pass.strings"):
            language = path.split("/")[0].removesuffix(".lproj")
            try:
                localizations[language] = parse_strings(content)
            except UnicodeDecodeError as exc:
                raise PassImportError(f"{path} is not UTF-8 or UTF-16 text.") from exc
        else:
            images[path] = content
    return ImportedDesign(style, design, images, localizations, skipped)
