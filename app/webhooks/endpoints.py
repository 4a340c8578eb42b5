"""A merchant's webhook endpoints: adding, changing and removing them."""

import logging

from flask import current_app
from sqlalchemy import delete

from app import audit
from app.extensions import db
from app.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.events import EVENT_TYPES
from app.webhooks.signing import decrypt_secret, encrypt_secret, new_secret
from app.webhooks.urls import check_url

log = logging.getLogger(__name__)

# The length of AuditEntry.subject; a URL may be longer.
SUBJECT_MAX = 255


def create_endpoint(
    merchant_id: int,
    url: str,
    events: list[str],
    *,
    is_active: bool = True,
    actor: str,
) -> WebhookEndpoint:
    """Add an endpoint with a fresh secret; raises WebhookURLError for a bad URL."""
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id,
        url=check_url(url),
        events=_known(events),
        is_active=is_active,
        secret_encrypted=encrypt_secret(new_secret(), _key()),
    )
    db.session.add(endpoint)
    audit.record("webhook.added", _subject(endpoint.url), merchant_id, actor)
    db.session.commit()
    log.info("webhook endpoint %s added by %s", endpoint.id, actor)
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    url: str,
    events: list[str],
    is_active: bool,
    *,
    actor: str,
) -> None:
    """Change the endpoint's URL, events and state; raises WebhookURLError."""
    endpoint.url = check_url(url)
    endpoint.events = _known(events)
    endpoint.is_active = is_active
    audit.record("webhook.changed", _subject(endpoint.url), endpoint.merchant_id, actor)
    db.session.commit()
    log.info("webhook endpoint %s changed by %s", endpoint.id, actor)


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: str) -> None:
    """Remove the endpoint and its deliveries.

    A worker sending one of them meanwhile finds the row gone and moves on
    (see deliver_due).
    """
    endpoint_id = endpoint.id
    db.session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    audit.record("webhook.removed", _subject(endpoint.url), endpoint.merchant_id, actor)
    db.session.delete(endpoint)
    db.session.commit()
    log.info("webhook endpoint %s removed by %s", endpoint_id, actor)


def secret_of(endpoint: WebhookEndpoint) -> str:
    """Return the endpoint's signing secret, decrypted; raises SecretError."""
    return decrypt_secret(endpoint.secret_encrypted, _key())


def _known(events: list[str]) -> list[str]:
    """Keep the event types that exist, in the order EVENT_TYPES lists them."""
    return [event for event in EVENT_TYPES if event in events]


def _subject(url: str) -> str:
    """Return the URL as an audit subject, cut to fit its column."""
    return url if len(url) <= SUBJECT_MAX else url[: SUBJECT_MAX - 1] + "…"


def _key() -> str:
    return current_app.config["KEY_ENCRYPTION_KEY"]
