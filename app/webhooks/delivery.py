"""Sending webhook deliveries: signed POSTs, retried with back-off.

The database is the schedule: a pending delivery is due at next_attempt_at.
`deliver_due` claims the due ones (pushing next_attempt_at past the time
sending them may take, so two workers never send one twice), POSTs each, and
records the answer. A failure is retried after the next of
WEBHOOK_RETRY_DELAYS; after the last, the delivery is failed.

Who runs `deliver_due`: the job each new event queues; a timer in the process
that last sent, set for the earliest retry due (it queues the job on whatever
JOB_QUEUE is in use, so it works with the thread worker and RQ alike); and
`flask webhooks-retry`, which catches up after a restart.
"""

import json
import logging
import threading
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta

import httpx
from flask import Flask, current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from app import jobs
from app.extensions import db
from app.models import (
    WEBHOOK_DELIVERED,
    WEBHOOK_FAILED,
    WEBHOOK_PENDING,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from app.webhooks.events import DELIVER_JOB, TEST
from app.webhooks.signing import SIGNATURE_HEADER, SecretError, decrypt_secret
from app.webhooks.signing import signature as sign
from app.webhooks.urls import WebhookURLError, check_url, vetted_addresses

log = logging.getLogger(__name__)

PAGE = 20
# Bytes of an endpoint's answer kept to show the merchant.
ANSWER_PREVIEW = 300
USER_AGENT = "Passline-Webhooks/1"


def deliver_due(*, arm_timer: bool = True) -> Counter:
    """Send every delivery due now; return how many ended delivered, pending, failed.

    An endpoint that failed holds its other deliveries until its retry, so a
    slow or broken URL costs one timeout per retry, not one per event. A
    delivery whose endpoint is removed while it is sent is skipped: its row is
    gone with the endpoint.
    """
    started = utcnow()
    # Endpoint id → when it retries: set by a failure in this run (holding
    # every delivery), or found waiting from an earlier run (holding new ones).
    failed_now: dict[int, datetime] = {}
    waiting: dict[int, datetime | None] = {}
    counts: Counter = Counter()
    with closing(_Clients(current_app.config["WEBHOOK_TIMEOUT"])) as clients:
        while batch := _claim(started):
            claimed = [delivery.id for delivery in batch]
            for delivery_id, delivery in zip(claimed, batch, strict=True):
                try:
                    endpoint_id = delivery.endpoint_id
                    hold = failed_now.get(endpoint_id)
                    if hold is None and delivery.attempts == 0:
                        if endpoint_id not in waiting:
                            waiting[endpoint_id] = _retry_time(endpoint_id, claimed)
                        hold = waiting[endpoint_id]
                    if hold is not None:
                        delivery.next_attempt_at = hold
                    else:
                        _attempt(clients, delivery)
                    # Read before the commit expires the row, which may vanish.
                    status, retry_at = delivery.status, delivery.next_attempt_at
                    db.session.commit()
                except (DeliveryGone, ObjectDeletedError, StaleDataError):
                    db.session.rollback()
                    log.info("webhook delivery %s gone with its endpoint", delivery_id)
                    continue
                if hold is None:
                    counts[status] += 1
                    if status == WEBHOOK_PENDING:
                        failed_now[endpoint_id] = retry_at
    if arm_timer:
        next_due = next_retry_at()
        if next_due is not None:
            retry_timer().arm(next_due)
    return counts


class DeliveryGone(Exception):
    """The delivery's endpoint was removed after the delivery was claimed."""


class _Clients:
    """HTTP clients by host name, closed together.

    Requests go to an address, not a name (see `_post`): one client per name
    keeps a connection whose certificate was checked for one host from
    carrying another host's requests to the same address.
    """

    def __init__(self, timeout: float):
        self._timeout = timeout
        self._clients: dict[str, httpx.Client] = {}
        # Loaded once for every host (SSL_CERT_FILE or SSL_CERT_DIR, else
        # certifi's bundle).
        self._tls = httpx.create_ssl_context(trust_env=True)

    def for_host(self, host: str) -> httpx.Client:
        """Return the client for requests to the host, made on first use."""
        if host not in self._clients:
            # No proxies from the environment: the request must go to the
            # address checked, and a tunnelling proxy would check the
            # certificate against that address instead of the name.
            self._clients[host] = httpx.Client(
                verify=self._tls,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                trust_env=False,
            )
        return self._clients[host]

    def close(self) -> None:
        """Close every client's connections."""
        for client in self._clients.values():
            client.close()


def _retry_time(endpoint_id: int, claimed: list[int]) -> datetime | None:
    """Return when the endpoint retries a failed delivery, if one is waiting."""
    return db.session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.id.not_in(claimed),
            WebhookDelivery.status == WEBHOOK_PENDING,
            WebhookDelivery.last_error.is_not(None),
            WebhookDelivery.next_attempt_at > utcnow(),
        )
    )


