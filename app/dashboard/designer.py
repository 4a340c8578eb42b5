"""The template designer: a design's editable parts as form values and back."""

import copy
import re
from typing import Any

FIELD_GROUPS = (
    "headerFields",
    "primaryFields",
    "secondaryFields",
    "auxiliaryFields",
    "backFields",
)
STYLES = ("boardingPass", "coupon", "eventTicket", "generic", "storeCard")
TEXT_KEYS = ("organizationName", "description", "logoText")
COLOR_KEYS = ("foregroundColor", "backgroundColor", "labelColor")
FIELD_KEYS = ("label", "value", "changeMessage", "textAlignment")
ALIGNMENTS = (
    "PKTextAlignmentLeft",
    "PKTextAlignmentCenter",
    "PKTextAlignmentRight",
    "PKTextAlignmentNatural",
)
BARCODE_FORMATS = (
    "PKBarcodeFormatQR",
    "PKBarcodeFormatPDF417",
    "PKBarcodeFormatAztec",
    "PKBarcodeFormatCode128",
)
RGB = re.compile(r"\s*rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)\s*")
HEX = re.compile(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")
# What an <input type=color> shows for a design without that color.
NO_COLOR = "#000000"


class DesignEditError(ValueError):
    """Edits that cannot go into a design; `design` holds the ones that can."""

    def __init__(self, errors: list[str], design: dict[str, Any]):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.design = design


def rgb_to_hex(value: Any) -> str | None:
    """Return #rrggbb for a CSS rgb(r, g, b) color, or None if it is not one."""
    match = RGB.fullmatch(value) if isinstance(value, str) else None
    if not match or any(int(part) > 255 for part in match.groups()):
        return None
    return "#{:02x}{:02x}{:02x}".format(*(int(part) for part in match.groups()))


def hex_to_rgb(value: str) -> str | None:
    """Return rgb(r, g, b) for an #rrggbb color, or None if it is not one."""
    match = HEX.fullmatch(value.strip())
    if not match:
        return None
    return "rgb({}, {}, {})".format(*(int(part, 16) for part in match.groups()))


def style_of(design: dict[str, Any]) -> str | None:
    """Return the design's style key, such as eventTicket."""
    return next((name for name in STYLES if isinstance(design.get(name), dict)), None)


def design_fields(design: dict[str, Any]) -> list[tuple[str, list[tuple[int, str]]]]:
    """Return each field group of the style with the (index, key) of its fields."""
    style = style_of(design)
    structure = design.get(style, {}) if style else {}
    groups = []
    for group in FIELD_GROUPS:
        entries = structure.get(group)
        if isinstance(entries, list):
            fields = [
                (index, str(entry.get("key", index)))
                for index, entry in enumerate(entries)
                if isinstance(entry, dict)
            ]
            if fields:
                groups.append((group, fields))
    return groups


def first_barcode(design: dict[str, Any]) -> dict[str, Any] | None:
    """Return the design's first barcode entry, if it has one."""
    barcodes = design.get("barcodes")
    if isinstance(barcodes, list) and barcodes and isinstance(barcodes[0], dict):
        return barcodes[0]
    return None


def design_form_values(design: dict[str, Any]) -> dict[str, str]:
    """Return the designer form's value of each editable part of the design."""
    values = {key: _text(design.get(key)) for key in TEXT_KEYS}
    for key in COLOR_KEYS:
        values[key] = rgb_to_hex(design.get(key)) or NO_COLOR

    style = style_of(design)
    for group, fields in design_fields(design):
        for index, _ in fields:
            entry = design[style][group][index]
            for key in FIELD_KEYS:
                values[f"{group}-{index}-{key}"] = _text(entry.get(key))

    barcode = first_barcode(design)
    if barcode is not None:
        for key in ("format", "message", "altText"):
            values[f"barcode-{key}"] = _text(barcode.get(key))
    return values


def apply_design_edits(
    design: dict[str, Any], values: dict[str, str]
) -> dict[str, Any]:
    """Return a new design with the form's values; raise DesignEditError if invalid.

    A value the form sends back unchanged keeps the design's own value, so a
    number, a placeholder color or a missing key survives a save untouched.
    """
    edited = copy.deepcopy(design)
    before = design_form_values(design)
    errors: list[str] = []

    def changed(name: str) -> str | None:
        value = values.get(name)
        if value is None or value == before.get(name):
            return None
        return value

    for key in TEXT_KEYS:
        value = changed(key)
        if value is not None:
            _set(edited, key, value.strip())
    for key in COLOR_KEYS:
        value = changed(key)
        if value is not None:
            color = hex_to_rgb(value)
            if color is None:
                errors.append(f"{key} must be a color such as #1a2b3c")
            else:
                edited[key] = color

    style = style_of(design)
    for group, fields in design_fields(design):
        for index, key in fields:
            entry = edited[style][group][index]
            prefix = f"{group}-{index}-"
            for name in ("label", "changeMessage"):
                value = changed(prefix + name)
                if value is not None:
                    _set(entry, name, value.strip())
            value = changed(prefix + "value")
            if value is not None:
                entry["value"] = _typed(value.strip(), design[style][group][index])
            value = changed(prefix + "textAlignment")
            if value is not None:
                if value and value not in ALIGNMENTS:
                    errors.append(f"textAlignment of field {key!r} is not an alignment")
                else:
                    _set(entry, "textAlignment", value)

    barcode = first_barcode(edited)
    if barcode is not None:
        value = changed("barcode-format")
        if value is not None:
            if value in BARCODE_FORMATS:
                barcode["format"] = value
            else:
                errors.append("the barcode format is not one Wallet knows")
        value = changed("barcode-message")
        if value is not None:
            barcode["message"] = value
        value = changed("barcode-altText")
        if value is not None:
            _set(barcode, "altText", value)

    if errors:
        raise DesignEditError(errors, edited)
    return edited


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _set(target: dict[str, Any], key: str, value: str) -> None:
    # An emptied optional text leaves the design rather than showing blank.
    if value:
        target[key] = value
    else:
        target.pop(key, None)


def _typed(text: str, entry: dict[str, Any]) -> Any:
    # A field that held a number keeps being a number while the text is one.
    original = entry.get("value")
    if isinstance(original, (int, float)) and not isinstance(original, bool):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    return text
