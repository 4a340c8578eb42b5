"""The form of a new download link for a pass."""

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

MAX_LINK_DAYS = 365


class NewLinkForm(FlaskForm):
    """A new link, with the number of days it works for; empty for no end."""

    expires_in_days = IntegerField(
        "Expires after (days; empty: never)",
        [
            Optional(),
            NumberRange(
                1, MAX_LINK_DAYS, f"Give a number of days from 1 to {MAX_LINK_DAYS}."
            ),
        ],
        render_kw={"min": 1, "max": MAX_LINK_DAYS},
    )
