"""The API keys page: the merchant's keys, making one (shown once), revoking one."""

import logging

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app.api import keys
from app.dashboard import bp
from app.dashboard.api_key_forms import NewApiKeyForm
from app.dashboard.forms import ButtonForm
from app.dashboard.summaries import owned_or_404
from app.models import ApiKey

log = logging.getLogger(__name__)


@bp.get("/api-keys")
def api_keys():
    """List the merchant's API keys, with the form to make one."""
    return _page(NewApiKeyForm())


@bp.post("/api-keys")
def create_api_key():
    """Make a key and show it this once; only its hash is kept."""
    form = NewApiKeyForm()
    if not form.validate_on_submit():
        return _page(form), 400

    api_key, key = keys.create_key(
        current_user.merchant_id, form.name.data.strip(), f"user:{current_user.id}"
    )

    log.info("API key %s made by user %s", api_key.id, current_user.id)
    return _page(NewApiKeyForm(formdata=None), new_key=key, new_key_id=api_key.id)


@bp.post("/api-keys/<int:key_id>/revoke")
def revoke_api_key(key_id: int):
    """Stop one of the merchant's keys working, for good."""
    api_key = owned_or_404(ApiKey, key_id, current_user.merchant_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if api_key.revoked_at is not None:
        flash("That key is already revoked.")
    else:
        keys.revoke_key(api_key, f"user:{current_user.id}")
        flash(f"The key {api_key.name} is revoked: calls made with it now get 401.")
    return redirect(url_for("dashboard.api_keys"))


def _page(form: NewApiKeyForm, new_key: str | None = None, new_key_id=None):
    return render_template(
        "dashboard/api_keys/list.html",
        keys=keys.merchant_keys(current_user.merchant_id),
        form=form,
        revoke_form=ButtonForm(),
        new_key=new_key,
        new_key_id=new_key_id,
    )