def _sendable():
    """Deliveries of active endpoints, and test events whatever the state."""
    return or_(WebhookEndpoint.is_active.is_(True), WebhookDelivery.event_type == TEST)


def _claim(due_by: datetime) -> list[WebhookDelivery]:
    """Take up to a page of deliveries due by then, for the time sending takes."""
    now = utcnow()
    lease = timedelta(seconds=PAGE * (current_app.config["WEBHOOK_TIMEOUT"] + 1) + 60)
    due = (
        select(WebhookDelivery.id)
        .join(WebhookDelivery.endpoint)
        .where(
            WebhookDelivery.status == WEBHOOK_PENDING,
            WebhookDelivery.next_attempt_at <= due_by,
            _sendable(),
        )
        .order_by(WebhookDelivery.id)
        .limit(PAGE)
    )
    # The conditions again: PostgreSQL re-checks them on rows another worker
    # claimed meanwhile, which the subquery's snapshot would not see.
    ids = db.session.scalars(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id.in_(due),
            WebhookDelivery.status == WEBHOOK_PENDING,
            WebhookDelivery.next_attempt_at <= due_by,
        )
        .values(next_attempt_at=now + lease)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        )
    )


def _attempt(clients: _Clients, delivery: WebhookDelivery) -> None:
    """POST the delivery once and record the answer on its row."""
    endpoint = delivery.endpoint
    if endpoint is None:
        raise DeliveryGone(delivery.id)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    delivery.attempts += 1
    delivery.last_attempt_at = utcnow()
    status_code = None
    try:
        secret = decrypt_secret(
            endpoint.secret_encrypted, current_app.config["KEY_ENCRYPTION_KEY"]
        )
        check_url(endpoint.url, resolve=False)
        headers = {
            "Content-Type": "application/json",
            "Passline-Event-Id": delivery.event_id,
            "Passline-Event-Type": delivery.event_type,
            SIGNATURE_HEADER: sign(secret, body),
        }
        status_code, error = _post(clients, endpoint.url, body, headers)
    except (SecretError, WebhookURLError) as exc:
        error = str(exc)
    except httpx.InvalidURL as exc:
        error = f"The URL cannot be sent to: {exc}"[:ANSWER_PREVIEW]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:ANSWER_PREVIEW]

    delivery.last_status_code = status_code
    delivery.last_error = error
    if error is None:
        _finish(delivery, WEBHOOK_DELIVERED)
        delivery.delivered_at = delivery.last_attempt_at
    else:
        _schedule_retry(delivery)
    log.info(
        "webhook delivery %s (%s) to endpoint %s: %s, attempt %s",
        delivery.id,
        delivery.event_type,
        delivery.endpoint_id,
        status_code or "no answer",
        delivery.attempts,
    )


