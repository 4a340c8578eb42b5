"""Fanning a pass change out to every registered device, and recording how it went."""

import hashlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import delete, func, insert, select

from app.certificates import CertificateError
from app.extensions import db
from app.models import (
    REMOVED_AFTER_410,
    REMOVED_BAD_DEVICE_TOKEN,
    Device,
    Pass,
    PassType,
    PushAttempt,
    Registration,
    RegistrationRemoval,
    utcnow,
)
from app.passes.service import signed_bundle, signing_identity
from app.push.apns import APNsClient, PushResult
from app.webhooks import events

log = logging.getLogger(__name__)

CHUNK = 500

SENT = "sent"
UNREGISTERED = "unregistered"
BAD_DEVICE_TOKEN = "bad_device_token"
CERTIFICATE_REJECTED = "certificate_rejected"
FAILED = "failed"
# Every outcome of a push, in the order summaries list them.
OUTCOMES = (SENT, FAILED, UNREGISTERED, BAD_DEVICE_TOKEN, CERTIFICATE_REJECTED)


@dataclass(frozen=True)
class PushSummary:
    """How pushing some passes went: the tokens pushed to, and each outcome."""

    push_tokens: int = 0
    outcomes: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        """Return the token count and the count of every outcome, zeros too."""
        counts = {outcome: self.outcomes[outcome] for outcome in OUTCOMES}
        return {"push_tokens": self.push_tokens, **counts}


class ClientRegistry:
    """One APNs client per pass type certificate, kept for connection reuse."""

    def __init__(self):
        self._clients: dict[tuple[int, bytes], APNsClient] = {}
        self._lock = threading.Lock()

    def get(self, pass_type: PassType) -> APNsClient:
        """Return the pass type's client, made on first use."""
        fingerprint = hashlib.sha256(pass_type.certificate_pem).digest()
        key = (pass_type.id, fingerprint)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                identity = signing_identity(pass_type)
                config = current_app.config
                client = APNsClient(
                    identity.certificate_pem(),
                    identity.private_key_pem(),
                    host=config["APNS_HOST"],
                    port=config["APNS_PORT"],
                    ca_bundle=config["APNS_CA_BUNDLE"],
                    timeout=config["APNS_TIMEOUT"],
                    max_attempts=config["APNS_MAX_ATTEMPTS"],
                    retry_delay=config["APNS_RETRY_DELAY"],
                    connections=config["APNS_CONNECTIONS"],
                )
                self._close_older(pass_type.id)
                self._clients[key] = client
            return client

    def _close_older(self, pass_type_id: int) -> None:
        """Close the pass type's clients made for a certificate now replaced."""
        for key in [k for k in self._clients if k[0] == pass_type_id]:
            self._clients.pop(key).close()

    def close(self) -> None:
        """Close every client's connections and forget the clients."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def outcome_of(result: PushResult) -> str:
    """Classify APNs's answer as PASSKIT.md §2 describes."""
    if result.is_success:
        return SENT
    if result.status_code == 410:
        return UNREGISTERED
    if result.status_code == 400 and result.reason == "BadDeviceToken":
        return BAD_DEVICE_TOKEN
    if result.status_code == 403:
        return CERTIFICATE_REJECTED
    return FAILED


def push_passes_now(passes: list[Pass]) -> PushSummary:
    """Re-sign the passes that have devices, push to them now, and sum it up.

    Unlike the background job (push_pass_updates), the caller waits for APNs,
    so it can tell how the pushes went.
    """
    pass_ids = [pass_.id for pass_ in passes]
    if not pass_ids:
        return PushSummary()
    tokens, with_devices = db.session.execute(
        select(
            func.count(func.distinct(Registration.push_token)),
            func.count(func.distinct(Registration.pass_id)),
        ).where(Registration.pass_id.in_(pass_ids))
    ).one()
    if not tokens:
        return PushSummary()

    registered = set(
        db.session.scalars(
            select(Registration.pass_id).where(Registration.pass_id.in_(pass_ids))
        )
    )
    for pass_ in passes:
        if pass_.id in registered:
            _sign_for_fetch(pass_)
    log.info("pushing %s passes with devices (%s tokens)", with_devices, tokens)
    return PushSummary(tokens, push_pass_updates(pass_ids))


def _sign_for_fetch(pass_: Pass) -> None:
    """Sign the pass now: its devices fetch it right after the push."""
    try:
        signed_bundle(pass_)
    except Exception:
        # The device's fetch signs it again and fails there; the push still goes.
        log.exception("could not sign pass %s", pass_.serial_number)
        db.session.rollback()


def push_pass_updates(pass_ids: list[int]) -> Counter:
    """Push once per push token registered for any of the passes."""
    targets: dict[int, dict[str, int]] = {}
    for start in range(0, len(pass_ids), CHUNK):
        rows = db.session.execute(
            select(Pass.pass_type_id, Registration.push_token, Registration.device_id)
            .join(Registration.pass_)
            .where(Registration.pass_id.in_(pass_ids[start : start + CHUNK]))
        )
        for pass_type_id, token, device_id in rows:
            targets.setdefault(pass_type_id, {})[token] = device_id

    outcomes: Counter = Counter()
    for pass_type_id, tokens in targets.items():
        pass_type = db.session.get_one(PassType, pass_type_id)
        outcomes += push_to_tokens(pass_type, tokens)
    return outcomes


