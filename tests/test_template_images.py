"""Making Wallet's @1x/@2x/@3x PNG files from one uploaded picture."""

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from app.passes.images import (
    MAX_UPLOAD_BYTES,
    ImageUploadError,
    allowed_roles,
    make_image_files,
)
from tests.conftest import SAMPLES


def _encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _picture(size, mode="RGBA", color=(200, 40, 40, 255), fmt="PNG", **options):
    return _encode(Image.new(mode, size, color), fmt, **options)


def _opened(files: dict[str, bytes]) -> dict[str, Image.Image]:
    opened = {}
    for path, content in files.items():
        image = Image.open(io.BytesIO(content))
        assert image.format == "PNG", path
        opened[path] = image
    return opened


def _sample_file(sample: str, path: str) -> bytes:
    with zipfile.ZipFile(SAMPLES / f"{sample}.pkpass") as archive:
        return archive.read(path)


def _with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    """Return the PNG with its header claiming another size (CRC fixed)."""
    # Signature (8), chunk length (4), "IHDR" (4), then width and height.
    header = png[12:29]
    header = header[:4] + struct.pack(">II", width, height) + header[12:]
    crc = struct.pack(">I", zlib.crc32(header) & 0xFFFFFFFF)
    return png[:12] + header + crc + png[33:]


@pytest.mark.parametrize(
    ("role", "style", "upload", "sizes"),
    [
        ("icon", "generic", (300, 300), [(29, 29), (58, 58), (87, 87)]),
        ("logo", "coupon", (1000, 200), [(160, 32), (320, 64), (480, 96)]),
        ("logo", "generic", (600, 600), [(50, 50), (100, 100), (150, 150)]),
        ("strip", "eventTicket", (1125, 294), [(375, 98), (750, 196), (1125, 294)]),
        ("strip", "coupon", (2250, 864), [(375, 144), (750, 288), (1125, 432)]),
        ("strip", "storeCard", (1125, 369), [(375, 123), (750, 246), (1125, 369)]),
        ("thumbnail", "eventTicket", (300, 400), [(68, 90), (135, 180), (203, 270)]),
        ("background", "eventTicket", (540, 660), [(180, 220), (360, 440), (540, 660)]),
        ("footer", "boardingPass", (858, 45), [(286, 15), (572, 30), (858, 45)]),
    ],
)
def test_each_role_gets_three_pngs_of_apples_sizes(role, style, upload, sizes):
    files = make_image_files(_picture(upload), role, style)

    assert list(files) == [f"{role}.png", f"{role}@2x.png", f"{role}@3x.png"]
    assert [image.size for image in _opened(files).values()] == sizes