def _post(
    clients: _Clients, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str | None]:
    """POST to the URL's host at an address checked; return the status and error.

    The host is looked up once and the connection made to an address of that
    answer, never to the name, which a second look-up could resolve elsewhere
    (DNS rebinding). The Host header and the TLS server name, which the
    certificate is checked against, stay the URL's host. An address that
    refuses the connection passes the request on to the next one.
    """
    *others, last = vetted_addresses(url)
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    http = clients.for_host(host)
    headers = {**headers, "Host": target.netloc.decode("ascii")}

    def post_to(address: str) -> tuple[int, str | None]:
        with http.stream(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers=headers,
            extensions={"sni_hostname": host},
        ) as answer:
            error = None if answer.is_success else _describe(answer)
            return answer.status_code, error

    for address in others:
        try:
            return post_to(address)
        except httpx.ConnectError as exc:
            log.info("webhook host %s at %s: %s", host, address, exc)
    return post_to(last)


def _describe(answer: httpx.Response) -> str:
    """Return the status and the start of the body of an answer that is not 2xx."""
    start = b""
    for chunk in answer.iter_bytes():
        start += chunk
        if len(start) >= ANSWER_PREVIEW:
            break
    text = start[:ANSWER_PREVIEW].decode("utf-8", "replace").strip()
    return f"HTTP {answer.status_code}" + (f": {text}" if text else "")


def _schedule_retry(delivery: WebhookDelivery) -> None:
    delays = current_app.config["WEBHOOK_RETRY_DELAYS"]
    if delivery.attempts > len(delays):
        _finish(delivery, WEBHOOK_FAILED)
        log.warning(
            "webhook delivery %s to endpoint %s failed after %s attempts",
            delivery.id,
            delivery.endpoint_id,
            delivery.attempts,
        )
        return
    delay = timedelta(seconds=delays[delivery.attempts - 1])
    delivery.next_attempt_at = delivery.last_attempt_at + delay


def _finish(delivery: WebhookDelivery, status: str) -> None:
    delivery.status = status
    delivery.next_attempt_at = None


def retry_now(delivery: WebhookDelivery) -> None:
    """Make a delivery due now, for one more attempt, and queue sending it."""
    delivery.status = WEBHOOK_PENDING
    delivery.next_attempt_at = utcnow()
    db.session.commit()
    jobs.enqueue(DELIVER_JOB)


def next_retry_at() -> datetime | None:
    """Return when the earliest pending delivery of an active endpoint is due."""
    return db.session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(WebhookDelivery.endpoint)
        .where(WebhookDelivery.status == WEBHOOK_PENDING, _sendable())
    )


class RetryTimer:
    """One timer per process that queues `deliver_due` when a retry falls due."""

    def __init__(self, app: Flask):
        self._app = app
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._at: datetime | None = None
        self._closed = False

    def arm(self, at: datetime) -> None:
        """Wake at `at` (naive UTC), unless already set to wake earlier."""
        with self._lock:
            if self._closed or (self._timer is not None and self._at <= at):
                return
            if self._timer is not None:
                self._timer.cancel()
            delay = max(0.0, (at - utcnow()).total_seconds())
            self._timer = threading.Timer(delay, self._fire)
            self._timer.daemon = True
            self._at = at
            self._timer.start()

    def close(self) -> None:
        """Cancel the timer and set no other (the app is going away)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        with self._lock:
            self._timer = self._at = None
            if self._closed:
                return
        try:
            with self._app.app_context():
                jobs.enqueue(DELIVER_JOB)
        except Exception:
            # The deliveries stay due: the next event or `flask webhooks-retry`
            # sends them.
            log.exception("webhook retries not queued")


def retry_timer() -> RetryTimer:
    """Return this app's retry timer, made on first use."""
    extensions = current_app.extensions
    if "passline.webhook_timer" not in extensions:
        extensions["passline.webhook_timer"] = RetryTimer(
            current_app._get_current_object()  # type: ignore[attr-defined]
        )
    return extensions["passline.webhook_timer"]
