"""Mail batches: a delivery per pass, sent in chunks over one SMTP connection each.

Every delivery ends sent or failed with the reason: a pass without an email
address fails at once, a recipient the server refuses fails with the server's
answer and the batch goes on, and a chunk whose connection cannot be made or
is lost is tried again on a new one (MAIL_MAX_ATTEMPTS in all) before its
unsent deliveries fail with the connection's error. The job only sends
deliveries still queued, so running it again after a crash carries on where
it stopped.

A chunk's deliveries, passes, templates and links are loaded in a few
queries, its missing links are made in one flush and committed before any
email carries them, and outcomes are stored RECORD_EVERY at a time in one
commit each. A connection lost mid-chunk sends nothing twice: the outcomes
known so far are stored before a new connection sends the rest. A process that
dies mid-chunk may lose up to RECORD_EVERY outcomes of emails already sent,
and a re-run sends those again: at most RECORD_EVERY duplicates per crash.

Each email carries the pass's newest usable link of its own (not an order's)
that works for at least LINK_MIN_LIFETIME more, or else a new link without an
expiry: a customer emailed twice gets the same link, the pass page does not
fill up with links, and a link the merchant revoked is never sent again.
"""

import contextlib
import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_mailman import EmailMultiAlternatives
from flask_mailman.backends.base import BaseEmailBackend
from sqlalchemy import exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, selectinload

from app import jobs
from app.downloads.links import create_links, link_url
from app.extensions import db, mailer
from app.mail.compose import link_email
from app.models import (
    MAIL_FAILED,
    MAIL_QUEUED,
    MAIL_SENT,
    DownloadLink,
    DownloadLinkPass,
    MailBatch,
    MailDelivery,
    Merchant,
    Pass,
    PassType,
    utcnow,
)

log = logging.getLogger(__name__)

# Emails sent over one SMTP connection.
CHUNK = 50
# Outcomes stored per commit while a chunk is sent: at most this many emails
# go out twice if the process dies (bench/mail_batch.py --record-every).
RECORD_EVERY = 10
# Ids looked up per query: well under SQLite's limit on bound parameters.
ID_CHUNK = 500
LINK_MIN_LIFETIME = timedelta(days=7)
MAX_ERROR_LENGTH = 1000
NO_EMAIL = "no email address"
VOIDED = "the pass is voided"
# An SMTP server answers 421 when it is closing the connection: not the
# recipient's fault, so the chunk is tried again on a new connection.
CLOSING = 421


class ConnectionLost(Exception):
    """The SMTP connection failed in the middle of a chunk."""


class RepeatedMailRequest(Exception):
    """A batch was asked for with a nonce that already started one."""

    def __init__(self, batch_id: int):
        super().__init__(f"mail batch {batch_id} was started with this nonce")
        self.batch_id = batch_id


def start_mail_batch(
    merchant_id: int, pass_ids: list[int], actor: str, nonce: str | None = None
) -> MailBatch:
    """Record a delivery per pass and queue the job that emails their links.

    Passes without an email address, and voided ones, are recorded failed at
    once. Raises LookupError if a pass is not the merchant's, and
    RepeatedMailRequest if the merchant's nonce started a batch already.
    """
    ids = list(dict.fromkeys(pass_ids))
    found = _pass_rows(merchant_id, ids)
    missing = [pass_id for pass_id in ids if pass_id not in found]
    if missing:
        raise LookupError(f"passes {missing[:10]} are not the merchant's")

    batch = MailBatch(
        merchant_id=merchant_id,
        created_by=actor,
        total=len(ids),
        request_nonce=nonce,
    )
    db.session.add(batch)
    _claim_nonce(merchant_id, nonce)
    rows = []
    for pass_id in ids:
        email, is_voided = found[pass_id]
        error = NO_EMAIL if not email else VOIDED if is_voided else None
        rows.append(
            {
                "batch_id": batch.id,
                "pass_id": pass_id,
                "email": email,
                "status": MAIL_FAILED if error else MAIL_QUEUED,
                "error": error,
            }
        )
    if rows:
        db.session.execute(insert(MailDelivery), rows)
    batch.failed = sum(1 for row in rows if row["error"])
    if batch.failed == batch.total:
        batch.finished_at = utcnow()
    db.session.commit()

    log.info("mail batch %s of %s passes started by %s", batch.id, batch.total, actor)
    if batch.finished_at is None:
        jobs.enqueue("app.mail.batches.run_mail_batch", batch.id)
    return batch