def test_transparency_is_kept():
    picture = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    picture.paste((20, 120, 220, 255), (75, 75, 225, 225))

    opened = _opened(make_image_files(_encode(picture), "icon", "generic"))

    for image in opened.values():
        assert image.mode == "RGBA"
        width, height = image.size
        assert image.getpixel((0, 0))[3] == 0
        assert image.getpixel((width // 2, height // 2)) == (20, 120, 220, 255)


def test_an_opaque_jpeg_becomes_an_rgb_png():
    jpeg = _picture((400, 400), "RGB", (10, 200, 10), "JPEG", quality=95)

    opened = _opened(make_image_files(jpeg, "icon", "generic"))

    image = opened["icon@3x.png"]
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((40, 40))
    assert red < 30 and green > 180 and blue < 30


def test_apples_thumbnail_is_scaled_to_fit_and_loses_its_metadata():
    # Apple's sample carries a colour profile and physical size; neither goes on.
    sample = _sample_file("Generic", "thumbnail@2x.png")
    with Image.open(io.BytesIO(sample)) as original:
        assert original.size == (388, 429)
        assert "icc_profile" in original.info

    opened = _opened(make_image_files(sample, "thumbnail", "generic"))

    sizes = {path: image.size for path, image in opened.items()}
    assert sizes == {
        "thumbnail.png": (81, 90),
        "thumbnail@2x.png": (163, 180),
        "thumbnail@3x.png": (244, 270),
    }
    for image in opened.values():
        assert image.mode == "RGBA"
        assert not set(image.info) & {"icc_profile", "dpi", "exif", "xmp"}
        assert not getattr(image, "text", {})


def test_photo_orientation_is_applied():
    # A phone's JPEG: stored landscape, EXIF says turn it a quarter (6).
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = _picture((600, 150), "RGB", (0, 0, 200), "JPEG", exif=exif.tobytes())

    opened = _opened(make_image_files(jpeg, "logo", "generic"))

    # Upright it is 150x600: 50 points tall fits, 12.5 points wide.
    assert opened["logo@3x.png"].size == (38, 150)


def test_a_fill_image_close_to_its_box_is_cropped_around_its_centre():
    picture = Image.new("RGB", (1200, 330), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 1200, 8))  # a band cut off by the crop

    opened = _opened(make_image_files(_encode(picture), "strip", "eventTicket"))

    image = opened["strip@3x.png"]
    assert image.size == (1125, 294)
    assert image.getpixel((500, 0)) == (0, 0, 255)


def test_palette_cmyk_and_16_bit_images_are_converted():
    gif = _encode(Image.new("P", (300, 300), 3), "GIF", transparency=3)
    cmyk = _picture((300, 300), "CMYK", (0, 255, 255, 0), "JPEG", quality=95)
    grey = _picture((300, 300), "I;16", 40000)

    from_gif = _opened(make_image_files(gif, "icon", "generic"))["icon@3x.png"]
    from_cmyk = _opened(make_image_files(cmyk, "icon", "generic"))["icon@3x.png"]
    from_grey = _opened(make_image_files(grey, "icon", "generic"))["icon@3x.png"]

    assert (from_gif.mode, from_gif.getpixel((9, 9))[3]) == ("RGBA", 0)
    assert from_cmyk.mode == "RGB"
    red, green, blue = from_cmyk.getpixel((9, 9))
    assert red > 230 and green < 30 and blue < 30
    # 40000 of 65535 is 61% grey, not clipped to white.
    assert from_grey.getpixel((9, 9)) == (155, 155, 155)


@pytest.mark.parametrize(
    ("content", "role", "style", "message"),
    [
        (
            b"Not a picture at all, just text saved as logo.png\n",
            "logo",
            "generic",
            "That file is not an image Passline can read: upload a PNG, JPEG, WebP, "
            "GIF, BMP or TIFF file.",
        ),
        (
            # Pillow would hand EPS to Ghostscript; it is refused unread.
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 300 300\nshowpage\n",
            "icon",
            "generic",
            "That file is not an image Passline can read",
        ),
        (
            _picture((300, 300))[:300],
            "icon",
            "generic",
            "That image file is damaged or incomplete; export it again and upload "
            "the new file.",
        ),
        (
            _sample_file("Generic", "icon@2x.png"),
            "icon",
            "generic",
            "An icon needs at least 87x87 pixels (29x29 points at @3x); this image "
            "is 58x58 pixels.",
        ),
        (
            _sample_file("StoreCard", "strip@2x.png"),
            "strip",
            "storeCard",
            "A strip needs at least 1125x369 pixels (375x123 points at @3x); this "
            "image is 624x245 pixels.",
        ),
        (
            _picture((400, 140)),
            "logo",
            "generic",
            "A logo needs at least 480 pixels of width or 150 of height (160x50 "
            "points at @3x); this image is 400x140 pixels.",
        ),
        (
            _picture((1125, 1125)),
            "strip",
            "generic",
            "A generic pass cannot show a strip image; its style shows icon, logo "
            "and thumbnail.",
        ),
        (
            _picture((900, 45)),
            "footer",
            "eventTicket",
            "An eventTicket pass cannot show a footer image; its style shows icon, "
            "logo, strip, thumbnail and background.",
        ),
        (
            _picture((300, 900)),
            "thumbnail",
            "generic",
            "A thumbnail must be between 2:3 and 3:2 in proportions (Wallet crops "
            "anything else); this image is 300x900 pixels.",
        ),
        (
            _picture((400, 200)),
            "icon",
            "generic",
            "An icon is 29x29 points, about 1.00:1; this 400x200 image would lose "
            "50% of its width. Crop it to 87x87 pixels or larger in those "
            "proportions.",
        ),
        (
            _with_ihdr_size(_picture((300, 300)), 8001, 300),
            "icon",
            "generic",
            "That image is 8001x300 pixels; images up to 8000 pixels on a side and "
            "40 megapixels are accepted. Scale it down first.",
        ),
        (
            # Past Pillow's own limit: refused as a bomb when the header is read.
            _with_ihdr_size(_picture((300, 300)), 60000, 60000),
            "icon",
            "generic",
            "That image claims more pixels than any pass image needs",
        ),
        (
            b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES,
            "icon",
            "generic",
            "That file is too large: images up to 10 MB are accepted.",
        ),
    ],
    ids=[
        "text-renamed-png",
        "eps",
        "truncated-png",
        "apple-icon-too-small",
        "apple-strip-too-small",
        "logo-too-small",
        "strip-on-generic",
        "footer-on-event-ticket",
        "thumbnail-too-tall",
        "icon-not-square",
        "too-wide",
        "decompression-bomb",
        "too-many-bytes",
    ],
)
def test_bad_uploads_are_refused_with_their_reason(content, role, style, message):
    with pytest.raises(ImageUploadError) as caught:
        make_image_files(content, role, style)

    assert str(caught.value).startswith(message)


def test_roles_follow_the_style():
    assert allowed_roles("generic") == ["icon", "logo", "thumbnail"]
    assert allowed_roles("boardingPass") == ["icon", "logo", "footer"]
    assert allowed_roles("eventTicket") == [
        "icon",
        "logo",
        "strip",
        "thumbnail",
        "background",
    ]
