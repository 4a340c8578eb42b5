"""Template images: one upload per image, made into Wallet's @1x, @2x and @3x PNGs.

Sizes are the points Apple allots to each image on the front of a pass, from
Apple's Wallet Developer Guide ("Pass Design and Creation", section "Images Fill
Their Allotted Space"), as summed up in PASSKIT.md §3: icon 29x29, logo up to
160x50, thumbnail 90x90 (aspect ratio between 2:3 and 3:2), background 180x220,
footer 286x15, strip 375x98 on event tickets, 375x144 on coupons (and gift
cards) and 375x123 in all other cases, which for Passline is the store card.
@2x and @3x files are those sizes doubled and tripled, so an upload must carry
at least the @3x pixels; each file is scaled down from it, never up.

Wallet scales every image, keeping its proportions, to fill its space and crops
what sticks out. Passline follows that:

- logo, thumbnail and footer are "fitted": scaled to fit within their box, as
  large as it allows, whatever their proportions (a square logo stays square);
  a thumbnail outside Apple's 2:3 to 3:2 range is refused, as Wallet would crop it.
- icon, strip and background "fill" their box: an upload whose proportions are
  close to the box's is cropped around its centre to fit exactly, the trim Wallet
  would make; one that would lose more than a sixth of its width or height is
  refused with the proportions needed, rather than silently cut in half.
"""

import io
import logging
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Literal

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from app import audit
from app.models import Template, TemplateImage, TemplateUpdate, utcnow
from app.passes import service
from app.passes.validation import STYLE_IMAGES, image_name, style_of

log = logging.getLogger(__name__)

# Formats decoded in-process by Pillow alone; EPS and PostScript would start
# Ghostscript, so they are not among them.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Far above any @3x size (a background is 540x660 pixels); decoding more only
# costs memory, and a small file claiming more is a decompression bomb.
MAX_SIDE = 8000
MAX_PIXELS = 40_000_000
SCALES = (1, 2, 3)
# The largest share of the width or height a "fill" image may lose to cropping.
MAX_CROP = 1 / 6
_DAMAGED = (
    "That image file is damaged or incomplete; export it again and upload the new file."
)
ROLE_TITLES = {
    "icon": "Icon",
    "logo": "Logo",
    "strip": "Strip",
    "thumbnail": "Thumbnail",
    "background": "Background",
    "footer": "Footer",
}


class ImageUploadError(ValueError):
    """An upload that cannot become a template image; the message says why."""


@dataclass(frozen=True)
class ImageSpec:
    """Where Wallet draws an image: its box in points and how the image meets it."""

    role: str
    width: int
    height: int
    fit: Literal["within", "fill"]
    where: str
    # Proportions (width / height) Wallet accepts for a fitted image.
    min_ratio: float | None = None
    max_ratio: float | None = None

    @property
    def min_pixels(self) -> tuple[int, int]:
        """Return the box at @3x, in pixels."""
        return self.width * 3, self.height * 3

    def describe(self) -> str:
        """Return the size to upload, as the dashboard states it."""
        width, height = self.min_pixels
        if self.fit == "fill":
            return (
                f"{self.width}x{self.height} points: upload at least "
                f"{width}x{height} pixels in these proportions"
            )
        return (
            f"up to {self.width}x{self.height} points: upload at least {width} "
            f"pixels wide or {height} pixels tall"
        )


_SPECS = {
    "icon": ImageSpec(
        "icon", 29, 29, "fill", "in notifications and on the lock screen"
    ),
    "logo": ImageSpec("logo", 160, 50, "within", "at the top left of the pass"),
    "thumbnail": ImageSpec(
        "thumbnail", 90, 90, "within", "beside the fields", 2 / 3, 3 / 2
    ),
    "background": ImageSpec(
        "background", 180, 220, "fill", "blurred behind the whole front"
    ),
    "footer": ImageSpec("footer", 286, 15, "within", "just above the barcode"),
}
_STRIP_HEIGHTS = {"eventTicket": 98, "coupon": 144, "storeCard": 123}


def allowed_roles(style: str) -> list[str]:
    """Return the images a style shows that can be uploaded, icon first."""
    allowed = STYLE_IMAGES.get(style, set())
    return [role for role in ROLE_TITLES if role in allowed]


