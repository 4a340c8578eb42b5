"""The forms of the webhook pages: an endpoint, and buttons that take no input."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from app.webhooks.events import EVENT_TYPES
from app.webhooks.urls import MAX_URL


class EndpointForm(FlaskForm):
    """An endpoint's URL, the events it receives, and whether it is on."""

    url = URLField(
        "URL",
        [
            InputRequired("Give the URL events are POSTed to."),
            Length(max=MAX_URL, message=f"A URL is at most {MAX_URL} characters."),
        ],
    )
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(value, label) for value, label in EVENT_TYPES.items()],
        validators=[InputRequired("Pick at least one event.")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    is_active = BooleanField("Send events to it", default=True)


class ActionForm(FlaskForm):
    """A button (test, delete, retry): the form carries only the CSRF token."""
