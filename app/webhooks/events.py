"""Webhook events: what happened to a merchant's passes, as delivery rows.

Each function here is called after the commit that made its event true. It
looks up the merchant's active endpoints subscribed to the event type, inserts
one delivery row per endpoint and event in bulk, and queues one job to send
them, so a Wallet request never waits on a merchant's URL. A database error
while recording is logged and swallowed: the change it reports stands.
"""

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from app import jobs
from app.extensions import db
from app.models import (
    WEBHOOK_PENDING,
    Device,
    Pass,
    PassType,
    Registration,
    Template,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)

log = logging.getLogger(__name__)

PASS_INSTALLED = "pass.installed"
PASS_REMOVED = "pass.removed"
PASS_UPDATED = "pass.updated"
PUSH_FAILED = "push.failed"
# Sent from the dashboard's button to one endpoint, whatever it subscribed to.
TEST = "webhook.test"

# The event types an endpoint can subscribe to, with what each means.
EVENT_TYPES = {
    PASS_INSTALLED: "a device registered a pass (added it to Wallet)",
    PASS_REMOVED: "a device's registration ended (deleted, or APNs said it is gone)",
    PASS_UPDATED: "a pass changed: its data, its template's design, or voided",
    PUSH_FAILED: "a push to a device did not go through",
}

CHUNK = 500
DELIVER_JOB = "app.webhooks.delivery.deliver_due"


def subscribers(merchant_id: int, event_type: str) -> list[int]:
    """Return the ids of the merchant's active endpoints receiving the event type."""
    rows = db.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.merchant_id == merchant_id,
            WebhookEndpoint.is_active.is_(True),
        )
    )
    return [endpoint_id for endpoint_id, events in rows if event_type in events]


def pass_data(pass_type_identifier: str, serial_number: str, **extra: Any) -> dict:
    """Return an event's data about one pass, with any further fields."""
    return {
        "passTypeIdentifier": pass_type_identifier,
        "serialNumber": serial_number,
        **extra,
    }


def pass_installed(pass_: Pass, library_identifier: str) -> None:
    """Report that a device registered the pass."""
    pass_type = pass_.pass_type
    data = pass_data(
        pass_type.pass_type_identifier,
        pass_.serial_number,
        deviceLibraryIdentifier=library_identifier,
    )
    emit(pass_type.merchant_id, PASS_INSTALLED, [data])


def passes_removed(
    pass_type: PassType, removed: Iterable[tuple[str, str, str]]
) -> None:
    """Report registrations that ended, as (serial, device library id, reason)."""
    items = [
        pass_data(
            pass_type.pass_type_identifier,
            serial_number,
            deviceLibraryIdentifier=library_identifier,
            reason=reason,
        )
        for serial_number, library_identifier, reason in removed
    ]
    emit(pass_type.merchant_id, PASS_REMOVED, items)


def pass_updated(pass_: Pass) -> None:
    """Report that the pass's content changed."""
    passes_updated([pass_])


def passes_updated(passes: Iterable[Pass]) -> None:
    """Report that the passes' content changed, recording them together.

    One subscriber lookup, commit and job per merchant, however many passes.
    """
    items: dict[int, list[dict]] = {}
    for pass_ in passes:
        pass_type = pass_.pass_type
        data = pass_data(
            pass_type.pass_type_identifier, pass_.serial_number, voided=pass_.is_voided
        )
        items.setdefault(pass_type.merchant_id, []).append(data)
    for merchant_id, merchant_items in items.items():
        emit(merchant_id, PASS_UPDATED, merchant_items)


def template_updated(template: Template, update_tag: int) -> None:
    """Report every pass of the changed template, from a background job.

    A template can have many passes: the request only checks that someone
    listens, and the job records the events a chunk at a time.
    """
    try:
        listening = subscribers(template.merchant_id, PASS_UPDATED)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("webhook events of template %s not recorded", template.id)
        return
    if listening:
        _enqueue("app.webhooks.events.record_template_passes", template.id, update_tag)