def image_spec(role: str, style: str) -> ImageSpec:
    """Return where a pass of the style draws the image; raise if it draws none."""
    if role not in ROLE_TITLES:
        raise ImageUploadError(f"Wallet has no {role} image.")
    if role not in STYLE_IMAGES.get(style, set()):
        raise ImageUploadError(
            f"{_article(style)} {style} pass cannot show a {role} image; its "
            f"style shows {_word_list(allowed_roles(style))}."
        )
    if role == "strip":
        height = _STRIP_HEIGHTS.get(style, 123)
        return ImageSpec("strip", 375, height, "fill", "behind the primary fields")
    return _SPECS[role]


def make_image_files(content: bytes, role: str, style: str) -> dict[str, bytes]:
    """Return {"logo.png": ..., "logo@2x.png": ..., "logo@3x.png": ...} as PNG bytes.

    Raises ImageUploadError naming what is wrong: not an image, damaged, too
    large, too small for @3x, proportions the image's box cannot take, or an
    image the style does not show.
    """
    spec = image_spec(role, style)
    image = _open(content)
    image = _cropped(image, spec)
    sizes = _output_sizes(image.size, spec)
    files = {}
    for scale, size in zip(SCALES, sizes, strict=True):
        suffix = "" if scale == 1 else f"@{scale}x"
        files[f"{role}{suffix}.png"] = _png(image, size)
    return files


def _open(content: bytes) -> Image.Image:
    """Decode an upload into an RGB or RGBA image in sRGB, upright."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ImageUploadError(
            f"That file is too large: images up to "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB are accepted."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(content), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageUploadError(
            "That image claims more pixels than any pass image needs; "
            "scale it down first."
        ) from error
    except UnidentifiedImageError as error:
        raise ImageUploadError(
            "That file is not an image Passline can read: upload a PNG, JPEG, "
            "WebP, GIF, BMP or TIFF file."
        ) from error
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as error:
        raise ImageUploadError(_DAMAGED) from error

    # Only the header is read so far: refuse a huge image before decoding it.
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageUploadError(
            f"That image is {width}x{height} pixels; images up to "
            f"{MAX_SIDE} pixels on a side and {MAX_PIXELS // 1_000_000} "
            "megapixels are accepted. Scale it down first."
        )
    try:
        image.seek(0)
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as error:
        # Decoders report damage through any of these, "truncated" included.
        raise ImageUploadError(_DAMAGED) from error
    image = ImageOps.exif_transpose(image)
    return _to_srgb(image)


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB, or RGBA when the image has transparency."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 16-bit greys: Pillow's plain conversion would clip them to white.
        image = image.convert("I").point(lambda value: value / 257).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in image.info
    )
    target = "RGBA" if has_alpha else "RGB"
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            mode = "RGBA" if image.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode=mode
            )
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            # A broken profile: read the values as sRGB, as most viewers do.
            log.info("image colour profile unreadable; treated as sRGB")
    if image.mode != target:
        image = image.convert(target)
    # No profile, EXIF, XMP or text goes along into the pass.
    image.info = {}
    return image


def _cropped(image: Image.Image, spec: ImageSpec) -> Image.Image:
    """Check the image's proportions and pixels for its box; crop a "fill" image."""
    width, height = image.size
    ratio = width / height
    need_width, need_height = spec.min_pixels
    article = _article(spec.role)
    if spec.fit == "within":
        low, high = spec.min_ratio, spec.max_ratio
        if (low and ratio < low) or (high and ratio > high):
            raise ImageUploadError(
                f"{article} {spec.role} must be between 2:3 and 3:2 in proportions "
                f"(Wallet crops anything else); this image is {width}x{height} "
                "pixels."
            )
        if width < need_width and height < need_height:
            raise ImageUploadError(
                f"{article} {spec.role} needs at least {need_width} pixels of width "
                f"or {need_height} of height ({spec.width}x{spec.height} points at "
                f"@3x); this image is {width}x{height} pixels."
            )
        return image

    box_ratio = spec.width / spec.height
    if ratio > box_ratio:
        crop_width, crop_height = round(height * box_ratio), height
    else:
        crop_width, crop_height = width, round(width / box_ratio)
    if crop_width < need_width or crop_height < need_height:
        raise ImageUploadError(
            f"{article} {spec.role} needs at least {need_width}x{need_height} "
            f"pixels ({spec.width}x{spec.height} points at @3x); this image is "
            f"{width}x{height} pixels."
        )
    lost = max(1 - crop_width / width, 1 - crop_height / height)
    if lost > MAX_CROP:
        raise ImageUploadError(
            f"{article} {spec.role} is {spec.width}x{spec.height} points, about "
            f"{_proportions(box_ratio)}; this {width}x{height} image would lose "
            f"{lost:.0%} of its {'width' if crop_width < width else 'height'}. "
            f"Crop it to {need_width}x{need_height} pixels or larger in those "
            "proportions."
        )
    left = (width - crop_width) // 2
    top = (height - crop_height) // 2
    return image.crop((left, top, left + crop_width, top + crop_height))


