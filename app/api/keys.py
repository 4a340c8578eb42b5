"""API keys: made at random, shown once, stored as SHA-256 hashes, revocable."""

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import select

from app import audit
from app.extensions import db
from app.models import ApiKey, utcnow

log = logging.getLogger(__name__)

# Every key starts so, which lets secret scanners and people recognise it.
KEY_PREFIX = "pl_"
# Characters shown in the dashboard: "pl_" and the first 8 random ones.
VISIBLE_LENGTH = len(KEY_PREFIX) + 8
# token_urlsafe(32) gives 43 characters; anything far longer is no key.
MAX_KEY_LENGTH = 100
# last_used_at is written at most this often, not on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of a key, as api_keys.key_hash holds it."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(merchant_id: int, name: str, actor: str) -> tuple[ApiKey, str]:
    """Make a key of 256 random bits for the merchant; return it and its text.

    The text is returned this once and never stored.
    """
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        merchant_id=merchant_id,
        name=name,
        prefix=key[:VISIBLE_LENGTH],
        key_hash=hash_key(key),
        created_by=actor,
    )
    db.session.add(api_key)
    audit.record("api_key.created", f"{name} ({api_key.prefix}…)", merchant_id, actor)
    db.session.commit()
    log.info("API key %s created for merchant %s by %s", api_key.id, merchant_id, actor)
    return api_key, key


def find_active_key(key: str) -> ApiKey | None:
    """Return the unrevoked key with this text, or None.

    The lookup is by hash: comparing hashes of 256-bit keys leaks nothing
    through timing that could help guess one.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
        return None
    api_key = db.session.scalar(select(ApiKey).filter_by(key_hash=hash_key(key)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    return api_key


def mark_used(api_key: ApiKey) -> None:
    """Record that the key was used now, to the minute."""
    now = utcnow()
    if api_key.last_used_at is None or (
        now - api_key.last_used_at >= LAST_USED_PRECISION
    ):
        api_key.last_used_at = now
        db.session.commit()


def merchant_keys(merchant_id: int) -> list[ApiKey]:
    """Return the merchant's keys, revoked ones too, newest first."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.merchant_id == merchant_id)
            .order_by(ApiKey.id.desc())
        )
    )


def revoke_key(api_key: ApiKey, actor: str) -> None:
    """Stop the key working for good, with an audit entry."""
    api_key.revoked_at = utcnow()
    audit.record(
        "api_key.revoked",
        f"{api_key.name} ({api_key.prefix}…)",
        api_key.merchant_id,
        actor,
    )
    db.session.commit()
    log.info("API key %s revoked by %s", api_key.id, actor)
