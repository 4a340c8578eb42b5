"""What the dashboard pages show, always scoped to one merchant."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import abort
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Device,
    Pass,
    PassType,
    PushAttempt,
    Registration,
    RegistrationRemoval,
    Template,
    WalletLogEntry,
    utcnow,
)
from app.push.service import SENT, UNREGISTERED

EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Overview:
    pass_types: int
    templates: int
    passes: int
    installs: int
    removals: int
    pushes_sent: int
    pushes_failed: int


def owned_or_404(model, object_id: int, merchant_id: int):
    """Return the merchant's object with that id, or answer 404."""
    found = db.session.get(model, object_id)
    if found is None or found.merchant_id != merchant_id:
        abort(404)
    return found


def overview(merchant_id: int, now: datetime | None = None) -> Overview:
    """Count the merchant's passes, installs, and last 30 days' removals and pushes."""
    since = (now or utcnow()) - timedelta(days=30)
    own_types = select(PassType.id).where(PassType.merchant_id == merchant_id)
    # Grouped by the column: PostgreSQL takes a selected `outcome = $1` and a
    # grouped `outcome = $2` for different expressions and refuses the query.
    pushes = dict(
        db.session.execute(
            select(PushAttempt.outcome, func.count(PushAttempt.id))
            .where(PushAttempt.pass_type_id.in_(own_types))
            .where(PushAttempt.created_at >= since)
            .group_by(PushAttempt.outcome)
        ).all()
    )
    pushes_sent = pushes.pop(SENT, 0)
    return Overview(
        pass_types=_count(select(func.count()).select_from(own_types.subquery())),
        templates=_count(
            select(func.count(Template.id)).where(Template.merchant_id == merchant_id)
        ),
        passes=_count(
            select(func.count(Pass.id)).where(Pass.pass_type_id.in_(own_types))
        ),
        installs=_count(
            select(func.count(Registration.id))
            .join(Registration.pass_)
            .where(Pass.pass_type_id.in_(own_types))
        ),
        removals=_count(
            select(func.count(RegistrationRemoval.id))
            .join(RegistrationRemoval.pass_)
            .where(Pass.pass_type_id.in_(own_types))
            .where(RegistrationRemoval.removed_at >= since)
        ),
        pushes_sent=pushes_sent,
        pushes_failed=sum(pushes.values()),
    )


def _count(query) -> int:
    return db.session.scalar(query) or 0


def pass_types(merchant_id: int) -> list[PassType]:
    """Return the merchant's pass types, newest first."""
    return list(
        db.session.scalars(
            select(PassType)
            .where(PassType.merchant_id == merchant_id)
            .order_by(PassType.id.desc())
        )
    )


def expires_soon(pass_type: PassType, now: datetime | None = None) -> bool:
    """Tell whether the certificate expires within the warning period."""
    return pass_type.certificate_expires_at - (now or utcnow()) <= EXPIRY_WARNING


def recent_pushes(pass_type: PassType, limit: int = 20) -> list[PushAttempt]:
    """Return the pass type's latest push outcomes, newest first."""
    return list(
        db.session.scalars(
            select(PushAttempt)
            .where(PushAttempt.pass_type_id == pass_type.id)
            .order_by(PushAttempt.id.desc())
            .limit(limit)
        )
    )


# After this many failed pushes in a row, the pass type's push is "failing".
FAILING_AFTER = 3
# Outcomes that show APNs took the push: 410 is an answer about the device.
REACHED_APNS = (SENT, UNREGISTERED)


@dataclass(frozen=True)
class PushState:
    text: str
    is_problem: bool


def push_state(pass_type: PassType) -> PushState:
    """Say how pushing for the pass type goes, from its latest outcomes.

    A problem APNs flagged (a refused certificate) comes first; otherwise the
    latest pushes decide: none yet, the last few all failed, or working.
    """
    if pass_type.push_problem:
        since = pass_type.push_problem_at
        when = f" (since {since:%Y-%m-%d %H:%M} UTC)" if since else ""
        return PushState(pass_type.push_problem + when, True)
    latest = recent_pushes(pass_type, limit=FAILING_AFTER)
    if not latest:
        return PushState("not tried yet: no push has been sent", False)
    failed = [push for push in latest if push.outcome not in REACHED_APNS]
    if len(failed) == len(latest):
        return PushState(f"failing: {_push_failure(latest[0])}", True)
    reached = next(push for push in latest if push.outcome in REACHED_APNS)
    text = f"working: APNs took a push at {reached.created_at:%Y-%m-%d %H:%M} UTC"
    if latest[0].outcome not in REACHED_APNS:
        return PushState(
            f"{text}, but the latest failed: {_push_failure(latest[0])}", True
        )
    return PushState(text, False)


def _push_failure(push: PushAttempt) -> str:
    if push.status_code:
        return f"APNs answered {push.status_code} {push.reason or ''}".rstrip()
    return push.reason or push.outcome


PASS_TYPE_LIST_LIMIT = 100
# Wallet log lines longer than this are cut on the page; the title keeps them whole.
LOG_LINE_PREVIEW = 300


def pass_type_registrations(pass_type: PassType, limit: int = PASS_TYPE_LIST_LIMIT):
    """Return the newest registrations for the pass type's passes and their total.

    Each row holds the registration, its device's library identifier and last
    check for updates, and the pass's id and serial number.
    """
    rows = db.session.execute(
        select(
            Registration,
            Device.library_identifier,
            Device.last_checked_at,
            Pass.id.label("pass_id"),
            Pass.serial_number,
        )
        .join(Registration.device)
        .join(Registration.pass_)
        .where(Pass.pass_type_id == pass_type.id)
        .order_by(Registration.created_at.desc(), Registration.id.desc())
        .limit(limit)
    ).all()
    total = _count(
        select(func.count(Registration.id))
        .join(Registration.pass_)
        .where(Pass.pass_type_id == pass_type.id)
    )
    return rows, total


def pass_type_wallet_log(pass_type: PassType, limit: int = PASS_TYPE_LIST_LIMIT):
    """Return the newest Wallet log lines about the pass type's passes.

    Each row holds the log entry and its pass's id and serial number.
    """
    return db.session.execute(
        select(WalletLogEntry, Pass.id.label("pass_id"), Pass.serial_number)
        .join(Pass, WalletLogEntry.pass_id == Pass.id)
        .where(Pass.pass_type_id == pass_type.id)
        .order_by(WalletLogEntry.received_at.desc(), WalletLogEntry.id.desc())
        .limit(limit)
    ).all()
