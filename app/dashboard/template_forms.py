"""The forms of the template pages: importing a .pkpass, issuing a pass."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import Email, Length, Optional, Regexp, ValidationError

from app.dashboard.pass_forms import FIELD_PREFIX, PassDataForm, printable
from app.models import Template
from app.passes.bundle import (
    MAX_VALUE_LENGTH,
    data_placeholders,
)
from app.passes.importer import MAX_BUNDLE_BYTES
from app.passes.service import SERIAL_NUMBER

MAX_NAME_LENGTH = 200


class PassTypeSelect(SelectField):
    """A choice among the merchant's pass types, whose ids the view sets."""

    def pre_validate(self, form) -> None:
        # A forged id of someone else's pass type is simply not among the choices.
        if self.data not in {value for value, _label in self.choices}:
            raise ValidationError("Choose one of your pass types.")


class ImportTemplateForm(FlaskForm):
    """A .pkpass made by any tool, the pass type to sign it with, a name."""

    filename = ""

    pkpass = FileField("Pass file (.pkpass)", render_kw={"accept": ".pkpass,.zip"})
    pass_type = PassTypeSelect("Pass type", choices=[])
    name = StringField(
        "Template name (the file's name if empty)",
        [Optional(), Length(max=MAX_NAME_LENGTH)],
    )

    def validate_pkpass(self, field: FileField) -> None:
        """Replace the upload by its bytes, keeping its file name apart."""
        if field.data is None or not getattr(field.data, "filename", ""):
            raise ValidationError("Choose a .pkpass file to import.")
        self.filename = field.data.filename
        content = field.data.read(MAX_BUNDLE_BYTES + 1)
        if not content:
            raise ValidationError("That file is empty.")
        if len(content) > MAX_BUNDLE_BYTES:
            raise ValidationError("That pass is too large to import.")
        field.data = content

    def template_name(self) -> str:
        """Return the typed name, or the uploaded file's name without .pkpass."""
        typed = (self.name.data or "").strip()
        stem = self.filename.rsplit("/", 1)[-1].rsplit(".", 1)[0].strip()
        return (typed or stem or "Imported pass")[:MAX_NAME_LENGTH]


class IssuePassForm(PassDataForm):
    """One input per placeholder, an optional serial number and customer email."""

    serial = StringField(
        "Serial number (a random one if empty)",
        filters=[lambda value: value.strip() if value else value],
        validators=[
            Optional(),
            Regexp(
                SERIAL_NUMBER.pattern + r"\Z",
                message="Use 1 to 64 letters, digits, dots, dashes or underscores.",
            ),
        ],
    )
    customer_email = EmailField(
        "Customer email (optional)",
        filters=[lambda value: value.strip() if value else value],
        # email-validator's own message says what is wrong with the address.
        validators=[Optional(), Length(max=320), Email(granular_message=True)],
    )


def template_placeholders(template: Template) -> list[str]:
    """Return the names of the template's placeholders that pass data fills."""
    return data_placeholders(template.design)


def issue_pass_form(template: Template) -> IssuePassForm:
    """Build the issuing form for the template; a POST fills it."""
    fields = {
        FIELD_PREFIX + name: StringField(
            name, [Length(max=MAX_VALUE_LENGTH), printable]
        )
        for name in template_placeholders(template)
    }
    form_class = type("IssuePassForm", (IssuePassForm,), fields)
    return form_class()
