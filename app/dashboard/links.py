"""A pass's download links: a new one, with an optional expiry, and revoking one."""

import logging
from datetime import timedelta

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from app.dashboard import bp, pass_queries
from app.dashboard.forms import ButtonForm
from app.dashboard.link_forms import NewLinkForm
from app.dashboard.pass_forms import pass_data_form
from app.dashboard.passes import detail_page
from app.downloads.links import create_link, link_url, revoke_link
from app.models import utcnow

log = logging.getLogger(__name__)


@bp.post("/passes/<int:pass_id>/links")
def new_link(pass_id: int):
    """Give the pass a new download link, ending after the days given, if any."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)
    form = NewLinkForm()
    if not form.validate_on_submit():
        return detail_page(pass_, pass_data_form(pass_), link_form=form)

    days = form.expires_in_days.data
    link = create_link(pass_, utcnow() + timedelta(days=days) if days else None)

    log.info(
        "link %s of pass %s created by user %s", link.id, pass_.id, current_user.id
    )
    flash(f"New download link: {link_url(link)}")
    return redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))


@bp.post("/passes/<int:pass_id>/links/<int:link_id>/revoke")
def revoke(pass_id: int, link_id: int):
    """Withdraw one of the pass's links; customers opening it are told so."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)
    link = pass_queries.download_link_or_404(pass_, link_id)
    back = redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not link.is_usable(utcnow()):
        flash("That link no longer works already.")
        return back

    revoke_link(link, actor=f"user:{current_user.id}")
    flash("The link is revoked: opening it now says it was withdrawn.")
    return back
