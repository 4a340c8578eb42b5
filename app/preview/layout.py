"""Turning a pass.json and its images into what a Wallet-like preview draws."""

import base64
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    format_scientific,
)
from PIL import Image

from app.passes.validation import FIELD_GROUPS, RGB, STYLE_IMAGES, STYLES, style_of
from app.preview.barcodes import BarcodeError, barcode_png

# What Wallet shows when a pass names no colors: black text on white.
DEFAULT_FOREGROUND = "rgb(0, 0, 0)"
DEFAULT_BACKGROUND = "rgb(255, 255, 255)"
DEFAULT_LOCALE = Locale("en", "US")
DATE_STYLES = {
    "PKDateStyleShort": "short",
    "PKDateStyleMedium": "medium",
    "PKDateStyleLong": "long",
    "PKDateStyleFull": "full",
}
# Natural alignment is left out: each row of the preview has its own default.
ALIGNMENTS = {
    "PKTextAlignmentLeft": "left",
    "PKTextAlignmentCenter": "center",
    "PKTextAlignmentRight": "right",
}
TRANSIT_ICONS = {
    "PKTransitTypeAir": ("air", "\u2708"),
    "PKTransitTypeBoat": ("boat", "\u26f4"),
    "PKTransitTypeBus": ("bus", "\U0001f68c"),
    "PKTransitTypeTrain": ("train", "\U0001f686"),
    "PKTransitTypeGeneric": ("generic", "\u2192"),
}
# Image files in the order a preview drawn at twice its CSS size wants them.
IMAGE_SCALES = (("@2x", 2), ("@3x", 3), ("", 1))
SMALL_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
# Past a trillion words help no one reading a pass; digits are kept.
SPELL_OUT_LIMIT = 10**12
CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")


@dataclass(frozen=True)
class PassColors:
    foreground: str
    background: str
    label: str


@dataclass(frozen=True)
class PreviewField:
    key: str
    label: str
    value: str
    # A CSS text-align value (left, center, right); None keeps the row's own.
    alignment: str | None = None


@dataclass(frozen=True)
class PreviewBarcode:
    format: str
    text: str
    image: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PreviewImage:
    uri: str
    # Size in CSS pixels, which are Wallet's points: an @2x file shows at half.
    width: int
    height: int


@dataclass(frozen=True)
class TransitIcon:
    name: str
    glyph: str


@dataclass
class PassPreview:
    style: str
    organization_name: str
    description: str
    colors: PassColors
    logo_text: str = ""
    images: dict[str, PreviewImage] = field(default_factory=dict)
    header_fields: list[PreviewField] = field(default_factory=list)
    primary_fields: list[PreviewField] = field(default_factory=list)
    secondary_fields: list[PreviewField] = field(default_factory=list)
    auxiliary_fields: list[PreviewField] = field(default_factory=list)
    back_fields: list[PreviewField] = field(default_factory=list)
    barcode: PreviewBarcode | None = None
    transit: TransitIcon | None = None
    is_voided: bool = False
    is_expired: bool = False


def preview_model(
    pass_json: dict[str, Any],
    images: dict[str, bytes],
    language: str | None = None,
    localizations: dict[str, dict[str, str]] | None = None,
    *,
    now: datetime | None = None,
) -> PassPreview:
    """Return what a preview of the pass shows, front and back.

    Works on drafts too: anything malformed is shown as it is or left out, so a
    preview never fails on a pass the validator would still refuse.
    """
    # A draft with no style, or several, still previews: the first one found.
    style = style_of(pass_json) or next(
        (name for name in STYLES if name in pass_json), "generic"
    )
    structure = pass_json.get(style)
    structure = structure if isinstance(structure, dict) else {}
    strings = _strings_for(language, localizations or {})
    locale = _locale(language)
    groups = {
        group: _fields(structure.get(group), strings, locale) for group in FIELD_GROUPS
    }

    transit = _lookup(TRANSIT_ICONS, structure.get("transitType"))
    return PassPreview(
        style=style,
        organization_name=_text(pass_json.get("organizationName"), strings),
        description=_text(pass_json.get("description"), strings),
        colors=pass_colors(pass_json),
        logo_text=_text(pass_json.get("logoText"), strings),
        images=preview_images(style, images, language),
        header_fields=groups["headerFields"],
        primary_fields=groups["primaryFields"],
        secondary_fields=groups["secondaryFields"],
        auxiliary_fields=groups["auxiliaryFields"],
        back_fields=groups["backFields"],
        barcode=preview_barcode(pass_json, strings),
        transit=TransitIcon(*transit) if style == "boardingPass" and transit else None,
        is_voided=pass_json.get("voided") is True,
        is_expired=_is_past(pass_json.get("expirationDate"), now),
    )


