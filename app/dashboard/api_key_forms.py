"""The form of the API keys page: naming a new key."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.dashboard.pass_forms import printable


class NewApiKeyForm(FlaskForm):
    """A new key, named so the merchant knows later what uses it."""

    name = StringField(
        "Name (what will use the key)",
        [
            DataRequired("Give the key a name."),
            Length(max=100),
            printable,
        ],
    )
