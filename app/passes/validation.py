"""Checks a pass must pass before it is signed; see PASSKIT.md §3 and §4."""

import re
from datetime import datetime
from typing import Any

STYLES = ("boardingPass", "coupon", "eventTicket", "generic", "storeCard")
FIELD_GROUPS = (
    "headerFields",
    "primaryFields",
    "secondaryFields",
    "auxiliaryFields",
    "backFields",
    "additionalInfoFields",
)
REQUIRED_KEYS = (
    "formatVersion",
    "passTypeIdentifier",
    "serialNumber",
    "teamIdentifier",
    "organizationName",
    "description",
)
TRANSIT_TYPES = {
    "PKTransitTypeAir",
    "PKTransitTypeBoat",
    "PKTransitTypeBus",
    "PKTransitTypeGeneric",
    "PKTransitTypeTrain",
}
BARCODE_FORMATS = {
    "PKBarcodeFormatQR",
    "PKBarcodeFormatPDF417",
    "PKBarcodeFormatAztec",
    "PKBarcodeFormatCode128",
}
COLOR_KEYS = ("foregroundColor", "backgroundColor", "labelColor")
IMAGE_NAMES = {
    "icon",
    "logo",
    "strip",
    "thumbnail",
    "background",
    "footer",
    "personalizationLogo",
}
STYLE_IMAGES = {
    "boardingPass": {"icon", "logo", "footer"},
    "coupon": {"icon", "logo", "strip"},
    "storeCard": {"icon", "logo", "strip"},
    "eventTicket": {"icon", "logo", "strip", "background", "thumbnail"},
    "generic": {"icon", "logo", "thumbnail"},
}

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
IMAGE_FILE = re.compile(r"^(?P<name>[A-Za-z]+)(@[23]x)?\.png$")
LPROJ = re.compile(r"^[A-Za-z0-9_-]{2,20}\.lproj$")


class PassValidationError(ValueError):
    """A pass that Wallet would refuse; `errors` lists every reason."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def image_name(path: str) -> str | None:
    """Return the image a bundle path holds ("logo" for fr.lproj/logo@2x.png)."""
    match = IMAGE_FILE.match(path.rsplit("/", 1)[-1])
    if match and match.group("name") in IMAGE_NAMES:
        return match.group("name")
    return None


def is_allowed_path(path: str) -> bool:
    """Tell whether a file may sit in a bundle beside pass.json."""
    parts = path.split("/")
    if len(parts) == 1:
        return image_name(path) is not None
    return (
        len(parts) == 2
        and LPROJ.match(parts[0]) is not None
        and (parts[1] == "pass.strings" or image_name(parts[1]) is not None)
    )


def style_of(pass_json: dict[str, Any]) -> str | None:
    """Return the pass's style key, or None unless exactly one is present."""
    styles = [s for s in STYLES if s in pass_json]
    return styles[0] if len(styles) == 1 else None


def validate_pass(
    pass_json: dict[str, Any], file_paths: list[str], *, allow_http: bool = False
) -> None:
    """Raise PassValidationError listing everything Wallet would refuse."""
    errors: list[str] = []
    errors += _check_top_level(pass_json, allow_http)
    errors += _check_dates(pass_json)
    style = style_of(pass_json)
    if style is not None:
        errors += _check_fields(pass_json, style)
    errors += _check_barcodes(pass_json)
    errors += _check_files(file_paths, style)
    if errors:
        raise PassValidationError(errors)


def _check_top_level(pass_json: dict[str, Any], allow_http: bool) -> list[str]:
    errors = [f"{key} is required" for key in REQUIRED_KEYS if key not in pass_json]
    version = pass_json.get("formatVersion", 1)
    if type(version) is not int or version != 1:
        errors.append("formatVersion must be the integer 1")
    styles = [s for s in STYLES if s in pass_json]
    if len(styles) != 1:
        errors.append(
            f"exactly one style key is needed ({', '.join(STYLES)}); found "
            f"{len(styles)}"
        )
    for key in COLOR_KEYS:
        if key in pass_json and not _is_rgb(pass_json[key]):
            errors.append(f"{key} must look like rgb(255, 128, 0)")
    url = pass_json.get("webServiceURL")
    if url is not None:
        if not isinstance(url, str) or not (
            url.startswith("https://") or (allow_http and url.startswith("http://"))
        ):
            errors.append("webServiceURL must be an https:// URL")
        elif url.rstrip("/").endswith("/v1"):
            errors.append("webServiceURL must not end in /v1: Wallet adds it")
        token = pass_json.get("authenticationToken")
        if not isinstance(token, str) or len(token) < 16:
            errors.append("authenticationToken must be at least 16 characters")
    for key in ("locations", "beacons"):
        value = pass_json.get(key, [])
        if not isinstance(value, list) or len(value) > 10:
            errors.append(f"{key} must be a list of at most 10 entries")
        elif key == "locations" and not all(map(_is_location, value)):
            errors.append("each location needs numeric latitude and longitude")
    return errors


