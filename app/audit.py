"""The audit trail: who changed what that matters to security, and when.

Entries join the caller's transaction, so a change and its entry are stored
together or not at all.
"""

import logging

from flask import has_request_context, request

from app.extensions import db
from app.models import AuditEntry

log = logging.getLogger(__name__)


def record(action: str, subject: str, merchant_id: int | None, actor: str) -> None:
    """Add an audit entry, such as ("pass.voided", serial, merchant, "cli")."""
    address = request.remote_addr if has_request_context() else None
    db.session.add(
        AuditEntry(
            merchant_id=merchant_id,
            action=action,
            subject=subject,
            actor=actor,
            remote_addr=address,
        )
    )
    log.info("audit: %s %s by %s", action, subject, actor)
