"""The form of a pass's data on its page."""

import math
import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.validators import Length, ValidationError

from app.models import Pass
from app.passes.bundle import (
    CONTROL_CHARACTERS,
    MAX_VALUE_LENGTH,
    data_placeholders,
)

# Field names carry a prefix, so a placeholder called "data" or "errors"
# cannot shadow the form's own attributes.
FIELD_PREFIX = "value-"
INTEGER = re.compile(r"-?[0-9]{1,15}")


class PassDataForm(FlaskForm):
    """One text input per placeholder of the pass's template."""

    def value_fields(self) -> list[Field]:
        """Return the inputs for the placeholders, in name order."""
        return [f for f in self if f.name.startswith(FIELD_PREFIX)]

    def pass_data(self, current: dict[str, Any]) -> dict[str, Any]:
        """Return the current data with the submitted values in place.

        A value that was a number stays a number: a placeholder that is a
        whole field value takes the value's own type (app.passes.bundle).
        """
        data = dict(current)
        for item in self.value_fields():
            name = item.name.removeprefix(FIELD_PREFIX)
            data[name] = (
                _number(item.data) if _is_number(current.get(name)) else item.data
            )
        return data


def editable_placeholders(pass_: Pass) -> list[str]:
    """Return the names of the template's placeholders that pass data fills."""
    return data_placeholders(pass_.template.design)


def pass_data_form(pass_: Pass) -> PassDataForm:
    """Build the data form for the pass, prefilled with its data.

    On a POST the submitted values replace the prefilled ones.
    """
    fields = {}
    prefill = {}
    for name in editable_placeholders(pass_):
        validators = [Length(max=MAX_VALUE_LENGTH), printable]
        current = pass_.data.get(name)
        if _is_number(current):
            validators.append(_numeric)
        fields[FIELD_PREFIX + name] = StringField(name, validators)
        prefill[FIELD_PREFIX + name] = "" if current is None else str(current)
    form_class = type("PassDataForm", (PassDataForm,), fields)
    return form_class(data=prefill)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(text: str) -> int | float:
    text = text.strip()
    return int(text) if INTEGER.fullmatch(text) else float(text)


def printable(_form, field: Field) -> None:
    """Refuse control characters, which no page shows and no column stores."""
    if CONTROL_CHARACTERS.search(field.data or ""):
        raise ValidationError("Use printable characters only.")


def _numeric(_form, field: Field) -> None:
    try:
        value = _number(field.data or "")
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError("This value is a number: enter a number.")