def _is_location(location: Any) -> bool:
    return isinstance(location, dict) and all(
        isinstance(location.get(k), int | float) for k in ("latitude", "longitude")
    )


def _is_rgb(value: Any) -> bool:
    match = RGB.match(value) if isinstance(value, str) else None
    return match is not None and all(int(part) <= 255 for part in match.groups())


def _check_dates(pass_json: dict[str, Any]) -> list[str]:
    errors = []
    for key in ("relevantDate", "expirationDate"):
        if key not in pass_json:
            continue
        if not _has_date_shape(pass_json[key]):
            errors.append(
                f"{key} must be a W3C date-time with seconds and an offset, "
                "like 2026-03-06T08:05:52+00:00"
            )
        elif calendar_problem(pass_json[key]) is not None:
            errors.append(
                f"{key} {pass_json[key]} is not a real date and time: "
                f"{calendar_problem(pass_json[key])}"
            )
    relevant_dates = pass_json.get("relevantDates", [])
    if not isinstance(relevant_dates, list) or not all(
        isinstance(entry, dict) for entry in relevant_dates
    ):
        errors.append("relevantDates must be a list of objects")
        relevant_dates = []
    for dates in relevant_dates:
        for key in ("date", "startDate", "endDate"):
            if key in dates and not _is_date_time(dates[key]):
                errors.append(f"relevantDates {key} must be a W3C date-time")
    return errors


def _is_date_time(value: Any) -> bool:
    return _has_date_shape(value) and calendar_problem(value) is None


def _has_date_shape(value: Any) -> bool:
    return isinstance(value, str) and DATE_TIME.match(value) is not None


def calendar_problem(value: str) -> str | None:
    """Say why a date-time of the right shape names no real moment, or None.

    The shape check lets 2027-02-30 or an hour of 99 through; the calendar
    does not.
    """
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        return str(exc)
    return None


def _check_fields(pass_json: dict[str, Any], style: str) -> list[str]:
    structure = pass_json[style]
    if not isinstance(structure, dict):
        return [f"{style} must be an object"]
    errors = []
    if style == "boardingPass" and structure.get("transitType") not in TRANSIT_TYPES:
        errors.append("boardingPass needs a transitType such as PKTransitTypeAir")
    seen: set[str] = set()
    for group in FIELD_GROUPS:
        fields = structure.get(group, [])
        if not isinstance(fields, list):
            errors.append(f"{group} must be a list")
            continue
        for field in fields:
            errors += _check_field(field, group, seen)
    return errors


def _check_field(field: Any, group: str, seen: set[str]) -> list[str]:
    if not isinstance(field, dict):
        return [f"each entry of {group} must be an object"]
    key = field.get("key")
    if not isinstance(key, str) or not key:
        return [f"a field in {group} has no key"]
    errors = []
    if key in seen:
        errors.append(f"field key {key!r} is used twice; keys are unique per pass")
    seen.add(key)
    value = field.get("value")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        errors.append(f"field {key!r} needs a value: a string, a number or a date")
    message = field.get("changeMessage")
    if message is not None and (not isinstance(message, str) or "%@" not in message):
        errors.append(f"changeMessage of field {key!r} must contain %@")
    if ("dateStyle" in field or "timeStyle" in field) and not _is_date_time(value):
        errors.append(f"field {key!r} has a date style, so its value must be a date")
    return errors


def _check_barcodes(pass_json: dict[str, Any]) -> list[str]:
    if "barcode" in pass_json and "barcodes" not in pass_json:
        return ["use a barcodes array; the single barcode key is deprecated"]
    barcodes = pass_json.get("barcodes", [])
    if not isinstance(barcodes, list):
        return ["barcodes must be an array"]
    errors = []
    for barcode in barcodes:
        if (
            not isinstance(barcode, dict)
            or barcode.get("format") not in BARCODE_FORMATS
        ):
            errors.append("each barcode needs a format such as PKBarcodeFormatQR")
        elif not isinstance(barcode.get("message"), str):
            errors.append("each barcode needs a message")
        elif not isinstance(barcode.get("messageEncoding"), str):
            errors.append("each barcode needs a messageEncoding (iso-8859-1)")
    return errors


def _check_files(paths: list[str], style: str | None) -> list[str]:
    errors = [f"{p} is not allowed in a pass" for p in paths if not is_allowed_path(p)]
    names = {image_name(p) for p in paths} - {None}
    if "icon" not in names:
        errors.append("an icon.png is required")
    if style is not None:
        for name in sorted(names - STYLE_IMAGES[style]):
            errors.append(f"a {style} pass cannot show a {name} image")
    if (
        style == "eventTicket"
        and "strip" in names
        and names & {"background", "thumbnail"}
    ):
        errors.append("an eventTicket shows a strip or a background and thumbnail")
    return errors
