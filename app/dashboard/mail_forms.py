"""The form that starts emailing download links, to one pass or a list's matches."""

import secrets

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

# The longest nonce accepted; mail_batches.request_nonce holds this many.
MAX_NONCE = 64


class MailRequestForm(FlaskForm):
    """The button that starts a batch, with a nonce so that it starts once.

    The CSRF token stays the same all session, so a double click or a resent
    POST carries a valid one again; the nonce is claimed when the batch is
    stored, and a second request with it is refused (app.mail.batches).
    """

    nonce = HiddenField(validators=[DataRequired(), Length(max=MAX_NONCE)])


def mail_request_form() -> MailRequestForm:
    """Return the form with a new nonce, for a page to show."""
    return MailRequestForm(formdata=None, nonce=secrets.token_urlsafe(32))
