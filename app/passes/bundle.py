"""Building a pass's pass.json and its signed .pkpass bundle."""

import copy
import io
import json
import re
import zipfile
from datetime import datetime
from typing import Any

from app.certificates import SigningIdentity
from app.passes.signing import build_manifest, sign_manifest
from app.passes.strings import render_strings
from app.passes.validation import validate_pass

PKPASS_MIME = "application/vnd.apple.pkpass"
# Several passes downloaded together: a ZIP of .pkpass files, at most ten.
PKPASSES_MIME = "application/vnd.apple.pkpasses"
MAX_BUNDLED_PASSES = 10
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
# Keys a template may not set: they belong to each pass or to this server.
PER_PASS_KEYS = (
    "passTypeIdentifier",
    "teamIdentifier",
    "serialNumber",
    "authenticationToken",
    "webServiceURL",
    "voided",
)


class PassDataError(ValueError):
    """Pass data that does not fill the template's placeholders."""


def placeholders(design: Any) -> set[str]:
    """Return the names of every {{placeholder}} used in a design."""
    if isinstance(design, str):
        return set(PLACEHOLDER.findall(design))
    if isinstance(design, dict):
        return set().union(*map(placeholders, design.values()))
    if isinstance(design, list):
        return set().union(*map(placeholders, design))
    return set()


# The server fills {{serialNumber}} itself; it is not pass data.
FILLED_BY_SERVER = frozenset({"serialNumber"})
# A value of pass data, however it arrives (dashboard, CSV, API): at most this
# long, and free of control characters other than tab and line breaks.
MAX_VALUE_LENGTH = 2000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def data_placeholders(design: Any) -> list[str]:
    """Return the names of a design's placeholders that pass data fills, sorted."""
    return sorted(placeholders(design) - FILLED_BY_SERVER)


SAMPLE_DATE = "2030-01-01T12:00:00+00:00"
_DATE_KEYS = {"relevantDate", "expirationDate", "date", "startDate", "endDate"}
_COLOR_KEYS = {"foregroundColor", "backgroundColor", "labelColor"}


def sample_values(design: Any) -> dict[str, Any]:
    """Return a plausible value for each placeholder, to check a design with.

    A placeholder standing for a whole date or color gets one, so a design
    such as {"value": "{{doors}}", "dateStyle": ...} passes validation.
    """
    samples = {name: "sample" for name in placeholders(design)}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        if not isinstance(node, dict):
            return
        is_dated = "dateStyle" in node or "timeStyle" in node
        for key, value in node.items():
            whole = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
            if whole and (key in _DATE_KEYS or (key == "value" and is_dated)):
                samples[whole.group(1)] = SAMPLE_DATE
            elif whole and key in _COLOR_KEYS:
                samples[whole.group(1)] = "rgb(0, 0, 0)"
            elif whole and key == "changeMessage":
                samples[whole.group(1)] = "Changed to %@"
            visit(value)

    visit(design)
    return samples


def fill_placeholders(
    design: Any, values: dict[str, Any], missing: str | None = None
) -> Any:
    """Replace every {{name}} in the design's strings with its value.

    A string that is only a placeholder takes the value's own type, so numbers
    stay numbers. A name without a value raises PassDataError, or becomes
    `missing` when that is given.
    """
    if isinstance(design, dict):
        return {k: fill_placeholders(v, values, missing) for k, v in design.items()}
    if isinstance(design, list):
        return [fill_placeholders(v, values, missing) for v in design]
    if not isinstance(design, str):
        return design
    whole = PLACEHOLDER.fullmatch(design.strip())
    if whole:
        return _value(whole.group(1), values, missing)
    return PLACEHOLDER.sub(lambda m: str(_value(m.group(1), values, missing)), design)


def _value(name: str, values: dict[str, Any], missing: str | None) -> Any:
    if name in values:
        return values[name]
    if missing is not None:
        return missing
    raise PassDataError(f"no value for the placeholder {{{{{name}}}}}")


def render_pass_json(
    design: dict[str, Any],
    data: dict[str, Any],
    *,
    pass_type_identifier: str,
    team_identifier: str,
    serial_number: str,
    authentication_token: str,
    web_service_url: str,
    is_voided: bool = False,
    missing: str | None = None,
) -> dict[str, Any]:
    """Fill a template's design with a pass's data and add the per-pass keys.

    `missing` stands in for placeholders the data has no value for; without
    it they raise PassDataError.
    """
    values = {**data, "serialNumber": serial_number}
    body = fill_placeholders(copy.deepcopy(design), values, missing)
    for key in PER_PASS_KEYS:
        body.pop(key, None)
    pass_json = {"formatVersion": 1, **body}
    pass_json.update(
        passTypeIdentifier=pass_type_identifier,
        teamIdentifier=team_identifier,
        serialNumber=serial_number,
        authenticationToken=authentication_token,
        webServiceURL=web_service_url,
    )
    if is_voided:
        pass_json["voided"] = True
    return pass_json


def bundle_files(
    pass_json: dict[str, Any],
    images: dict[str, bytes],
    localizations: dict[str, dict[str, str]],
) -> dict[str, bytes]:
    """Lay out every file of the bundle except the manifest and signature."""
    files = {"pass.json": json.dumps(pass_json, ensure_ascii=False, indent=2).encode()}
    files.update(images)
    for language, strings in localizations.items():
        if strings:
            files[f"{language}.lproj/pass.strings"] = render_strings(strings)
    return files


def validate_files(files: dict[str, bytes], *, allow_http: bool = False) -> None:
    """Raise PassValidationError if Wallet would refuse a bundle of these files."""
    validate_pass(
        json.loads(files["pass.json"]),
        [path for path in files if path != "pass.json"],
        allow_http=allow_http,
    )


def build_pkpass(
    files: dict[str, bytes],
    identity: SigningIdentity,
    *,
    modified_at: datetime,
    allow_http: bool = False,
) -> bytes:
    """Validate, sign and zip a pass; return the .pkpass bytes.

    Raises PassValidationError when Wallet would refuse the pass.
    """
    validate_files(files, allow_http=allow_http)
    manifest = build_manifest(files)
    signature = sign_manifest(manifest, identity)
    return zip_bundle(
        {**files, "manifest.json": manifest, "signature": signature}, modified_at
    )


def zip_bundle(files: dict[str, bytes], modified_at: datetime) -> bytes:
    """Zip the files with a fixed time, so the same content gives the same bytes.

    PNGs are stored as they are: they are compressed already, and deflating
    them again was most of the time spent building a bundle.
    """
    buffer = io.BytesIO()
    stamp = modified_at.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = (
                zipfile.ZIP_STORED if path.endswith(".png") else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, files[path])
    return buffer.getvalue()


def zip_passes(bundles: dict[str, bytes], modified_at: datetime) -> bytes:
    """Zip signed .pkpass bundles, by file name, into one .pkpasses bundle.

    The bundles are stored as they are: each is a ZIP already.
    """
    if not 1 <= len(bundles) <= MAX_BUNDLED_PASSES:
        raise ValueError(f"A .pkpasses holds 1 to {MAX_BUNDLED_PASSES} passes.")
    buffer = io.BytesIO()
    stamp = modified_at.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in bundles.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, content)
    return buffer.getvalue()