def _output_sizes(size: tuple[int, int], spec: ImageSpec) -> list[tuple[int, int]]:
    """Return the pixel size of the @1x, @2x and @3x files."""
    if spec.fit == "fill":
        return [(spec.width * scale, spec.height * scale) for scale in SCALES]
    width, height = size
    sizes = []
    for scale in SCALES:
        box_width, box_height = spec.width * scale, spec.height * scale
        # The side that meets its edge of the box first sets the scale; the
        # other is rounded half up, in integers so no float error shows.
        if width * box_height >= height * box_width:
            other = (2 * height * box_width + width) // (2 * width)
            sizes.append((box_width, max(1, other)))
        else:
            other = (2 * width * box_height + height) // (2 * height)
            sizes.append((max(1, other), box_height))
    return sizes


def _png(image: Image.Image, size: tuple[int, int]) -> bytes:
    """Return the image resized to size as PNG bytes, with no metadata."""
    # Lanczos from the full upload for every scale; Pillow premultiplies alpha
    # while resampling, so transparent edges do not turn dark.
    resized = image if image.size == size else image.resize(size, Image.LANCZOS)
    resized.info = {}
    buffer = io.BytesIO()
    resized.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _article(word: str) -> str:
    return "An" if word[0] in "aeiou" else "A"


def _proportions(ratio: float) -> str:
    return f"{ratio:.2f}:1" if ratio >= 1 else f"1:{1 / ratio:.2f}"


def _word_list(words: list[str]) -> str:
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def template_style(template: Template) -> str:
    """Return the style the template's design has now."""
    return style_of(template.design) or template.style


def role_files(template: Template, role: str) -> list[TemplateImage]:
    """Return the template's files of one image, localized copies included."""
    return [image for image in template.images if image_name(image.path) == role]


def replace_image(
    template: Template, role: str, content: bytes, *, actor: str = "system"
) -> TemplateUpdate:
    """Store an upload as the template's image, then re-sign and push its passes.

    Every file of that image goes, localized copies included: the page has one
    upload per image. Raises ImageUploadError, or PassValidationError if passes
    of the template would be refused with it, storing nothing.
    """
    files = make_image_files(content, role, template_style(template))
    return _store(template, role, files, actor)


def remove_image(
    template: Template, role: str, *, actor: str = "system"
) -> TemplateUpdate:
    """Drop every file of one image, then re-sign and push the template's passes."""
    if role == "icon":
        raise ImageUploadError(
            "Every pass needs an icon: upload a new one instead of removing it."
        )
    if not role_files(template, role):
        raise ImageUploadError(f"The template has no {role} image to remove.")
    return _store(template, role, {}, actor)


def _store(
    template: Template, role: str, files: dict[str, bytes], actor: str
) -> TemplateUpdate:
    kept = [image for image in template.images if image_name(image.path) != role]
    draft = SimpleNamespace(
        design=template.design,
        pass_type=template.pass_type,
        localizations=template.localizations,
        images=[
            *(SimpleNamespace(path=i.path, content=i.content) for i in kept),
            *(SimpleNamespace(path=p, content=c) for p, c in files.items()),
        ],
    )
    service.check_design(draft)

    # Rows keep their id when a path stays: deleting and inserting the same path
    # in one flush would run the insert first and break the unique constraint.
    existing = {image.path: image for image in template.images}
    for path, content in files.items():
        if path in existing:
            existing[path].content = content
        else:
            template.images.append(TemplateImage(path=path, content=content))
    for image in role_files(template, role):
        if image.path not in files:
            template.images.remove(image)
    template.updated_at = utcnow()
    audit.record("template.updated", template.name, template.merchant_id, actor)
    return service.start_template_update(template)
