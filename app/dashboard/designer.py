"""The template designer: a design's editable parts as form values and back.

The form names each part after where it lives in pass.json: `organizationName`,
`secondaryFields-0-label`, `location-1-latitude`, `string-3-value`. Each list
(a field group, the locations, the localized strings) is shown with one blank
row more than it has; filling that row adds an entry, ticking a row's `remove`
drops it.
"""

import copy
import re
from datetime import datetime
from typing import Any

from app.passes.bundle import PLACEHOLDER
from app.passes.importer import upgrade_date
from app.passes.validation import (
    BARCODE_FORMATS as KNOWN_BARCODE_FORMATS,
)
from app.passes.validation import (
    DATE_TIME,
    STYLES,
    TRANSIT_TYPES,
    calendar_problem,
)

FIELD_GROUPS = (
    "headerFields",
    "primaryFields",
    "secondaryFields",
    "auxiliaryFields",
    "backFields",
)
GROUP_NAMES = {
    "headerFields": "Header fields (beside the logo)",
    "primaryFields": "Primary fields",
    "secondaryFields": "Secondary fields",
    "auxiliaryFields": "Auxiliary fields",
    "backFields": "Back of the pass",
}
# The names the form gives the parts of pass.json, for the messages it shows.
LABELS = {
    "organizationName": "Organization name",
    "description": "Description",
    "logoText": "Logo text",
    "foregroundColor": "Text color",
    "backgroundColor": "Background color",
    "labelColor": "Label color",
    "relevantDate": "Relevant date",
    "expirationDate": "Expiration date",
    "transitType": "Transit type",
    "headerFields": "Header fields",
    "primaryFields": "Primary fields",
    "secondaryFields": "Secondary fields",
    "auxiliaryFields": "Auxiliary fields",
    "backFields": "Back of the pass",
}
STYLE_LABELS = {
    "boardingPass": "Boarding pass",
    "coupon": "Coupon",
    "eventTicket": "Event ticket",
    "generic": "Generic",
    "storeCard": "Store card",
}
# Prefixes of Wallet's constants that say nothing in a select's option.
OPTION_PREFIXES = (
    "PKBarcodeFormat",
    "PKDateStyle",
    "PKTextAlignment",
    "PKNumberStyle",
    "PKTransitType",
)
# Wallet reads a barcode message in the encoding the pass names; ISO-8859-1
# holds Western European text only, UTF-8 holds everything.
MESSAGE_ENCODINGS = ("iso-8859-1", "utf-8")
TEXT_KEYS = ("organizationName", "description", "logoText")
COLOR_KEYS = ("foregroundColor", "backgroundColor", "labelColor")
DATE_KEYS = ("relevantDate", "expirationDate")
FIELD_TEXTS = ("key", "label", "value", "changeMessage", "currencyCode")
FIELD_CHOICES = ("textAlignment", "dateStyle", "timeStyle", "numberStyle")
FIELD_PARTS = FIELD_TEXTS + FIELD_CHOICES
LOCATION_PARTS = ("latitude", "longitude", "relevantText")
STRING_PARTS = ("lang", "key", "value")
ALIGNMENTS = (
    "PKTextAlignmentLeft",
    "PKTextAlignmentCenter",
    "PKTextAlignmentRight",
    "PKTextAlignmentNatural",
)
DATE_STYLES = (
    "PKDateStyleNone",
    "PKDateStyleShort",
    "PKDateStyleMedium",
    "PKDateStyleLong",
    "PKDateStyleFull",
)
NUMBER_STYLES = (
    "PKNumberStyleDecimal",
    "PKNumberStylePercent",
    "PKNumberStyleScientific",
    "PKNumberStyleSpellOut",
)
CHOICES = {
    "textAlignment": ALIGNMENTS,
    "dateStyle": DATE_STYLES,
    "timeStyle": DATE_STYLES,
    "numberStyle": NUMBER_STYLES,
}
BARCODE_FORMATS = tuple(sorted(KNOWN_BARCODE_FORMATS))
TRANSIT_CHOICES = tuple(sorted(TRANSIT_TYPES))
DEFAULT_TRANSIT = "PKTransitTypeGeneric"
MAX_LOCATIONS = 10
RGB = re.compile(r"\s*rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)\s*")
HEX = re.compile(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
ROW_NAME = re.compile(r"(?P<list>[A-Za-z]+)-(?P<index>\d{1,4})-(?P<part>[A-Za-z]+)")
# What an <input type=color> shows for a design without that color.
NO_COLOR = "#000000"
# A pass.json key in a validation message, but not a field's own key ('seat').
KEY_WORD = re.compile(r"(?<!')\b(" + "|".join(LABELS) + r")\b(?!')")
STYLE_IMAGE = re.compile(r"^a (?P<style>\w+) pass cannot show a (?P<image>\w+) image$")


class DesignEditError(ValueError):
    """Edits that cannot go into a design; `design` and `strings` hold the rest."""

    def __init__(
        self,
        errors: list[str],
        design: dict[str, Any],
        strings: dict[str, dict[str, str]] | None = None,
        fields: dict[str, str] | None = None,
    ):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.design = design
        self.strings = strings
        # Form name → message, for the errors that belong to one input.
        self.fields = fields or {}


def option_label(option: str) -> str:
    """Return a select option's text: "PDF417" for PKBarcodeFormatPDF417."""
    for prefix in OPTION_PREFIXES:
        if option.startswith(prefix):
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", option[len(prefix) :])
            return words[:1] + words[1:].lower() if " " in words else words
    return STYLE_LABELS.get(option, option)


def encoding_choices(current: str) -> tuple[str, ...]:
    """Return the message encodings to offer, the design's own one included."""
    if current and current not in MESSAGE_ENCODINGS:
        return (*MESSAGE_ENCODINGS, current)
    return MESSAGE_ENCODINGS


def form_error(message: str) -> tuple[str | None, str]:
    """Return the input a validation message is about and the message in its words.

    Validation speaks pass.json ("foregroundColor must ..."); the designer
    names the parts as its form labels them ("Text color must ...").
    """
    first = message.split(" ", 1)[0]
    name = first if first in TEXT_KEYS + COLOR_KEYS + DATE_KEYS else None
    if "needs a transitType" in message:
        name = "transitType"
    return name, KEY_WORD.sub(_label, message)


def _label(match: re.Match) -> str:
    label = LABELS[match[1]]
    return f"“{label}”" if match[1] in FIELD_GROUPS else label


def style_image_error(messages: list[str]) -> tuple[str, list[str]] | None:
    """Return the style and images of the "cannot show a ... image" messages."""
    found = [match for m in messages if (match := STYLE_IMAGE.match(m))]
    if not found:
        return None
    return found[0]["style"], sorted({match["image"] for match in found})


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
    """Return every field group with the (index, key) of its fields.

    Each group also lists the index of its blank row, with an empty key.
    """
    structure = _structure(design)
    groups = []
    for group in FIELD_GROUPS:
        entries = _entries(structure, group)
        fields = [
            (index, str(entry.get("key", index)))
            for index, entry in enumerate(entries)
            if isinstance(entry, dict)
        ]
        groups.append((group, [*fields, (len(entries), "")]))
    return groups


def design_locations(design: dict[str, Any]) -> list[int]:
    """Return the row indices of the locations, the blank one included."""
    locations = design.get("locations")
    count = len(locations) if isinstance(locations, list) else 0
    return list(range(count + (1 if count < MAX_LOCATIONS else 0)))


def string_rows(strings: dict[str, dict[str, str]]) -> list[tuple[str, str, str]]:
    """Return the localized strings as (language, key, text), sorted."""
    return [
        (language, key, str(text))
        for language in sorted(strings)
        if isinstance(strings[language], dict)
        for key, text in sorted(strings[language].items())
    ]


def first_barcode(design: dict[str, Any]) -> dict[str, Any] | None:
    """Return the design's first barcode entry, if it has one."""
    barcodes = design.get("barcodes")
    if isinstance(barcodes, list) and barcodes and isinstance(barcodes[0], dict):
        return barcodes[0]
    return None


def design_form_values(
    design: dict[str, Any], strings: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    """Return the designer form's value of each editable part of the design."""
    values = {key: _text(design.get(key)) for key in TEXT_KEYS + DATE_KEYS}
    for key in COLOR_KEYS:
        values[key] = rgb_to_hex(design.get(key)) or NO_COLOR
    values["style"] = style_of(design) or ""
    values["transitType"] = _text(_structure(design).get("transitType"))

    structure = _structure(design)
    for group in FIELD_GROUPS:
        for index, entry in enumerate(_entries(structure, group)):
            if isinstance(entry, dict):
                for part in FIELD_PARTS:
                    values[f"{group}-{index}-{part}"] = _text(entry.get(part))

    locations = design.get("locations")
    for index, entry in enumerate(locations if isinstance(locations, list) else []):
        if isinstance(entry, dict):
            for part in LOCATION_PARTS:
                values[f"location-{index}-{part}"] = _text(entry.get(part))

    barcode = first_barcode(design)
    for part in ("format", "message", "altText", "messageEncoding"):
        values[f"barcode-{part}"] = _text(barcode.get(part)) if barcode else ""

    for index, row in enumerate(string_rows(strings or {})):
        for part, text in zip(STRING_PARTS, row, strict=True):
            values[f"string-{index}-{part}"] = text
    return values


def apply_design_edits(
    design: dict[str, Any], values: dict[str, str]
) -> dict[str, Any]:
    """Return a new design with the form's values; raise DesignEditError if invalid.

    A value the form sends back unchanged keeps the design's own value, so a
    number, a placeholder color or a missing key survives a save untouched,
    and a part the form does not send at all is left as it is.
    """
    edits = _Edits(design, values)
    edited = copy.deepcopy(design)
    edits.texts(edited)
    edits.style(edited)
    edits.fields(edited)
    edits.locations(edited)
    edits.barcode(edited)
    if edits.errors:
        raise DesignEditError(edits.errors, edited, fields=edits.by_input)
    return edited


def apply_string_edits(
    strings: dict[str, dict[str, str]], values: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Return the localized strings the form's rows give; raise DesignEditError.

    A form without any string row leaves the strings as they are.
    """
    rows = _rows(values, "string")
    if not rows:
        return copy.deepcopy(strings)
    result: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    fields: dict[str, str] = {}
    for index in sorted(rows):
        row = rows[index]
        if row.get("remove"):
            continue
        language, key, text = (row.get(part, "").strip() for part in STRING_PARTS)
        if not (language or key or text):
            continue
        if not LANGUAGE.fullmatch(language):
            message = f"{language or '(empty)'} is not a language code such as en"
            fields[f"string-{index}-lang"] = message
        elif not key:
            message = f"a {language} string needs the key the design uses"
            fields[f"string-{index}-key"] = message
        else:
            result.setdefault(language, {})[key] = row.get("value", "")
            continue
        errors.append(message)
    if errors:
        raise DesignEditError(errors, {}, result, fields)
    return result


class _Edits:
    """One designer form applied to a copy of a design, collecting its errors."""

    def __init__(self, design: dict[str, Any], values: dict[str, str]):
        self.design = design
        self.values = values
        self.before = design_form_values(design)
        self.errors: list[str] = []
        self.by_input: dict[str, str] = {}

    def fail(self, name: str | None, message: str) -> None:
        """Record an error, next to the input `name` when there is one."""
        self.errors.append(message)
        if name is not None:
            self.by_input.setdefault(name, message)

    def changed(self, name: str) -> str | None:
        """Return the form's value of a part if it differs from the design's."""
        value = self.values.get(name)
        if value is None or value == self.before.get(name):
            return None
        return value

    def texts(self, edited: dict[str, Any]) -> None:
        for key in TEXT_KEYS:
            value = self.changed(key)
            if value is not None:
                _set(edited, key, value.strip())
        for key in COLOR_KEYS:
            value = self.changed(key)
            if value is not None:
                color = hex_to_rgb(value)
                if color is None:
                    self.fail(key, f"{LABELS[key]} must be a color such as #1a2b3c")
                else:
                    edited[key] = color
        for key in DATE_KEYS:
            value = self.changed(key)
            if value is not None:
                date = self.date(value.strip(), LABELS[key], key)
                if date is not None:
                    _set(edited, key, date)
        self.date_order(edited)

    def date(self, text: str, what: str, name: str) -> str | None:
        """Return a W3C date-time or placeholder for the text, or record why not."""
        if not text or PLACEHOLDER.fullmatch(text):
            return text
        upgraded = upgrade_date(text)
        if DATE_TIME.match(upgraded):
            problem = calendar_problem(upgraded)
            if problem is None:
                return upgraded
            self.fail(name, f"{what} {text} is not a real date and time: {problem}")
            return None
        self.fail(
            name,
            f"{what} must be a date and time with its offset from UTC, "
            "like 2026-12-24T19:30+01:00, or a {{placeholder}}",
        )
        return None

    def date_order(self, edited: dict[str, Any]) -> None:
        """Refuse an expiration before the relevant date, both being dates."""
        moments = []
        for key in ("relevantDate", "expirationDate"):
            value = edited.get(key)
            if not isinstance(value, str) or not DATE_TIME.match(value):
                return
            if calendar_problem(value) is not None:
                return
            moments.append(datetime.fromisoformat(value))
        if moments[1] < moments[0]:
            self.fail(
                "expirationDate",
                f"Expiration date {edited['expirationDate']} is earlier than "
                f"Relevant date {edited['relevantDate']}: the pass would expire "
                "before it is relevant",
            )

    def style(self, edited: dict[str, Any]) -> None:
        old = style_of(self.design)
        new = self.changed("style")
        if new is not None and old is not None:
            if new not in STYLES:
                self.fail("style", f"{new} is not a pass style")
            else:
                edited[new] = edited.pop(old)
        style = style_of(edited)
        if style is None:
            return
        structure = edited[style]
        if style != "boardingPass":
            structure.pop("transitType", None)
            return
        transit = self.values.get("transitType") or structure.get("transitType")
        if transit not in TRANSIT_TYPES:
            if self.values.get("transitType"):
                self.fail("transitType", f"{transit} is not a transit type")
            transit = structure.get("transitType") or DEFAULT_TRANSIT
        structure["transitType"] = transit

    def fields(self, edited: dict[str, Any]) -> None:
        style = style_of(edited)
        if style is None:
            return
        structure = edited[style]
        for group in FIELD_GROUPS:
            rows = _rows(self.values, group)
            if not rows:
                continue
            originals = _entries(_structure(self.design), group)
            entries = []
            for index in sorted(set(range(len(originals))) | set(rows)):
                row = rows.get(index)
                if index < len(originals):
                    entry = self.existing_field(group, index, originals[index], row)
                else:
                    entry = self.new_field(f"{group}-{index}-", row or {})
                if entry is not None:
                    entries.append(entry)
            if entries:
                structure[group] = entries
            else:
                structure.pop(group, None)
        self.unique_keys(structure)

    def existing_field(
        self, group: str, index: int, original: Any, row: dict[str, str] | None
    ) -> Any:
        if row is None or not isinstance(original, dict):
            return original
        if row.get("remove"):
            return None
        entry = copy.deepcopy(original)
        prefix = f"{group}-{index}-"
        edited = {
            part: value
            for part in FIELD_PARTS
            if (value := self.changed(prefix + part)) is not None
        }
        self.fill_field(prefix, entry, edited, original)
        return entry

    def new_field(self, prefix: str, row: dict[str, str]) -> dict[str, Any] | None:
        if row.get("remove") or not any(
            row.get(part, "").strip() for part in ("key", "label", "value")
        ):
            return None
        entry: dict[str, Any] = {}
        self.fill_field(prefix, entry, {p: row[p] for p in FIELD_PARTS if p in row}, {})
        if not entry.get("key"):
            self.fail(prefix + "key", "a new field needs a key, such as seat or gate")
        entry.setdefault("value", "")
        return entry

    def fill_field(
        self,
        prefix: str,
        entry: dict[str, Any],
        edited: dict[str, str],
        original: dict[str, Any],
    ) -> None:
        """Set the edited parts of one field, checking each choice."""
        name = edited.get("key", "").strip() or entry.get("key") or "new field"
        for part in ("key", "label", "changeMessage"):
            if part in edited:
                _set(entry, part, edited[part].strip())
        for part, choices in CHOICES.items():
            value = edited.get(part)
            if value is None:
                continue
            if value and value not in choices:
                self.fail(
                    prefix + part, f"{part} of field {name!r} is not one Wallet knows"
                )
            else:
                _set(entry, part, value)
        if "currencyCode" in edited:
            code = edited["currencyCode"].strip().upper()
            if code and not CURRENCY_CODE.fullmatch(code):
                self.fail(
                    prefix + "currencyCode",
                    f"currency of field {name!r} must be a code such as EUR or USD",
                )
            else:
                _set(entry, "currencyCode", code)
        if "value" in edited:
            entry["value"] = self.field_value(
                prefix, edited["value"].strip(), entry, original
            )
        elif ("dateStyle" in entry or "timeStyle" in entry) and "value" in entry:
            what = f"the value of field {name!r}"
            date = self.date(str(entry["value"]), what, prefix + "value")
            if date is not None:
                entry["value"] = date

    def field_value(
        self, prefix: str, text: str, entry: dict[str, Any], original: dict[str, Any]
    ) -> Any:
        """Type a field's text: a date for a dated field, a number if it was one."""
        if "dateStyle" in entry or "timeStyle" in entry:
            what = f"the value of field {entry.get('key')!r}"
            date = self.date(text, what, prefix + "value")
            return text if date is None else date
        was_number = isinstance(original.get("value"), int | float) and not isinstance(
            original.get("value"), bool
        )
        if was_number or "numberStyle" in entry or "currencyCode" in entry:
            try:
                number = float(text)
            except ValueError:
                return text
            return int(number) if number.is_integer() else number
        return text

    def unique_keys(self, structure: dict[str, Any]) -> None:
        seen: set[str] = set()
        for group in FIELD_GROUPS:
            for entry in _entries(structure, group):
                key = entry.get("key") if isinstance(entry, dict) else None
                if key and key in seen:
                    self.fail(
                        None,
                        f"field key {key!r} is used twice; each field needs its own",
                    )
                seen.add(key)

    def locations(self, edited: dict[str, Any]) -> None:
        rows = _rows(self.values, "location")
        if not rows:
            return
        originals = self.design.get("locations")
        originals = originals if isinstance(originals, list) else []
        locations = []
        for index in sorted(set(range(len(originals))) | set(rows)):
            original = originals[index] if index < len(originals) else {}
            row = rows.get(index)
            if row is None or (
                index < len(originals)
                and not row.get("remove")
                and all(
                    self.changed(f"location-{index}-{part}") is None
                    for part in LOCATION_PARTS
                )
            ):
                locations.append(original)
                continue
            if row.get("remove") or not any(
                row.get(part, "").strip() for part in LOCATION_PARTS
            ):
                continue
            entry = dict(original) if isinstance(original, dict) else {}
            for part, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
                number = _number(row.get(part, ""))
                if number is None or not low <= number <= high:
                    self.fail(
                        f"location-{index}-{part}",
                        f"a location needs a {part} between {low} and {high}",
                    )
                else:
                    entry[part] = number
            _set(entry, "relevantText", row.get("relevantText", "").strip())
            locations.append(entry)
        if len(locations) > MAX_LOCATIONS:
            self.fail(None, f"a pass holds at most {MAX_LOCATIONS} locations")
        if locations:
            edited["locations"] = locations
        else:
            edited.pop("locations", None)

    def barcode(self, edited: dict[str, Any]) -> None:
        value = self.changed("barcode-format")
        barcode = first_barcode(edited)
        if barcode is None:
            if not value:
                return
            # The design had no barcode: choosing a format adds one.
            barcode = {"messageEncoding": "iso-8859-1", "message": ""}
            edited["barcodes"] = [barcode]
        if value is not None:
            if value in BARCODE_FORMATS:
                barcode["format"] = value
            elif value:
                self.fail(
                    "barcode-format", "the barcode format is not one Wallet knows"
                )
            else:
                edited.pop("barcodes", None)
                return
        value = self.changed("barcode-message")
        if value is not None:
            barcode["message"] = value
        value = self.changed("barcode-altText")
        if value is not None:
            _set(barcode, "altText", value)
        value = self.changed("barcode-messageEncoding")
        if value:
            if value in MESSAGE_ENCODINGS:
                barcode["messageEncoding"] = value
            else:
                self.fail(
                    "barcode-messageEncoding",
                    "the barcode's encoding must be iso-8859-1 or utf-8",
                )


def _structure(design: dict[str, Any]) -> dict[str, Any]:
    style = style_of(design)
    return design[style] if style else {}


def _entries(structure: dict[str, Any], group: str) -> list[Any]:
    entries = structure.get(group)
    return entries if isinstance(entries, list) else []


def _rows(values: dict[str, str], name: str) -> dict[int, dict[str, str]]:
    """Return the form's rows of one list, by index: {0: {"label": ...}}."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in values.items():
        match = ROW_NAME.fullmatch(key)
        if match and match["list"] == name:
            rows.setdefault(int(match["index"]), {})[match["part"]] = value
    return rows


def _number(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _set(target: dict[str, Any], key: str, value: str) -> None:
    # An emptied optional text leaves the design rather than showing blank.
    if value:
        target[key] = value
    else:
        target.pop(key, None)