def _claim_nonce(merchant_id: int, nonce: str | None) -> None:
    """Insert the new batch, whose nonce the unique constraint lets in once.

    Two requests at the same moment are ordered by the database: the second
    insert waits for the first to commit, then fails.
    """
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        earlier = None
        if nonce is not None:
            earlier = db.session.scalar(
                select(MailBatch.id).where(
                    MailBatch.merchant_id == merchant_id,
                    MailBatch.request_nonce == nonce,
                )
            )
        if earlier is None:
            raise
        raise RepeatedMailRequest(earlier) from None


def _pass_rows(merchant_id: int, ids: list[int]) -> dict[int, tuple[str | None, bool]]:
    """Return the email and voided flag of those of the passes the merchant owns."""
    rows: dict[int, tuple[str | None, bool]] = {}
    for start in range(0, len(ids), ID_CHUNK):
        query = (
            select(Pass.id, Pass.customer_email, Pass.is_voided)
            .join(Pass.pass_type)
            .where(
                PassType.merchant_id == merchant_id,
                Pass.id.in_(ids[start : start + ID_CHUNK]),
            )
        )
        rows.update(
            (pass_id, (email, is_voided))
            for pass_id, email, is_voided in db.session.execute(query)
        )
    return rows


def run_mail_batch(batch_id: int) -> None:
    """Email the links of the batch's queued deliveries, a chunk per connection."""
    batch = db.session.get(MailBatch, batch_id)
    if batch is None:
        return
    merchant = db.session.get(Merchant, batch.merchant_id)

    last_id = 0
    while deliveries := _queued(batch.id, after=last_id):
        last_id = deliveries[-1].id
        _send_chunk(batch, _compose(merchant, deliveries))

    batch.finished_at = utcnow()
    db.session.commit()
    log.info(
        "mail batch %s finished: %s sent, %s failed", batch.id, batch.sent, batch.failed
    )


def _queued(batch_id: int, *, after: int) -> list[MailDelivery]:
    """Return the next chunk of queued deliveries, with their passes loaded."""
    return list(
        db.session.scalars(
            select(MailDelivery)
            .where(
                MailDelivery.batch_id == batch_id,
                MailDelivery.status == MAIL_QUEUED,
                MailDelivery.id > after,
            )
            .order_by(MailDelivery.id)
            .limit(CHUNK)
            .options(
                joinedload(MailDelivery.pass_).options(
                    selectinload(Pass.template), selectinload(Pass.pass_type)
                )
            )
        )
    )


@dataclass
class _Email:
    """A delivery's email, and how sending it went while that is not yet stored."""

    delivery_id: int
    link_id: int
    message: EmailMultiAlternatives
    status: str = MAIL_QUEUED
    error: str | None = None
    sent_at: datetime | None = None


def _compose(merchant: Merchant, deliveries: list[MailDelivery]) -> list[_Email]:
    """Compose the deliveries' emails, after saving the links they lack."""
    links = _links_for([delivery.pass_ for delivery in deliveries])
    emails = []
    for delivery in deliveries:
        link = links[delivery.pass_id]
        url = link_url(link)
        message = link_email(delivery.pass_, merchant, delivery.email, url)
        emails.append(_Email(delivery.id, link.id, message))
    # Before any email carries a new link, so a crash cannot leave a dead one.
    db.session.commit()
    return emails


def _links_for(passes: list[Pass]) -> dict[int, DownloadLink]:
    """Return each pass's newest own link that works for a while yet, or a new one.

    The links are looked up in one query; the missing ones are created in one
    flush, for the caller to commit.
    """
    usable_until = utcnow() + LINK_MIN_LIFETIME
    other = aliased(DownloadLinkPass)
    shared = exists().where(
        other.link_id == DownloadLinkPass.link_id,
        other.pass_id != DownloadLinkPass.pass_id,
    )
    rows = db.session.execute(
        select(DownloadLinkPass.pass_id, DownloadLink)
        .join(DownloadLink, DownloadLink.id == DownloadLinkPass.link_id)
        .where(
            DownloadLinkPass.pass_id.in_([pass_.id for pass_ in passes]),
            ~shared,
            DownloadLink.revoked_at.is_(None),
            or_(
                DownloadLink.expires_at.is_(None),
                DownloadLink.expires_at > usable_until,
            ),
        )
        .order_by(DownloadLink.id)
    )
    # Oldest first, so each pass ends up with its newest.
    links = {pass_id: link for pass_id, link in rows}

    lacking = [pass_ for pass_ in passes if pass_.id not in links]
    for pass_, link in zip(lacking, create_links(lacking), strict=True):
        links[pass_.id] = link
    return links