def push_to_tokens(pass_type: PassType, tokens: dict[str, int]) -> Counter:
    """Push to the tokens (token → device id) of one pass type and record it."""
    try:
        client = current_app.extensions["passline.apns"].get(pass_type)
    except CertificateError as exc:
        _set_problem(pass_type, str(exc))
        db.session.commit()
        return Counter()
    results = client.send_notification_batch(tokens, pass_type.pass_type_identifier)
    outcomes = {token: outcome_of(result) for token, result in results.items()}
    # Described now: the registrations of dead tokens are removed below.
    failures = events.push_failures(
        pass_type, {t: o for t, o in outcomes.items() if o != SENT}, results
    )

    db.session.execute(
        insert(PushAttempt),
        [
            {
                "pass_type_id": pass_type.id,
                "device_id": tokens[token],
                "push_token_suffix": token[-8:],
                "outcome": outcomes[token],
                "status_code": result.status_code,
                "reason": result.reason,
                "apns_id": result.apns_id,
                "attempts": result.attempts,
            }
            for token, result in results.items()
        ],
    )
    dead = {UNREGISTERED: REMOVED_AFTER_410}
    if SENT in outcomes.values():
        # The others prove the host and certificate right, so BadDeviceToken
        # names a dead token (a sandbox one, say): stop pushing to it.
        dead[BAD_DEVICE_TOKEN] = REMOVED_BAD_DEVICE_TOKEN
    gone = {
        token: dead[outcome] for token, outcome in outcomes.items() if outcome in dead
    }
    removed = remove_registrations(pass_type, gone) if gone else []
    _flag_problems(pass_type, results, outcomes)
    db.session.commit()
    events.passes_removed(pass_type, removed)
    events.emit(pass_type.merchant_id, events.PUSH_FAILED, failures)

    counts = Counter(outcomes.values())
    log.info(
        "pushed pass type %s: %s",
        pass_type.pass_type_identifier,
        ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())),
    )
    return counts


def remove_registrations(
    pass_type: PassType, reasons: dict[str, str]
) -> list[tuple[str, str, str]]:
    """Drop the pass type's registrations of tokens APNs called dead.

    `reasons` maps each dead push token to why its registrations go; one
    RegistrationRemoval is recorded per registration dropped. Returns them as
    (serial number, device library identifier, reason); the caller commits.
    """
    passes_of_type = select(Pass.id).where(Pass.pass_type_id == pass_type.id)
    tokens = list(reasons)
    removed = []
    for start in range(0, len(tokens), CHUNK):
        removed += db.session.execute(
            select(
                Registration.id,
                Registration.pass_id,
                Registration.push_token,
                Device.library_identifier,
                Pass.serial_number,
            )
            .join(Registration.device)
            .join(Registration.pass_)
            .where(Registration.push_token.in_(tokens[start : start + CHUNK]))
            .where(Registration.pass_id.in_(passes_of_type))
        ).all()
    if not removed:
        return []

    ids = [row.id for row in removed]
    for start in range(0, len(ids), CHUNK):
        db.session.execute(
            delete(Registration).where(Registration.id.in_(ids[start : start + CHUNK]))
        )
    now = utcnow()
    db.session.execute(
        insert(RegistrationRemoval),
        [
            {
                "pass_id": row.pass_id,
                "library_identifier": row.library_identifier,
                "reason": reasons[row.push_token],
                "removed_at": now,
            }
            for row in removed
        ],
    )
    delete_idle_devices()
    return [
        (row.serial_number, row.library_identifier, reasons[row.push_token])
        for row in removed
    ]


def delete_idle_devices() -> None:
    """Delete devices left without any registration."""
    db.session.execute(delete(Device).where(~Device.registrations.any()))


def _flag_problems(
    pass_type: PassType, results: dict[str, PushResult], outcomes: dict[str, str]
) -> None:
    """Record a push problem the batch reveals, or clear one now fixed."""
    values = list(outcomes.values())
    if values and all(outcome == BAD_DEVICE_TOKEN for outcome in values):
        # Every token failing at once means the host or certificate is wrong,
        # not that every device vanished: keep the registrations.
        _set_problem(
            pass_type,
            "APNs answered BadDeviceToken for every device: check that APNS_HOST "
            "is the production host and the certificate is the pass type's.",
        )
    elif CERTIFICATE_REJECTED in values:
        reason = next(
            r.reason for t, r in results.items() if outcomes[t] == CERTIFICATE_REJECTED
        )
        _set_problem(pass_type, f"APNs refused the certificate ({reason}).")
    elif SENT in values and pass_type.push_problem:
        pass_type.push_problem = None
        pass_type.push_problem_at = None


def _set_problem(pass_type: PassType, problem: str) -> None:
    log.error("pass type %s cannot push: %s", pass_type.pass_type_identifier, problem)
    pass_type.push_problem = problem
    pass_type.push_problem_at = utcnow()