def pass_colors(pass_json: dict[str, Any]) -> PassColors:
    """Return the pass's colors as CSS, with Wallet's defaults for missing ones."""
    foreground = _color(pass_json.get("foregroundColor")) or DEFAULT_FOREGROUND
    background = _color(pass_json.get("backgroundColor")) or DEFAULT_BACKGROUND
    # Without a label color Wallet draws labels in the text color.
    label = _color(pass_json.get("labelColor")) or foreground
    return PassColors(foreground, background, label)


def _color(value: Any) -> str | None:
    match = RGB.match(value) if isinstance(value, str) else None
    if not match or any(int(part) > 255 for part in match.groups()):
        return None
    return "rgb({}, {}, {})".format(*(int(part) for part in match.groups()))


def preview_images(
    style: str, images: dict[str, bytes], language: str | None = None
) -> dict[str, PreviewImage]:
    """Return each image the style shows, from its sharpest readable file."""
    shown = set(STYLE_IMAGES[style])
    # An event ticket with a strip shows neither background nor thumbnail.
    if style == "eventTicket" and _find_image("strip", images, language):
        shown -= {"background", "thumbnail"}
    return {
        name: image
        for name in sorted(shown)
        if (image := _find_image(name, images, language)) is not None
    }


def _find_image(
    name: str, images: dict[str, bytes], language: str | None
) -> PreviewImage | None:
    folders = [f"{language}.lproj/"] if language else []
    for folder in [*folders, ""]:
        for suffix, scale in IMAGE_SCALES:
            content = images.get(f"{folder}{name}{suffix}.png")
            size = _png_size(content) if content else None
            if size:
                width, height = size
                return PreviewImage(
                    data_uri(content), max(1, width // scale), max(1, height // scale)
                )
    return None


def _png_size(content: bytes) -> tuple[int, int] | None:
    # Pillow reads only the header here; a file it cannot read is left out, as
    # Wallet leaves out an image it cannot draw.
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size if image.format == "PNG" else None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def data_uri(png: bytes) -> str:
    """Return a PNG as a data: URI an <img> can show."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def preview_barcode(
    pass_json: dict[str, Any], strings: dict[str, str] | None = None
) -> PreviewBarcode | None:
    """Draw the pass's first barcode, or say why it cannot be drawn."""
    barcodes = pass_json.get("barcodes")
    if isinstance(barcodes, list) and barcodes:
        barcode = barcodes[0]
    else:
        barcode = pass_json.get("barcode")
    if not isinstance(barcode, dict):
        return None
    format = str(barcode.get("format", ""))
    message = barcode.get("message")
    message = message if isinstance(message, str) else ""
    alt_text = _text(barcode.get("altText"), strings or {})
    encoding = barcode.get("messageEncoding")

    try:
        png = barcode_png(
            format, message, encoding if isinstance(encoding, str) else "iso-8859-1"
        )
    except BarcodeError as exc:
        return PreviewBarcode(format, alt_text, error=str(exc))
    return PreviewBarcode(format, alt_text or message, image=data_uri(png))


def _strings_for(
    language: str | None, localizations: dict[str, dict[str, str]]
) -> dict[str, str]:
    if not language:
        return {}
    for candidate in (language, re.split(r"[-_]", language)[0]):
        if isinstance(localizations.get(candidate), dict):
            return localizations[candidate]
    return {}


def _locale(language: str | None) -> Locale:
    if not language:
        return DEFAULT_LOCALE
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE


def _text(value: Any, strings: dict[str, str]) -> str:
    if value is None:
        return ""
    text = str(value)
    return strings.get(text, text)


def _lookup(table: dict[str, Any], key: Any) -> Any:
    # A draft may hold a list or an object where a name belongs.
    return table.get(key) if isinstance(key, str) else None


def _fields(
    entries: Any, strings: dict[str, str], locale: Locale
) -> list[PreviewField]:
    if not isinstance(entries, list):
        return []
    return [
        PreviewField(
            key=str(entry.get("key", "")),
            label=_text(entry.get("label"), strings),
            value=format_value(entry, strings, locale),
            alignment=_lookup(ALIGNMENTS, entry.get("textAlignment")),
        )
        for entry in entries
        if isinstance(entry, dict)
    ]


def format_value(
    entry: dict[str, Any],
    strings: dict[str, str] | None = None,
    locale: Locale = DEFAULT_LOCALE,
) -> str:
    """Return a field's value as Wallet shows it: styled dates and numbers."""
    value = entry.get("value")
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return _format_number(value, entry, locale)
    text = str(value)
    if "dateStyle" in entry or "timeStyle" in entry:
        moment = _parse_date(text)
        formatted = _format_date(moment, entry, locale) if moment else ""
        if formatted:
            return formatted
    return (strings or {}).get(text, text)


def _format_number(value: float, entry: dict[str, Any], locale: Locale) -> str:
    currency = entry.get("currencyCode")
    style = entry.get("numberStyle")
    try:
        if isinstance(currency, str) and CURRENCY_CODE.match(currency):
            return format_currency(value, currency.upper(), locale=locale)
        if currency:
            return f"{value} {currency}"
        if style == "PKNumberStylePercent":
            return format_percent(value, locale=locale)
        if style == "PKNumberStyleScientific":
            return format_scientific(value, locale=locale)
        if style == "PKNumberStyleSpellOut" and locale.language == "en":
            return spell_out(value)
        if style in ("PKNumberStyleDecimal", "PKNumberStyleSpellOut"):
            return format_decimal(value, locale=locale)
    except (ArithmeticError, ValueError):
        # Babel's decimals overflow on numbers JSON allows, like 1e400.
        pass
    return str(value)


def spell_out(number: float) -> str:
    """Return a whole number in English words; other numbers keep their digits."""
    if isinstance(number, float) and not number.is_integer():
        return str(number)
    if abs(number) >= SPELL_OUT_LIMIT:
        return str(number)
    number = int(number)
    if number < 0:
        return "minus " + spell_out(-number)
    if number < 20:
        return SMALL_NUMBERS[number]
    if number < 100:
        tens, rest = divmod(number, 10)
        return TENS[tens - 2] + (f"-{SMALL_NUMBERS[rest]}" if rest else "")
    size, name = next((size, name) for size, name in SCALES if number >= size)
    count, rest = divmod(number, size)
    words = f"{spell_out(count)} {name}"
    return f"{words} {spell_out(rest)}" if rest else words


def _parse_date(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _format_date(moment: datetime, entry: dict[str, Any], locale: Locale) -> str:
    # Wallet turns dates into the phone's time zone; a server does not know the
    # viewer's, so the preview keeps the zone the pass wrote.
    date_style = _lookup(DATE_STYLES, entry.get("dateStyle"))
    time_style = _lookup(DATE_STYLES, entry.get("timeStyle"))
    date = format_date(moment, date_style, locale=locale) if date_style else ""
    time = format_time(moment, time_style, locale=locale) if time_style else ""
    if date and time:
        pattern = str(locale.datetime_formats.get(date_style, "{1} {0}"))
        return pattern.replace("{1}", date).replace("{0}", time)
    return date or time


def _is_past(value: Any, now: datetime | None) -> bool:
    moment = _parse_date(value) if isinstance(value, str) else None
    return moment is not None and moment <= (now or datetime.now(UTC))
