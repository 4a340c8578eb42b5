"""Drawing a pass's barcode as a PNG, the way Wallet would print it."""

import io
from typing import Any

import pdf417gen
import segno
from aztec_code_generator import AztecCode
from barcode import Code128
from barcode.errors import BarcodeError as Code128Error
from pdf417gen.rendering import barcode_size
from PIL import Image, ImageDraw

QR = "PKBarcodeFormatQR"
PDF417 = "PKBarcodeFormatPDF417"
AZTEC = "PKBarcodeFormatAztec"
CODE128 = "PKBarcodeFormatCode128"
FORMAT_NAMES = {
    QR: "a QR code",
    PDF417: "a PDF417 code",
    AZTEC: "an Aztec code",
    CODE128: "a Code 128 barcode",
}
# PDF417 data column counts to try; the one whose code comes closest to the
# wide shape Wallet shows wins. A short message needs few columns to reach the
# format's three rows, a long one many to stay within 90.
PDF417_COLUMNS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
PDF417_ASPECT = 3.5
# Past this a Code 128 is wider than a pass can show and still be scanned; the
# format itself has no limit, so without one a message could ask for any width.
CODE128_MAX_CHARACTERS = 80
# Pixels per module. Each image keeps the quiet zone its format needs, so it
# scans (and decodes in tests) without the white box the page draws around it.
MODULE = 4
CODE128_HEIGHT = 60


class BarcodeError(ValueError):
    """A barcode that cannot be drawn; the message says why, for the merchant."""


def barcode_png(format: str, message: str, encoding: str = "iso-8859-1") -> bytes:
    """Return a PNG of the message encoded in a Wallet barcode format.

    Raises BarcodeError when the format is unknown, the encoding cannot hold the
    message, or the message is too long for the format.
    """
    data = check_barcode(format, message, encoding)
    if format == QR:
        return _qr(data)
    if format == PDF417:
        image = _pdf417(data)
    elif format == AZTEC:
        image = _aztec(data)
    else:
        image = _code128(message)
    return _png(image)


def check_barcode(format: str, message: str, encoding: str = "iso-8859-1") -> bytes:
    """Return the message's bytes if the format can hold it, without drawing.

    Raises BarcodeError as barcode_png does; issuing calls this for every pass,
    so it builds each format's symbol but never an image.
    """
    if format not in FORMAT_NAMES:
        raise BarcodeError(f"{format!r} is not a barcode format Wallet knows.")
    if not message:
        raise BarcodeError("The barcode has no message to encode.")
    data = encode_message(message, encoding)
    try:
        if format == QR:
            # A fixed mask skips scoring all eight: only the capacity matters.
            segno.make_qr(data, error="m", mask=0)
        elif format == PDF417:
            _pdf417_fits(data)
        elif format == AZTEC:
            _aztec_code(data)
        else:
            _code128_modules(message)
    except BarcodeError:
        raise
    except (ValueError, segno.DataOverflowError) as exc:
        raise BarcodeError(
            f"The message is too long for {FORMAT_NAMES[format]}."
        ) from exc
    return data


def encode_message(message: str, encoding: str) -> bytes:
    """Return the message's bytes in the pass's messageEncoding."""
    try:
        return message.encode(encoding)
    except LookupError:
        raise BarcodeError(f"{encoding!r} is not a text encoding.") from None
    except UnicodeEncodeError as exc:
        bad = message[exc.start : exc.end]
        raise BarcodeError(
            f"The message has characters {encoding} cannot hold: {bad!r}."
        ) from None
    except UnicodeError:
        # Codecs such as idna refuse whole messages, not single characters.
        raise BarcodeError(f"The message cannot be encoded as {encoding}.") from None


def _qr(data: bytes) -> bytes:
    buffer = io.BytesIO()
    segno.make_qr(data, error="m").save(buffer, kind="png", scale=MODULE, border=4)
    return buffer.getvalue()


def _pdf417(data: bytes) -> Image.Image:
    fits = []
    for columns in PDF417_COLUMNS:
        try:
            fits.append(pdf417gen.encode(data, columns=columns))
        except ValueError:
            continue
    if not fits:
        raise ValueError("no column count fits the message")
    codes = min(fits, key=lambda codes: abs(_pdf417_aspect(codes) - PDF417_ASPECT))
    return pdf417gen.render_image(codes, scale=2, ratio=3, padding=8)


def _pdf417_fits(data: bytes) -> None:
    """Raise ValueError unless some column count holds the data.

    Few columns suit short messages (the format needs three rows at least)
    and many suit long ones, so the counts are tried from the fewest.
    """
    for columns in PDF417_COLUMNS:
        try:
            pdf417gen.encode(data, columns=columns)
        except ValueError:
            continue
        return
    raise ValueError("no column count fits the message")


def _pdf417_aspect(codes: list) -> float:
    width, height = barcode_size(codes)
    return width / (height * 3)


def _aztec(data: bytes) -> Image.Image:
    return _aztec_code(data).image(module_size=MODULE, border=2)


def _aztec_code(data: bytes) -> AztecCode:
    try:
        return AztecCode(data)
    except Exception as exc:
        # The library raises bare Exception, and only for data it cannot fit.
        raise ValueError(str(exc)) from exc


def _code128(message: str) -> Image.Image:
    modules = _code128_modules(message)
    quiet = 10
    scale = 2
    image = Image.new("1", ((len(modules) + 2 * quiet) * scale, CODE128_HEIGHT), 1)
    pen = ImageDraw.Draw(image)
    for index, module in enumerate(modules):
        if module == "1":
            left = (quiet + index) * scale
            pen.rectangle((left, 0, left + scale - 1, CODE128_HEIGHT - 1), fill=0)
    return image


def _code128_modules(message: str) -> str:
    if not message.isascii():
        raise BarcodeError("A Code 128 barcode holds only ASCII characters.")
    if len(message) > CODE128_MAX_CHARACTERS:
        raise BarcodeError(
            f"A Code 128 barcode on a pass holds at most {CODE128_MAX_CHARACTERS} "
            "characters; use a QR or PDF417 code for longer messages."
        )
    try:
        return Code128(message).build()[0]
    except Code128Error as exc:
        raise BarcodeError(
            f"A Code 128 barcode cannot hold that message: {exc}"
        ) from exc


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def barcode_problem(barcode: Any) -> str | None:
    """Say why a pass.json barcode entry cannot be drawn or scanned, or None.

    An empty message, characters its messageEncoding cannot hold, or a
    message too long for the format.
    """
    if not isinstance(barcode, dict):
        return None
    message = barcode.get("message")
    encoding = barcode.get("messageEncoding")
    try:
        check_barcode(
            str(barcode.get("format", "")),
            message if isinstance(message, str) else "",
            encoding if isinstance(encoding, str) else "iso-8859-1",
        )
    except BarcodeError as exc:
        return str(exc)
    return None