def record_template_passes(template_id: int, update_tag: int) -> None:
    """Record pass.updated for each pass the template change gave this tag."""
    template = db.session.get(Template, template_id)
    if template is None:
        return
    endpoint_ids = subscribers(template.merchant_id, PASS_UPDATED)
    identifier = template.pass_type.pass_type_identifier
    last_id = recorded = 0
    while endpoint_ids:
        rows = db.session.execute(
            select(Pass.id, Pass.serial_number, Pass.is_voided)
            .where(
                Pass.template_id == template_id,
                Pass.update_tag == update_tag,
                Pass.id > last_id,
            )
            .order_by(Pass.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        items = [pass_data(identifier, s, voided=v) for _, s, v in rows]
        recorded += _record(endpoint_ids, PASS_UPDATED, items)
        db.session.commit()
        last_id = rows[-1].id
    if recorded:
        _enqueue(DELIVER_JOB)


def push_failures(
    pass_type: PassType, failed: dict[str, str], results: dict
) -> list[dict]:
    """Describe the pushes not sent (token → outcome), if anyone listens; else [].

    Call it before the registrations of dead tokens are removed: it names the
    passes and device each failed token was registered for.
    """
    if not failed or not subscribers(pass_type.merchant_id, PUSH_FAILED):
        return []
    serials: dict[str, list[str]] = {}
    devices: dict[str, str] = {}
    tokens = list(failed)
    for start in range(0, len(tokens), CHUNK):
        rows = db.session.execute(
            select(
                Registration.push_token,
                Device.library_identifier,
                Pass.serial_number,
            )
            .join(Registration.device)
            .join(Registration.pass_)
            .where(Pass.pass_type_id == pass_type.id)
            .where(Registration.push_token.in_(tokens[start : start + CHUNK]))
            .order_by(Pass.serial_number)
        )
        for token, library_identifier, serial_number in rows:
            devices[token] = library_identifier
            serials.setdefault(token, []).append(serial_number)
    return [
        {
            "passTypeIdentifier": pass_type.pass_type_identifier,
            "serialNumbers": serials.get(token, []),
            "deviceLibraryIdentifier": devices.get(token),
            "outcome": outcome,
            "statusCode": results[token].status_code,
            "reason": results[token].reason,
        }
        for token, outcome in failed.items()
    ]


def emit(merchant_id: int, event_type: str, items: list[dict]) -> int:
    """Record one event per item for each subscribed endpoint; queue sending.

    Returns how many deliveries were recorded.
    """
    if not items:
        return 0
    try:
        endpoint_ids = subscribers(merchant_id, event_type)
        recorded = _record(endpoint_ids, event_type, items)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception(
            "%s webhook events of merchant %s not recorded", event_type, merchant_id
        )
        return 0
    if recorded:
        _enqueue(DELIVER_JOB)
    return recorded


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Record a test event for the one endpoint and queue sending it."""
    now = utcnow()
    data = {"message": "A test event from Passline: the endpoint is reachable."}
    event_id = _event_id()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=TEST,
        payload=_payload(event_id, TEST, now, data),
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(delivery)
    db.session.commit()
    _enqueue(DELIVER_JOB)
    return delivery


def _record(endpoint_ids: list[int], event_type: str, items: list[dict]) -> int:
    """Insert the deliveries of the events in bulk, due now; the caller commits."""
    if not endpoint_ids:
        return 0
    now = utcnow()
    rows = []
    for data in items:
        event_id = _event_id()
        payload = _payload(event_id, event_type, now, data)
        rows += [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "payload": payload,
                "status": WEBHOOK_PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in endpoint_ids
        ]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(WebhookDelivery), rows[start : start + CHUNK])
    return len(rows)


def _event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def _payload(event_id: str, event_type: str, moment: datetime, data: dict) -> dict:
    """Return the JSON body every delivery of the event carries."""
    return {
        "id": event_id,
        "type": event_type,
        "created_at": _timestamp(moment),
        "data": data,
    }


def _timestamp(moment: datetime) -> str:
    """Return a naive UTC time as ISO 8601 with a Z, to the second."""
    return moment.isoformat(timespec="seconds") + "Z"


def _enqueue(path: str, *args) -> None:
    try:
        jobs.enqueue(path, *args)
    except RedisError:
        # The rows are stored: `flask webhooks-retry` sends them later.
        log.exception("webhook job %s not queued", path)
