"""Template images: see, upload and remove the pictures a template's passes show."""

import hashlib
import io
import logging
from dataclasses import dataclass

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from app.dashboard import bp, summaries
from app.dashboard.template_image_forms import TemplateImageForm
from app.extensions import db
from app.models import Template, TemplateImage, TemplateUpdate
from app.passes.bundle import PassDataError
from app.passes.images import (
    ROLE_TITLES,
    ImageSpec,
    ImageUploadError,
    allowed_roles,
    image_spec,
    remove_image,
    replace_image,
    role_files,
    template_style,
)
from app.passes.validation import PassValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageFile:
    path: str
    size: tuple[int, int] | None
    bytes: int

    @property
    def points_width(self) -> int:
        """Return the width the file stands for in points (logo@3x.png: a third)."""
        scale = 3 if "@3x." in self.path else 2 if "@2x." in self.path else 1
        return max(1, self.size[0] // scale) if self.size else 0


@dataclass(frozen=True)
class RoleCard:
    role: str
    title: str
    spec: ImageSpec
    files: list[ImageFile]
    form: TemplateImageForm

    @property
    def sharpest(self) -> ImageFile | None:
        """Return the unlocalized file with the most pixels, to show."""
        shown = [f for f in self.files if "/" not in f.path and f.size]
        return max(shown, key=lambda f: f.size[0] * f.size[1], default=None)


@bp.get("/templates/<int:template_id>/images")
def template_images(template_id: int):
    """Show the template's images per role, each with its upload form."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)

    return _images_page(template)


@bp.post("/templates/<int:template_id>/images/<role>")
def upload_template_image(template_id: int, role: str):
    """Make the uploaded picture the template's image and push every pass."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    if role not in ROLE_TITLES:
        abort(404)
    form = TemplateImageForm(prefix=role)
    try:
        image_spec(role, template_style(template))
    except ImageUploadError as error:
        # Only a hand-made request reaches here: the page offers no such input.
        return _images_page(template, page_errors=[str(error)]), 400
    if not form.validate_on_submit():
        return _images_page(template, posted=form, posted_role=role)

    try:
        template_update = replace_image(
            template, role, form.image.data, actor=f"user:{current_user.id}"
        )
    except ImageUploadError as error:
        form.image.errors.append(str(error))
        return _images_page(template, posted=form, posted_role=role)
    except (PassDataError, PassValidationError) as error:
        # Nothing was stored; each reason Wallet would refuse the passes.
        db.session.rollback()
        form.image.errors.extend(getattr(error, "errors", None) or [str(error)])
        return _images_page(template, posted=form, posted_role=role)

    log.info("template %s %s uploaded by user %s", template.id, role, current_user.id)
    flash(f"{ROLE_TITLES[role]} saved{_update_note(template_update)}")
    return redirect(url_for("dashboard.template_images", template_id=template.id))


@bp.post("/templates/<int:template_id>/images/<role>/remove")
def remove_template_image(template_id: int, role: str):
    """Drop one of the template's images and push every pass."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    if role not in ROLE_TITLES:
        abort(404)

    try:
        template_update = remove_image(template, role, actor=f"user:{current_user.id}")
    except ImageUploadError as error:
        return _images_page(template, page_errors=[str(error)]), 400
    except (PassDataError, PassValidationError) as error:
        db.session.rollback()
        messages = getattr(error, "errors", None) or [str(error)]
        return _images_page(template, page_errors=messages), 400

    log.info("template %s %s removed by user %s", template.id, role, current_user.id)
    flash(f"{ROLE_TITLES[role]} removed{_update_note(template_update)}")
    return redirect(url_for("dashboard.template_images", template_id=template.id))


@bp.get("/templates/<int:template_id>/images/files/<path:path>")
def template_image_file(template_id: int, path: str):
    """Send one of the template's image files, for the page's thumbnails."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    found = db.session.scalar(
        select(TemplateImage).filter_by(template_id=template.id, path=path)
    )
    if found is None:
        abort(404)

    response = Response(found.content, mimetype="image/png")
    # Imported files are the merchant's own bytes: never sniffed as anything else.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(found.content).hexdigest())
    return response.make_conditional(request)


def _update_note(template_update: TemplateUpdate) -> str:
    return (
        f". {template_update.total} passes with devices are being re-signed and "
        "pushed; the others get the new image when downloaded."
    )


def _images_page(
    template: Template,
    *,
    posted: TemplateImageForm | None = None,
    posted_role: str | None = None,
    page_errors: list[str] | None = None,
):
    style = template_style(template)
    cards = []
    for role in allowed_roles(style):
        form = (
            posted
            if role == posted_role and posted is not None
            else TemplateImageForm(prefix=role, formdata=None)
        )
        files = [_file_facts(image) for image in role_files(template, role)]
        cards.append(
            RoleCard(role, ROLE_TITLES[role], image_spec(role, style), files, form)
        )
    return render_template(
        "dashboard/templates/images.html",
        template=template,
        style=style,
        cards=cards,
        page_errors=page_errors or [],
    )


def _file_facts(image: TemplateImage) -> ImageFile:
    """Return a stored file's path, pixel size (None if unreadable) and length."""
    try:
        with Image.open(io.BytesIO(image.content), formats=("PNG",)) as opened:
            size = opened.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError):
        size = None
    return ImageFile(image.path, size, len(image.content))
