"""Emailing download links from the dashboard: one pass, or every pass of a search.

Sending runs in a background job; the batch page follows its progress and
lists each failed email with the reason.
"""

import logging
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from app.dashboard import bp, pass_queries
from app.dashboard.mail_forms import MailRequestForm, mail_request_form
from app.dashboard.passes import list_filters
from app.dashboard.summaries import owned_or_404
from app.extensions import db
from app.mail import RepeatedMailRequest, start_mail_batch
from app.models import MAIL_FAILED, MailBatch, MailDelivery, Pass, Template, User
from app.passes import queries

log = logging.getLogger(__name__)

RECENT_BATCHES = 50
SHOWN_FAILURES = 200


@bp.post("/passes/<int:pass_id>/email")
def email_pass(pass_id: int):
    """Email the pass's download link to its customer, in the background."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)
    form = MailRequestForm()
    if not form.validate_on_submit():
        abort(400)
    if not pass_.customer_email or pass_.is_voided:
        flash(
            "The pass has no customer email to send the link to."
            if not pass_.customer_email
            else "The pass is voided: its link is not sent."
        )
        return redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))

    try:
        batch = start_mail_batch(
            current_user.merchant_id,
            [pass_.id],
            actor=f"user:{current_user.id}",
            nonce=form.nonce.data,
        )
    except RepeatedMailRequest as repeated:
        return _already_started(repeated.batch_id)
    log.info(
        "pass %s emailed by user %s (batch %s)", pass_.id, current_user.id, batch.id
    )
    flash(f"Emailing the download link to {pass_.customer_email}.")
    return redirect(url_for("dashboard.mail_batch", batch_id=batch.id))


@bp.get("/mail/new")
def new_mail_batch():
    """Show how many passes the list's filters would email, and the button."""
    merchant_id = current_user.merchant_id
    filters = _owned_filters(request.args, merchant_id)

    with_email = _count(_mailable(merchant_id, filters))
    matching = _count(queries.filtered_passes(_own_types(merchant_id), filters))

    return render_template(
        "dashboard/mail/new.html",
        filters=filters,
        matching=matching,
        with_email=with_email,
        form=mail_request_form(),
        list_url=url_for("dashboard.passes", **filters.query_args()),
    )


@bp.post("/mail")
def start_batch():
    """Email the link of every unvoided pass with an email matching the filters."""
    merchant_id = current_user.merchant_id
    form = MailRequestForm()
    if not form.validate_on_submit():
        abort(400)
    filters = _owned_filters(request.form, merchant_id)

    pass_ids = list(db.session.scalars(_mailable(merchant_id, filters, Pass.id)))
    if not pass_ids:
        flash("No pass matching these filters has a customer email.")
        return redirect(url_for("dashboard.passes", **filters.query_args()))

    try:
        batch = start_mail_batch(
            merchant_id,
            pass_ids,
            actor=f"user:{current_user.id}",
            nonce=form.nonce.data,
        )
    except RepeatedMailRequest as repeated:
        return _already_started(repeated.batch_id)
    log.info(
        "mail batch %s of %s passes started by user %s",
        batch.id,
        len(pass_ids),
        current_user.id,
    )
    flash(f"Emailing download links to {len(pass_ids)} customers.")
    return redirect(url_for("dashboard.mail_batch", batch_id=batch.id))


def _already_started(batch_id: int):
    """Answer a request sent again (a double click) with the batch it started."""
    log.info("mail batch %s asked for again by user %s", batch_id, current_user.id)
    flash("These emails were already started: nothing was sent twice.")
    return redirect(url_for("dashboard.mail_batch", batch_id=batch_id))


def _owned_filters(values, merchant_id: int) -> queries.PassFilters:
    filters = list_filters(values)
    if filters.template_id is not None:
        owned_or_404(Template, filters.template_id, merchant_id)
    return filters


def _own_types(merchant_id: int) -> list[int]:
    return queries.own_pass_type_ids(merchant_id)


def _mailable(merchant_id: int, filters: queries.PassFilters, *columns):
    """Return the query of the matching passes a link can be emailed to."""
    query = queries.filtered_passes(_own_types(merchant_id), filters).where(
        Pass.customer_email.is_not(None), Pass.is_voided.is_(False)
    )
    if columns:
        query = query.with_only_columns(*columns)
    return query.order_by(Pass.id)


def _count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.subquery()))


@bp.get("/mail")
def mail_batches():
    """List the merchant's latest batches of emails, newest first."""
    merchant_id = current_user.merchant_id
    batches = list(
        db.session.scalars(
            select(MailBatch)
            .where(MailBatch.merchant_id == merchant_id)
            .order_by(MailBatch.id.desc())
            .limit(RECENT_BATCHES)
        )
    )
    return render_template(
        "dashboard/mail/list.html", batches=batches, senders=_senders(merchant_id)
    )


@bp.get("/mail/<int:batch_id>")
def mail_batch(batch_id: int):
    """Show a batch's progress and its failed emails with the reasons."""
    merchant_id = current_user.merchant_id
    batch = owned_or_404(MailBatch, batch_id, merchant_id)

    failures = db.session.execute(
        select(MailDelivery, Pass.serial_number)
        .join(Pass, Pass.id == MailDelivery.pass_id)
        .where(MailDelivery.batch_id == batch.id, MailDelivery.status == MAIL_FAILED)
        .order_by(MailDelivery.id)
        .limit(SHOWN_FAILURES)
    ).all()

    return render_template(
        "dashboard/mail/batch.html",
        batch=batch,
        progress=batch_progress(batch),
        failures=failures,
        senders=_senders(merchant_id),
    )


@bp.get("/mail/<int:batch_id>/progress")
def mail_batch_progress(batch_id: int):
    """Return how far a batch has got, for the page's progress bar."""
    batch = owned_or_404(MailBatch, batch_id, current_user.merchant_id)
    return jsonify(batch_progress(batch))


def batch_progress(batch: MailBatch) -> dict[str, Any]:
    """Return a batch's counts as its page shows them."""
    return {
        "total": batch.total,
        "done": batch.sent + batch.failed,
        "sent": batch.sent,
        "failed": batch.failed,
        "finished": batch.finished_at is not None,
    }


def _senders(merchant_id: int) -> dict[str, str]:
    """Return the merchant's users' emails by the actor names batches record."""
    users = db.session.execute(
        select(User.id, User.email).where(User.merchant_id == merchant_id)
    )
    return {f"user:{user_id}": email for user_id, email in users}
