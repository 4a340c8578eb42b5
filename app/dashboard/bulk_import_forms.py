"""The forms of bulk issuing: the CSV upload, the column mapping, the run."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from app.passes.bulk.csv_file import MAX_BYTES, CsvLayout, Mapping

# Field names carry a prefix, so a placeholder called "serial" or "email"
# cannot take the place of those choices.
COLUMN_PREFIX = "column-"


class UploadCsvForm(FlaskForm):
    """A CSV file with a header row and one row per pass."""

    filename = ""

    csv_file = FileField(
        "CSV file (a header row, then one row per pass)",
        render_kw={"accept": ".csv,.txt,text/csv,text/plain"},
    )

    def validate_csv_file(self, field: FileField) -> None:
        """Replace the upload by its bytes, keeping its file name apart."""
        if field.data is None or not getattr(field.data, "filename", ""):
            raise ValidationError("Choose a CSV file to upload.")
        self.filename = field.data.filename
        content = field.data.read(MAX_BYTES + 1)
        if not content:
            raise ValidationError("That file is empty.")
        if len(content) > MAX_BYTES:
            raise ValidationError(
                f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: "
                "split it into smaller files."
            )
        field.data = content


class MappingForm(FlaskForm):
    """A column choice per placeholder, plus the serial and email columns."""

    serial = SelectField("Serial number")
    email = SelectField("Customer email")

    def column_fields(self) -> list[SelectField]:
        """Return the choices for the placeholders, in name order."""
        return [f for f in self if f.name.startswith(COLUMN_PREFIX)]

    def mapping(self) -> Mapping:
        """Return the mapping the form holds."""
        return Mapping(
            fields={
                item.name.removeprefix(COLUMN_PREFIX): item.data
                for item in self.column_fields()
                if item.data
            },
            serial=self.serial.data or None,
            email=self.email.data or None,
        )


def mapping_form(
    layout: CsvLayout, placeholders: list[str], mapping: Mapping
) -> MappingForm:
    """Build the mapping form, prefilled with the stored mapping; a POST fills it."""
    columns = [SelectChoice(name) for name in layout.named_columns()]
    fields = {
        COLUMN_PREFIX + name: SelectField(
            f"{{{{{name}}}}}", choices=[SelectChoice("", "(choose a column)"), *columns]
        )
        for name in placeholders
    }
    form_class = type("MappingForm", (MappingForm,), fields)
    prefill = {
        COLUMN_PREFIX + name: mapping.fields.get(name, "") for name in placeholders
    }
    prefill["serial"] = mapping.serial or ""
    prefill["email"] = mapping.email or ""
    form = form_class(data=prefill)
    form.serial.choices = [SelectChoice("", "(none: random serial numbers)"), *columns]
    form.email.choices = [SelectChoice("", "(none)"), *columns]
    return form


class RunForm(FlaskForm):
    """A dry run or the real one, and whether to email each pass's link."""

    email_passes = BooleanField("Email each pass's download link to its customer")
