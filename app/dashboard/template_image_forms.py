"""The form of the template images page: one image upload per role."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms.validators import ValidationError

from app.passes.images import MAX_UPLOAD_BYTES

ACCEPTED_TYPES = "image/png,image/jpeg,image/webp,image/gif,image/bmp,image/tiff"


class TemplateImageForm(FlaskForm):
    """One picture for an image of the template, at its largest size.

    Built with the role as prefix, so each role's input has its own id and name.
    """

    image = FileField("Image file", render_kw={"accept": ACCEPTED_TYPES})

    def validate_image(self, field: FileField) -> None:
        """Replace the upload by its bytes."""
        if field.data is None or not getattr(field.data, "filename", ""):
            raise ValidationError("Choose an image file to upload.")
        content = field.data.read(MAX_UPLOAD_BYTES + 1)
        if not content:
            raise ValidationError("That file is empty.")
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationError(
                "That file is too large: images up to "
                f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB are accepted."
            )
        field.data = content
