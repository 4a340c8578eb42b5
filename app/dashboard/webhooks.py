"""Webhook pages: a merchant's endpoints, their secrets and their deliveries."""

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from app.dashboard import bp
from app.dashboard.webhook_forms import ActionForm, EndpointForm
from app.extensions import db
from app.models import WEBHOOK_FAILED, WebhookDelivery, WebhookEndpoint
from app.webhooks import delivery as webhook_delivery
from app.webhooks import endpoints, events
from app.webhooks.signing import SIGNATURE_HEADER, SecretError
from app.webhooks.urls import WebhookURLError

RECENT_DELIVERIES = 50


@bp.get("/webhooks")
def webhooks():
    """List the merchant's endpoints with their pending and failed deliveries."""
    rows = db.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.merchant_id == current_user.merchant_id)
        .order_by(WebhookEndpoint.id)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    if rows:
        for endpoint_id, status, n in db.session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.endpoint_id.in_([e.id for e in rows]))
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
        ):
            counts.setdefault(endpoint_id, {})[status] = n
    return render_template(
        "dashboard/webhooks/list.html", endpoints=rows, counts=counts
    )


@bp.route("/webhooks/new", methods=["GET", "POST"])
def new_webhook():
    """Add an endpoint; its page then shows the secret its events are signed with."""
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = endpoints.create_endpoint(
                current_user.merchant_id,
                form.url.data,
                form.events.data,
                is_active=form.is_active.data,
                actor=f"user:{current_user.id}",
            )
        except WebhookURLError as exc:
            form.url.errors.append(str(exc))
        else:
            flash("Endpoint added. Check signatures with the secret shown below.")
            return redirect(url_for("dashboard.webhook", endpoint_id=endpoint.id))

    return render_template("dashboard/webhooks/new.html", form=form)


@bp.get("/webhooks/<int:endpoint_id>")
def webhook(endpoint_id: int):
    """Show an endpoint: its settings, secret and latest deliveries."""
    endpoint = _endpoint_or_404(endpoint_id)
    form = EndpointForm(obj=endpoint)
    return _detail_page(endpoint, form)


@bp.post("/webhooks/<int:endpoint_id>")
def edit_webhook(endpoint_id: int):
    """Save an endpoint's URL, events and whether it receives them."""
    endpoint = _endpoint_or_404(endpoint_id)
    form = EndpointForm()
    if not form.validate_on_submit():
        return _detail_page(endpoint, form), 400

    try:
        endpoints.update_endpoint(
            endpoint,
            form.url.data,
            form.events.data,
            form.is_active.data,
            actor=f"user:{current_user.id}",
        )
    except WebhookURLError as exc:
        db.session.rollback()
        form.url.errors.append(str(exc))
        return _detail_page(endpoint, form), 400
    flash("Endpoint saved.")
    return redirect(url_for("dashboard.webhook", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/test")
def test_webhook(endpoint_id: int):
    """Send the endpoint a test event, whatever events it receives."""
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)

    events.send_test(endpoint)
    flash("Test event queued: its delivery is listed below.")
    return redirect(url_for("dashboard.webhook", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/delete")
def delete_webhook(endpoint_id: int):
    """Remove the endpoint and its deliveries."""
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)

    endpoints.delete_endpoint(endpoint, actor=f"user:{current_user.id}")
    flash("Endpoint removed: it receives no more events.")
    return redirect(url_for("dashboard.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/retry")
def retry_webhook_delivery(endpoint_id: int, delivery_id: int):
    """Try a failed delivery once more, now."""
    endpoint = _endpoint_or_404(endpoint_id)
    delivery = db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint.id,
        )
    )
    if delivery is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    back = redirect(url_for("dashboard.webhook", endpoint_id=endpoint.id))
    if delivery.status != WEBHOOK_FAILED:
        flash("Only a failed delivery can be retried; this one is not.")
        return back

    webhook_delivery.retry_now(delivery)
    flash("The delivery is being retried.")
    return back


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.merchant_id == current_user.merchant_id,
        )
    )
    if endpoint is None:
        abort(404)
    return endpoint


def _detail_page(endpoint: WebhookEndpoint, form: EndpointForm) -> str:
    try:
        secret = endpoints.secret_of(endpoint)
    except SecretError:
        secret = None
    deliveries = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(RECENT_DELIVERIES)
    ).all()
    return render_template(
        "dashboard/webhooks/detail.html",
        endpoint=endpoint,
        form=form,
        action_form=ActionForm(),
        secret=secret,
        signature_header=SIGNATURE_HEADER,
        deliveries=deliveries,
        event_types=events.EVENT_TYPES,
    )