def _send_chunk(batch: MailBatch, emails: list[_Email]) -> None:
    """Send the chunk over one connection, on a new one if it fails, a few times."""
    attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    delay = current_app.config["MAIL_RETRY_DELAY"]
    reason = ""
    for attempt in range(1, attempts + 1):
        unsent = [email for email in emails if email.status == MAIL_QUEUED]
        try:
            _send_over_one_connection(batch, unsent)
            return
        except (OSError, ConnectionLost) as error:
            # smtplib's errors are OSErrors too: refused, timed out, cut off.
            lost = isinstance(error, ConnectionLost) and error.__cause__
            reason = _describe(lost or error)
            log.warning(
                "mail batch %s: connection %s of %s failed: %s",
                batch.id,
                attempt,
                attempts,
                reason,
            )
        if attempt < attempts:
            time.sleep(delay * 2 ** (attempt - 1))
    _fail_queued(
        batch,
        [email.delivery_id for email in emails if email.status == MAIL_QUEUED],
        f"could not send through the mail server: {reason}",
    )


def _send_over_one_connection(batch: MailBatch, emails: list[_Email]) -> None:
    """Send the emails, storing their outcomes RECORD_EVERY at a time.

    Outcomes known when the connection fails are stored before the error
    goes on, so a new connection only sends the rest.
    """
    connection = mailer.get_connection()
    connection.open()
    done: list[_Email] = []
    try:
        for email in emails:
            _send_one(connection, email)
            done.append(email)
            if len(done) == RECORD_EVERY:
                _record(batch, done)
                done = []
    finally:
        _record(batch, done)
        with contextlib.suppress(OSError):
            connection.close()


def _send_one(connection: BaseEmailBackend, email: _Email) -> None:
    """Send one email and note how it went, or raise ConnectionLost."""
    try:
        connection.send_messages([email.message])
    except smtplib.SMTPRecipientsRefused as error:
        # One recipient per message, so the refusal is this delivery's.
        code, text = next(iter(error.recipients.values()))
        if code == CLOSING:
            raise ConnectionLost from error
        email.status, email.error = MAIL_FAILED, f"{code} {_decode(text)}"
    except smtplib.SMTPResponseException as error:
        # The server refused the sender or the message itself (size, content).
        if error.smtp_code == CLOSING:
            raise ConnectionLost from error
        email.status, email.error = MAIL_FAILED, _describe(error)
    except smtplib.SMTPNotSupportedError as error:
        # An address that needs SMTPUTF8 from a server without it.
        email.status, email.error = MAIL_FAILED, _describe(error)
    except ValueError as error:
        # An address or header the message cannot carry.
        email.status, email.error = MAIL_FAILED, str(error)
    else:
        email.status, email.sent_at = MAIL_SENT, utcnow()


def _record(batch: MailBatch, emails: list[_Email]) -> None:
    """Store the emails' outcomes and count them in the batch, in one commit."""
    if not emails:
        return
    db.session.execute(
        update(MailDelivery),
        [
            {
                "id": email.delivery_id,
                "status": email.status,
                "error": email.error[:MAX_ERROR_LENGTH] if email.error else None,
                "link_id": email.link_id if email.status == MAIL_SENT else None,
                "sent_at": email.sent_at,
            }
            for email in emails
        ],
    )
    sent = sum(1 for email in emails if email.status == MAIL_SENT)
    db.session.execute(
        update(MailBatch)
        .where(MailBatch.id == batch.id)
        .values(
            sent=MailBatch.sent + sent,
            failed=MailBatch.failed + len(emails) - sent,
        )
    )
    db.session.commit()
    for email in emails:
        if email.status == MAIL_FAILED:
            log.info(
                "mail delivery %s of batch %s failed: %s",
                email.delivery_id,
                batch.id,
                email.error,
            )


def _fail_queued(batch: MailBatch, delivery_ids: list[int], reason: str) -> None:
    """Record the chunk's unsent deliveries failed for the reason given."""
    failed = db.session.execute(
        update(MailDelivery)
        .where(MailDelivery.id.in_(delivery_ids), MailDelivery.status == MAIL_QUEUED)
        .values(status=MAIL_FAILED, error=reason[:MAX_ERROR_LENGTH])
    ).rowcount
    batch.failed = MailBatch.failed + failed
    db.session.commit()
    log.warning("mail batch %s: %s deliveries failed: %s", batch.id, failed, reason)


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return f"{code} {_decode(text)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decode(error.smtp_error)}"
    return str(error) or type(error).__name__


def _decode(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text
