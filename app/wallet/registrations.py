"""Device registrations, updated serials and Wallet's log lines."""

import logging
import re
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    REMOVED_BY_DEVICE,
    Device,
    Pass,
    PassType,
    Registration,
    RegistrationRemoval,
    WalletLogEntry,
    utcnow,
)
from app.push.service import delete_idle_devices
from app.webhooks import events

log = logging.getLogger(__name__)

# Wallet's log lines name the pass like this:
# "... (for device 8f2…, pass type pass.com.example, serial number 1234; ...)"
_PASS_IN_LOG = re.compile(r"pass type ([\w.-]+), serial number ([^\s;,)]+)")
MAX_LOG_LINES = 100
MAX_LOG_LINE = 4000
# Check-in and fetch times are kept to this: one write a minute at most per
# device or pass, however often Wallet polls.
SEEN_EVERY = timedelta(minutes=1)


def find_pass(pass_type_identifier: str, serial_number: str) -> Pass | None:
    """Return the pass with this type identifier and serial number, or None."""
    return db.session.scalar(
        select(Pass)
        .join(Pass.pass_type)
        .where(PassType.pass_type_identifier == pass_type_identifier)
        .where(Pass.serial_number == serial_number)
    )


def register_device(library_identifier: str, pass_: Pass, push_token: str) -> bool:
    """Register the device for the pass; True when the registration is new.

    An existing registration keeps its row and takes the new push token.
    """
    for attempt in range(2):
        try:
            created = _register(library_identifier, pass_, push_token)
        except IntegrityError:
            # A concurrent call created the same device or registration.
            db.session.rollback()
            if attempt:
                raise
        else:
            if created:
                events.pass_installed(pass_, library_identifier)
            return created
    raise AssertionError("unreachable")


def _register(library_identifier: str, pass_: Pass, push_token: str) -> bool:
    device = db.session.scalar(
        select(Device).filter_by(library_identifier=library_identifier)
    )
    if device is None:
        device = Device(library_identifier=library_identifier)
        db.session.add(device)
        db.session.flush()
    registration = db.session.scalar(
        select(Registration).filter_by(device_id=device.id, pass_id=pass_.id)
    )
    created = registration is None
    if created:
        db.session.add(Registration(device=device, pass_=pass_, push_token=push_token))
    else:
        registration.push_token = push_token
    db.session.commit()
    log.info(
        "device …%s %s for pass %s",
        library_identifier[-6:],
        "registered" if created else "re-registered",
        pass_.serial_number,
    )
    return created


def unregister_device(library_identifier: str, pass_: Pass) -> bool:
    """Remove the device's registration for the pass, and record it.

    Return True if there was one.
    """
    registration = db.session.scalar(
        select(Registration)
        .join(Registration.device)
        .where(Device.library_identifier == library_identifier)
        .where(Registration.pass_id == pass_.id)
    )
    if registration is None:
        return False
    db.session.add(
        RegistrationRemoval(
            pass_id=pass_.id,
            library_identifier=library_identifier,
            reason=REMOVED_BY_DEVICE,
        )
    )
    db.session.delete(registration)
    db.session.flush()
    delete_idle_devices()
    db.session.commit()
    log.info(
        "device …%s unregistered from pass %s",
        library_identifier[-6:],
        pass_.serial_number,
    )
    events.passes_removed(
        pass_.pass_type,
        [(pass_.serial_number, library_identifier, REMOVED_BY_DEVICE)],
    )
    return True


def updated_serials(
    library_identifier: str, pass_type_identifier: str, since: int | None
) -> tuple[list[str], int] | None:
    """Return the device's passes changed after the tag, and the newest tag.

    None when nothing matches (the device is unknown, has no passes of the
    type, or none changed).
    """
    query = (
        select(Pass.serial_number, Pass.update_tag)
        .join(Registration.pass_)
        .join(Registration.device)
        .join(Pass.pass_type)
        .where(Device.library_identifier == library_identifier)
        .where(PassType.pass_type_identifier == pass_type_identifier)
        .order_by(Pass.update_tag)
    )
    if since is not None:
        query = query.where(Pass.update_tag > since)
    rows = db.session.execute(query).all()
    if not rows:
        return None
    return [serial for serial, _ in rows], rows[-1].update_tag


def note_device_check(library_identifier: str) -> None:
    """Record that the device asked which of its passes changed."""
    now = utcnow()
    db.session.execute(
        update(Device)
        .where(Device.library_identifier == library_identifier)
        .where(
            or_(
                Device.last_checked_at.is_(None),
                Device.last_checked_at <= now - SEEN_EVERY,
            )
        )
        .values(last_checked_at=now)
    )
    db.session.commit()


def note_pass_fetch(pass_: Pass) -> None:
    """Record that a device fetched the pass (sent or not modified)."""
    now = utcnow()
    if pass_.last_fetched_at is None or pass_.last_fetched_at <= now - SEEN_EVERY:
        db.session.execute(
            update(Pass).where(Pass.id == pass_.id).values(last_fetched_at=now)
        )
        db.session.commit()


def store_logs(lines: list[str]) -> None:
    """Keep Wallet's first 100 log lines, each linked to the pass it names."""
    entries = []
    for line in lines[:MAX_LOG_LINES]:
        # NUL and lone surrogates (valid JSON escapes) cannot be stored as text.
        line = line.replace("\x00", "").encode("utf-8", "replace").decode()
        match = _PASS_IN_LOG.search(line)
        # "serial number 123: error" ends the serial at the colon too.
        pass_ = find_pass(match[1], match[2].rstrip(":")) if match else None
        entries.append(
            WalletLogEntry(message=line[:MAX_LOG_LINE], pass_id=pass_ and pass_.id)
        )
    db.session.add_all(entries)
    db.session.commit()
