"""Signing webhook bodies, and keeping each endpoint's secret encrypted at rest.

A delivery carries ``Passline-Signature: t=<unix time>,v1=<hex>``, where the
hex is HMAC-SHA256 keyed with the endpoint's secret over ``"<t>." + body``.
Binding the time into the MAC lets a receiver refuse replays of old bodies.
"""

import hashlib
import hmac
import secrets
import time

from cryptography.fernet import Fernet, InvalidToken

SIGNATURE_HEADER = "Passline-Signature"
# How old a signature verify() accepts by default, in seconds.
TOLERANCE = 300


class SecretError(ValueError):
    """A stored webhook secret that KEY_ENCRYPTION_KEY cannot decrypt."""


def new_secret() -> str:
    """Return a fresh random signing secret (256 bits, hex)."""
    return secrets.token_hex(32)


def encrypt_secret(secret: str, key_encryption_key: str) -> bytes:
    """Encrypt the secret with Fernet (AES-128-CBC + HMAC-SHA256) for storage."""
    return Fernet(key_encryption_key.encode()).encrypt(secret.encode())


def decrypt_secret(token: bytes, key_encryption_key: str) -> str:
    """Decrypt a stored secret; raises SecretError if the key does not fit."""
    try:
        return Fernet(key_encryption_key.encode()).decrypt(token).decode()
    except InvalidToken as exc:
        raise SecretError("KEY_ENCRYPTION_KEY cannot decrypt this secret.") from exc


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Return the Passline-Signature value (HMAC-SHA256) for the body at a time."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> bool:
    """Return True if the header signs exactly this body, within the tolerance."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        (timestamp,) = (int(t) for t in parts.get("t", []))
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    # A header may carry several v1 values: one matching is enough.
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
