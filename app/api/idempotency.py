"""The Idempotency-Key header: a create retried with the same key happens once.

The first request with a key stores its answer; a repeat with the same key,
method, path and body gets that answer again (with `Idempotent-Replayed:
true`), and one with another body a 422 problem. Keys belong to a merchant and
are kept for 24 hours. Only successful answers are kept: after an error the
same key may be tried again. A request that never finished (its process died)
holds its key for a short lease only; a retry then takes the key over.
"""

import functools
import hashlib
import json
import logging
import re
from datetime import timedelta

from flask import Response, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.api.problems import (
    IDEMPOTENCY_IN_PROGRESS,
    IDEMPOTENCY_MISMATCH,
    VALIDATION,
    ApiProblem,
)
from app.extensions import db
from app.models import IdempotentRequest, utcnow

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")
KEPT_FOR = timedelta(hours=24)
# A request still unanswered after this long is taken for dead (its worker was
# killed, say): a retry with the same key and body takes over. Far longer than
# any answer takes, even a bulk update pushing to every device with retries.
IN_PROGRESS_LEASE = timedelta(minutes=5)
# How the header appears in the OpenAPI document (blp.doc(parameters=...)).
PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": "Any unique text, such as a UUID: a retry with the same key "
    "and body is answered as the first request was, without acting twice. "
    "Kept for 24 hours.",
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}


def idempotent(view):
    """Honour the Idempotency-Key header on a view answering a Response."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY_FORMAT.fullmatch(key):
            raise ApiProblem(
                400,
                f"{HEADER} must be 1 to 255 printable ASCII characters.",
                type_=VALIDATION,
            )

        merchant_id = g.api_key.merchant_id
        fingerprint = _fingerprint()
        stored = _claim(merchant_id, key, fingerprint)
        if stored is not None:
            return _replay(stored, fingerprint)

        try:
            response = view(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            _release(merchant_id, key)
            raise
        if 200 <= response.status_code < 300:
            _keep(merchant_id, key, response)
        else:
            _release(merchant_id, key)
        return response

    return wrapper


def _fingerprint() -> str:
    """Hash the method, path and body; JSON bodies by content, not spacing."""
    raw = request.get_data()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        body = raw.hex()
    text = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _claim(merchant_id: int, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Store the key as in progress; return the earlier request if it exists."""
    db.session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.merchant_id == merchant_id,
            IdempotentRequest.created_at < utcnow() - KEPT_FOR,
        )
    )
    stored = _find(merchant_id, key)
    if stored is not None and _take_over(stored, fingerprint):
        return None
    if stored is not None:
        db.session.commit()
        return stored
    db.session.add(
        IdempotentRequest(merchant_id=merchant_id, key=key, fingerprint=fingerprint)
    )
    try:
        db.session.commit()
    except IntegrityError:
        # A request with the same key started meanwhile.
        db.session.rollback()
        return _find(merchant_id, key)
    return None


def _take_over(stored: IdempotentRequest, fingerprint: str) -> bool:
    """Restart an abandoned request's lease for this retry; False if not abandoned.

    Of several retries at once, only the one whose update matches takes over.
    """
    if stored.status_code is not None or stored.fingerprint != fingerprint:
        return False
    taken = db.session.execute(
        update(IdempotentRequest)
        .where(
            IdempotentRequest.id == stored.id,
            IdempotentRequest.status_code.is_(None),
            IdempotentRequest.created_at < utcnow() - IN_PROGRESS_LEASE,
        )
        .values(created_at=utcnow())
    ).rowcount
    db.session.commit()
    if taken:
        log.warning("idempotent request %s abandoned, taken over by a retry", stored.id)
    return bool(taken)


def _find(merchant_id: int, key: str) -> IdempotentRequest | None:
    return db.session.scalar(
        select(IdempotentRequest).filter_by(merchant_id=merchant_id, key=key)
    )


def _replay(stored: IdempotentRequest, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise ApiProblem(
            422,
            f"This {HEADER} was used with another request in the last 24 hours; "
            "use a new key for a new request.",
            type_=IDEMPOTENCY_MISMATCH,
        )
    if stored.status_code is None:
        raise ApiProblem(
            409,
            f"A request with this {HEADER} is still being answered; retry later.",
            type_=IDEMPOTENCY_IN_PROGRESS,
            headers={"Retry-After": "1"},
        )
    headers = {"Idempotent-Replayed": "true"}
    if stored.location:
        headers["Location"] = stored.location
    log.info("idempotent request %s replayed", stored.id)
    return Response(
        stored.response_body,
        stored.status_code,
        headers=headers,
        mimetype="application/json",
    )


def _keep(merchant_id: int, key: str, response: Response) -> None:
    stored = _find(merchant_id, key)
    if stored is None:
        return
    stored.status_code = response.status_code
    stored.response_body = response.get_data(as_text=True)
    stored.location = response.headers.get("Location")
    db.session.commit()


def _release(merchant_id: int, key: str) -> None:
    db.session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.merchant_id == merchant_id,
            IdempotentRequest.key == key,
        )
    )
    db.session.commit()
