"""Webhooks: signed events POSTed to a receiver on loopback, retried when it fails."""

import hashlib
import hmac
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from redis import Redis
from rq import Queue
from sqlalchemy import select

from app import jobs
from app.certificates import private_key_pem
from app.devchain import issue_certificate
from app.extensions import db
from app.merchants import create_merchant
from app.models import (
    AuditEntry,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from app.passes import service
from app.webhooks import endpoints, signing
from app.webhooks.delivery import deliver_due, retry_timer
from app.webhooks.events import EVENT_TYPES
from app.webhooks.urls import WebhookURLError, check_url
from tests.conftest import csrf_token
from tests.test_wallet_device import WalletDevice

DEVICE = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PUSH_TOKEN = "e7" * 32
ALL_EVENTS = list(EVENT_TYPES)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Receiver:
    """An HTTP(S) server on loopback that records each POST and answers as told."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.failures_left = 0
        self.failure = (500, b"receiver is down")
        self.delay = 0.0
        # Called with each request recorded, before the answer is sent.
        self.on_post = None
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._arrived:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    failing = receiver.failures_left > 0
                    receiver.failures_left -= failing
                    receiver._arrived.notify_all()
                if receiver.on_post is not None:
                    receiver.on_post(receiver.requests[-1])
                time.sleep(receiver.delay)
                status, answer = receiver.failure if failing else (204, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks/passline"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}
        )
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def types(self) -> list[str]:
        return [p["type"] for p in self.payloads()]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(autouse=True)
def quick_retries(app):
    """Short retry delays; no retry timer outlives the test's app."""
    app.config["WEBHOOK_RETRY_DELAYS"] = [0.05, 0.05]
    yield
    jobs.join()
    retry_timer().close()
    jobs.join()


@pytest.fixture
def endpoint(merchant, receiver):
    return endpoints.create_endpoint(
        merchant.id, receiver.url, ALL_EVENTS, actor="test"
    )


def _deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    )


def _settle(done=lambda: True, timeout: float = 5.0) -> None:
    """Wait for the queued jobs (and retries) until `done()` holds."""
    deadline = time.monotonic() + timeout
    while True:
        jobs.join()
        db.session.expire_all()
        if done():
            return
        assert time.monotonic() < deadline, "webhook deliveries did not settle"
        time.sleep(0.02)


def _all_finished() -> bool:
    return all(d.status != "pending" for d in _deliveries())


def _independent_mac(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of "t." + body, computed here as a receiver would."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _assert_signed(request: dict, secret: str) -> None:
    header = request["headers"]["Passline-Signature"]
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match, header
    assert abs(int(match[1]) - time.time()) < 60
    assert match[2] == _independent_mac(secret, match[1], request["body"])
    assert signing.verify(secret, header, request["body"])
    assert not signing.verify("another secret", header, request["body"])
    assert not signing.verify(secret, header, request["body"] + b" ")


# Events and their signatures


def test_an_install_is_delivered_signed(live_server, endpoint, receiver, issued_pass):
    device = WalletDevice(live_server, DEVICE)

    assert device.register(issued_pass, PUSH_TOKEN).status_code == 201
    _settle(lambda: len(receiver.requests) == 1)

    [request] = receiver.requests
    assert request["path"] == "/hooks/passline"
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Passline-Webhooks/1"
    assert headers["Passline-Event-Type"] == "pass.installed"
    payload = json.loads(request["body"])
    assert headers["Passline-Event-Id"] == payload["id"]
    assert re.fullmatch(r"evt_[0-9a-f]{24}", payload["id"])
    assert ISO_UTC.match(payload["created_at"])
    assert payload == {
        "id": payload["id"],
        "type": "pass.installed",
        "created_at": payload["created_at"],
        "data": {
            "passTypeIdentifier": "pass.test.passline.tickets",
            "serialNumber": issued_pass.serial_number,
            "deviceLibraryIdentifier": DEVICE,
        },
    }
    _assert_signed(request, endpoints.secret_of(endpoint))
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered",
        1,
        204,
    )
    assert delivery.event_id == payload["id"]
    assert delivery.delivered_at is not None
    assert (delivery.next_attempt_at, delivery.last_error) == (None, None)

    # Registering again only updates the push token: no new install.
    assert device.register(issued_pass, "f1" * 32).status_code == 200
    _settle()
    assert len(receiver.requests) == 1 and len(_deliveries()) == 1


def test_unregistering_sends_removed(live_server, endpoint, receiver, issued_pass):
    device = WalletDevice(live_server, DEVICE)
    device.register(issued_pass, PUSH_TOKEN)

    assert device.unregister(issued_pass).status_code == 200
    _settle(lambda: len(receiver.requests) == 2)

    assert receiver.types() == ["pass.installed", "pass.removed"]
    assert receiver.payloads()[1]["data"] == {
        "passTypeIdentifier": "pass.test.passline.tickets",
        "serialNumber": issued_pass.serial_number,
        "deviceLibraryIdentifier": DEVICE,
        "reason": "unregistered",
    }
    # Unregistering a device that is not registered reports nothing.
    assert device.unregister(issued_pass).status_code == 200
    _settle()
    assert len(receiver.requests) == 2


def test_updating_and_voiding_send_updated(endpoint, receiver, issued_pass):
    service.update_pass(issued_pass, {**issued_pass.data, "gate": "9"})
    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: len(receiver.requests) == 2)

    data = [p["data"] for p in receiver.payloads()]
    assert receiver.types() == ["pass.updated", "pass.updated"]
    assert data == [
        {
            "passTypeIdentifier": "pass.test.passline.tickets",
            "serialNumber": issued_pass.serial_number,
            "voided": voided,
        }
        for voided in (False, True)
    ]
    secret = endpoints.secret_of(endpoint)
    for request in receiver.requests:
        _assert_signed(request, secret)
    # Each event its own id.
    assert len({p["id"] for p in receiver.payloads()}) == 2


def test_a_template_change_sends_updated_for_each_pass(
    endpoint, receiver, template, issued_pass
):
    second = service.issue_pass(template, {"holder": "Bob", "seat": "B2", "gate": "1"})

    service.update_template_design(template, template.design)
    _settle(lambda: len(receiver.requests) == 2)

    assert receiver.types() == ["pass.updated", "pass.updated"]
    serials = sorted(p["data"]["serialNumber"] for p in receiver.payloads())
    assert serials == sorted([issued_pass.serial_number, second.serial_number])


def test_a_gone_device_sends_push_failed_and_removed(
    client, endpoint, receiver, issued_pass, apns
):
    _register(client, issued_pass)
    apns.respond(PUSH_TOKEN, (410, "Unregistered"))

    service.update_pass(issued_pass, {**issued_pass.data, "gate": "4"})
    _settle(lambda: len(receiver.requests) == 4)

    assert sorted(receiver.types()) == sorted(
        ["pass.installed", "pass.updated", "pass.removed", "push.failed"]
    )
    by_type = {p["type"]: p["data"] for p in receiver.payloads()}
    assert by_type["push.failed"] == {
        "passTypeIdentifier": "pass.test.passline.tickets",
        "serialNumbers": [issued_pass.serial_number],
        "deviceLibraryIdentifier": DEVICE,
        "outcome": "unregistered",
        "statusCode": 410,
        "reason": "Unregistered",
    }
    assert by_type["pass.removed"]["reason"] == "apns_unregistered"
    assert by_type["pass.removed"]["deviceLibraryIdentifier"] == DEVICE


def test_a_refused_push_sends_push_failed(
    client, endpoint, receiver, issued_pass, apns
):
    _register(client, issued_pass)
    apns.respond(PUSH_TOKEN, (400, "BadDeviceToken"))

    service.update_pass(issued_pass, {**issued_pass.data, "gate": "4"})
    _settle(lambda: len(receiver.requests) == 3)

    failed = [p["data"] for p in receiver.payloads() if p["type"] == "push.failed"]
    assert failed == [
        {
            "passTypeIdentifier": "pass.test.passline.tickets",
            "serialNumbers": [issued_pass.serial_number],
            "deviceLibraryIdentifier": DEVICE,
            "outcome": "bad_device_token",
            "statusCode": 400,
            "reason": "BadDeviceToken",
        }
    ]
    # Every token refused flags the pass type and keeps the registration.
    assert "pass.removed" not in receiver.types()


def test_a_sent_push_sends_no_push_failed(
    client, endpoint, receiver, issued_pass, apns
):
    _register(client, issued_pass)

    service.update_pass(issued_pass, {**issued_pass.data, "gate": "4"})
    _settle(lambda: len(receiver.requests) == 2)
    time.sleep(0.1)
    _settle()

    assert [r.path for r in apns.requests] == [f"/3/device/{PUSH_TOKEN}"]
    assert receiver.types() == ["pass.installed", "pass.updated"]


def test_only_subscribed_events_reach_active_endpoints(
    client, merchant, receiver, issued_pass
):
    removed_only = endpoints.create_endpoint(
        merchant.id, receiver.url + "?removed", ["pass.removed"], actor="test"
    )
    paused = endpoints.create_endpoint(
        merchant.id, receiver.url + "?paused", ALL_EVENTS, actor="test"
    )
    endpoints.update_endpoint(
        paused, paused.url, ALL_EVENTS, is_active=False, actor="test"
    )
    other = create_merchant("Rival", "rival@other.test", "rival password")
    endpoints.create_endpoint(
        other.id, receiver.url + "?rival", ALL_EVENTS, actor="test"
    )

    _register(client, issued_pass)
    path = (
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{issued_pass.pass_type.pass_type_identifier}/{issued_pass.serial_number}"
    )
    auth = {"Authorization": f"ApplePass {issued_pass.authentication_token}"}
    assert client.delete(path, headers=auth).status_code == 200
    _settle(_all_finished)

    assert [r["path"] for r in receiver.requests] == ["/hooks/passline?removed"]
    assert receiver.types() == ["pass.removed"]
    assert [d.endpoint_id for d in _deliveries()] == [removed_only.id]


def _register(client, pass_):
    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


# Retries


def test_a_failing_receiver_gets_the_event_again_until_it_takes_it(
    endpoint, receiver, issued_pass
):
    receiver.failures_left = 2

    service.update_pass(issued_pass, is_voided=True)
    _settle(_all_finished)

    assert len(receiver.requests) == 3
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1
    event_ids = {r["headers"]["Passline-Event-Id"] for r in receiver.requests}
    assert event_ids == {json.loads(bodies.pop())["id"]}
    secret = endpoints.secret_of(endpoint)
    for request in receiver.requests:
        _assert_signed(request, secret)
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered",
        3,
        204,
    )
    assert delivery.last_error is None


def test_back_off_gives_up_after_the_last_delay_and_can_be_retried(
    app, client, auth, runner, endpoint, receiver, issued_pass
):
    app.config["WEBHOOK_RETRY_DELAYS"] = [60, 600]
    receiver.failures_left = 3
    receiver.failure = (503, b"maintenance until noon")

    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: len(receiver.requests) == 1)

    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "pending",
        1,
        503,
    )
    assert delivery.last_error == "HTTP 503: maintenance until noon"
    assert delivery.next_attempt_at - delivery.last_attempt_at == timedelta(seconds=60)
    # Not due yet: a sweep sends nothing.
    assert deliver_due(arm_timer=False) == {}
    assert len(receiver.requests) == 1

    for attempt, delay in ((2, 600), (3, None)):
        _make_due(delivery)
        result = runner.invoke(args=["webhooks-retry"])
        assert result.exit_code == 0, result.output
        [delivery] = _deliveries()
        assert delivery.attempts == attempt
        if delay:
            assert "0 delivered, 1 to retry, 0 failed" in result.output
            assert delivery.status == "pending"
            assert delivery.next_attempt_at - delivery.last_attempt_at == timedelta(
                seconds=delay
            )
        else:
            assert "0 delivered, 0 to retry, 1 failed" in result.output
            assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    assert len(receiver.requests) == 3
    assert deliver_due(arm_timer=False) == {}

    # The merchant retries it from the dashboard; the receiver is back.
    auth.login()
    page = f"/dashboard/webhooks/{endpoint.id}"
    assert "Retry now" in client.get(page).get_data(as_text=True)
    response = client.post(
        f"{page}/deliveries/{delivery.id}/retry",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert (response.status_code, response.headers["Location"]) == (302, page)
    _settle(_all_finished)
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered",
        4,
        204,
    )
    assert len(receiver.requests) == 4
    text = client.get(page).get_data(as_text=True)
    assert "Retry now" not in text and "delivered" in text


def _make_due(delivery: WebhookDelivery) -> None:
    """Move a delivery's next attempt into the past, as time passing would."""
    delivery.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_a_failing_endpoint_costs_one_attempt_per_run(
    app, merchant, endpoint, receiver, issued_pass
):
    app.config["WEBHOOK_RETRY_DELAYS"] = [60]
    app.config["WEBHOOK_TIMEOUT"] = 0.3
    receiver.delay = 1.0
    service.update_pass(issued_pass, {**issued_pass.data, "gate": "1"})
    service.update_pass(issued_pass, {**issued_pass.data, "gate": "2"})
    _settle(lambda: len(receiver.requests) >= 1)

    first, second = _deliveries()
    # The first timed out; the second waits for the same retry, unattempted.
    assert len(receiver.requests) == 1
    assert (first.status, first.attempts, first.last_status_code) == (
        "pending",
        1,
        None,
    )
    assert first.last_error.startswith("ReadTimeout")
    assert (second.status, second.attempts) == ("pending", 0)
    assert second.next_attempt_at == first.next_attempt_at


def test_an_unreachable_endpoint_is_retried_later(app, merchant, issued_pass):
    closed = Receiver()
    url = closed.url
    closed.stop()
    endpoints.create_endpoint(merchant.id, url, ALL_EVENTS, actor="test")
    app.config["WEBHOOK_RETRY_DELAYS"] = [60]

    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: _deliveries()[0].attempts == 1)

    [delivery] = _deliveries()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error.startswith("ConnectError")


def test_removing_an_endpoint_while_it_is_sent_to(app, merchant, endpoint, receiver):
    kept = endpoints.create_endpoint(
        merchant.id, receiver.url + "?kept", ALL_EVENTS, actor="test"
    )
    for n in (1, 2):
        for target in (endpoint, kept):
            db.session.add(
                WebhookDelivery(
                    endpoint_id=target.id,
                    event_id=f"evt_{n}",
                    event_type="pass.updated",
                    payload={"id": f"evt_{n}", "type": "pass.updated", "data": {}},
                    next_attempt_at=utcnow(),
                )
            )
    db.session.commit()
    endpoint_id = endpoint.id

    def remove_endpoint(request):
        # The merchant deletes the endpoint while its first event is on the wire.
        if request["path"] == "/hooks/passline":
            with app.app_context():
                endpoints.delete_endpoint(
                    db.session.get(WebhookEndpoint, endpoint_id), actor="user:5"
                )

    receiver.on_post = remove_endpoint

    assert deliver_due(arm_timer=False) == {"delivered": 2}

    assert [r["path"] for r in receiver.requests] == [
        "/hooks/passline",
        "/hooks/passline?kept",
        "/hooks/passline?kept",
    ]
    assert [(d.endpoint_id, d.event_id, d.status) for d in _deliveries()] == [
        (kept.id, "evt_1", "delivered"),
        (kept.id, "evt_2", "delivered"),
    ]
    assert db.session.get(WebhookEndpoint, endpoint_id) is None
    assert _audit("webhook.removed") == [(receiver.url, "user:5")]


# URLs an endpoint may have


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/in", "https://"),
        ("http://hooks.example.com/in", "https://"),
        ("https://user:pw@hooks.example.com/in", "user name and password"),
        ("https:///in", "no host"),
        ("https://127.0.0.1/in", "private or local network"),
        ("https://localhost:8443/in", "private or local network"),
        ("https://10.1.2.3/in", "private or local network"),
        ("https://169.254.169.254/latest", "private or local network"),
        ("https://[::1]/in", "private or local network"),
        ("https://[::ffff:192.168.0.1]/in", "private or local network"),
        ("https://[::1/in", "not a valid URL"),
        ("https://exa mple.com/in", "no spaces or control characters"),
        ("https://hooks.example.com/in\x00", "no spaces or control characters"),
        ("https://hooks.example.com/in\r\nX: 1", "no spaces or control characters"),
    ],
)
def test_production_refuses_plain_http_and_internal_hosts(app, url, message):
    app.config.update(WEBHOOK_ALLOW_HTTP=False, WEBHOOK_ALLOW_PRIVATE=False)

    with pytest.raises(WebhookURLError, match=re.escape(message)):
        check_url(url)


def test_production_accepts_a_public_https_address(app):
    app.config.update(WEBHOOK_ALLOW_HTTP=False, WEBHOOK_ALLOW_PRIVATE=False)

    assert check_url("  https://93.184.215.14:8443/in?x=1 ") == (
        "https://93.184.215.14:8443/in?x=1"
    )


def test_testing_allows_loopback_over_http(app):
    assert check_url("http://127.0.0.1:9/in") == "http://127.0.0.1:9/in"
    with pytest.raises(WebhookURLError, match="https:// or http://"):
        check_url("gopher://127.0.0.1/in")


def test_an_endpoint_turned_internal_is_not_called(
    app, endpoint, receiver, issued_pass
):
    app.config.update(WEBHOOK_ALLOW_PRIVATE=False, WEBHOOK_RETRY_DELAYS=[60])

    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: _deliveries()[0].attempts == 1)

    assert receiver.requests == []
    [delivery] = _deliveries()
    assert delivery.status == "pending"
    assert "private or local network (127.0.0.1)" in delivery.last_error


class Network:
    """Host names answered from a table, and the connections made, recorded.

    Each name has a list of answers given in turn, the last one from then on,
    as a DNS server whose records change would; an answer may hold several
    addresses, split by commas. Other names resolve as usual.
    Connections to loopback are real; any other address is refused, as the
    tests do not reach the Internet.
    """

    def __init__(self, monkeypatch):
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []
        self._getaddrinfo = socket.getaddrinfo
        self._create_connection = socket.create_connection
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", self.create_connection)

    def getaddrinfo(self, host, port, *args, **kwargs):
        answers = self.answers.get(host)
        if answers is None:
            return self._getaddrinfo(host, port, *args, **kwargs)
        self.lookups.append(host)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            info
            for address in answer.split(",")
            for info in self._getaddrinfo(address, port, *args, **kwargs)
        ]

    def create_connection(self, address, *args, **kwargs):
        self.connections.append(address)
        try:
            ip = ipaddress.ip_address(address[0])
        except ValueError:
            ip = None  # a name, resolved by getaddrinfo above
        if ip is not None and not ip.is_loopback:
            raise ConnectionRefusedError(f"no Internet in tests ({ip})")
        return self._create_connection(address, *args, **kwargs)


@pytest.fixture
def network(monkeypatch):
    return Network(monkeypatch)


def test_a_host_rebound_to_loopback_after_the_check_is_not_reached(
    app, merchant, receiver, network, issued_pass
):
    url = f"http://rebind.passline.test:{receiver.port}/hooks/passline"
    endpoints.create_endpoint(merchant.id, url, ALL_EVENTS, actor="test")
    app.config.update(WEBHOOK_ALLOW_PRIVATE=False, WEBHOOK_RETRY_DELAYS=[60, 60])
    # Public when checked, loopback for any later look-up.
    network.answers["rebind.passline.test"] = ["93.184.215.14", "127.0.0.1"]

    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: _deliveries()[0].attempts == 1)

    assert receiver.requests == []
    assert network.lookups == ["rebind.passline.test"]
    assert network.connections == [("93.184.215.14", receiver.port)]
    [delivery] = _deliveries()
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("ConnectError")
    assert "no Internet in tests (93.184.215.14)" in delivery.last_error

    # The next attempt looks the host up again, and refuses what it finds.
    _make_due(delivery)
    assert deliver_due(arm_timer=False) == {"pending": 1}
    [delivery] = _deliveries()
    assert delivery.attempts == 2
    assert "private or local network (127.0.0.1)" in delivery.last_error
    assert network.lookups == ["rebind.passline.test"] * 2
    assert len(network.connections) == 1
    assert receiver.requests == []


def test_a_request_goes_to_the_address_checked_under_its_host_name(
    app, merchant, receiver, network, issued_pass
):
    url = f"http://hooks.passline.test:{receiver.port}/hooks/passline?a=1"
    endpoint = endpoints.create_endpoint(merchant.id, url, ALL_EVENTS, actor="test")
    network.answers["hooks.passline.test"] = ["127.0.0.1"]

    service.update_pass(issued_pass, is_voided=True)
    _settle(_all_finished)

    [request] = receiver.requests
    assert request["path"] == "/hooks/passline?a=1"
    assert request["headers"]["Host"] == f"hooks.passline.test:{receiver.port}"
    _assert_signed(request, endpoints.secret_of(endpoint))
    assert network.lookups == ["hooks.passline.test"]
    assert network.connections == [("127.0.0.1", receiver.port)]
    [delivery] = _deliveries()
    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)


def test_an_address_that_refuses_passes_the_request_to_the_next(
    merchant, receiver, network, issued_pass
):
    url = f"http://hooks.passline.test:{receiver.port}/hooks/passline"
    endpoints.create_endpoint(merchant.id, url, ALL_EVENTS, actor="test")
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses.
    network.answers["hooks.passline.test"] = ["127.0.0.2,127.0.0.1"]

    service.update_pass(issued_pass, is_voided=True)
    _settle(_all_finished)

    assert len(receiver.requests) == 1
    assert network.lookups == ["hooks.passline.test"]
    assert network.connections == [
        ("127.0.0.2", receiver.port),
        ("127.0.0.1", receiver.port),
    ]
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver whose certificate, from a CA of the test's, names one host.

    The CA is the only one deliveries trust during the test (SSL_CERT_FILE).
    """
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hooks test CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.passline.test")])
    ca = issue_certificate(ca_name, ca_key, ca_name, ca_key, is_ca=True, days=1)
    certificate = issue_certificate(
        name,
        key,
        ca_name,
        ca_key,
        is_ca=False,
        days=1,
        san=[x509.DNSName("hooks.passline.test")],
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(
        certificate.public_bytes(pem) + private_key_pem(key)
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.pem")
    receiver = Receiver(tls)
    yield receiver
    receiver.stop()


def test_tls_checks_the_certificate_against_the_host_name(
    merchant, tls_receiver, network, issued_pass
):
    port = tls_receiver.port
    named = endpoints.create_endpoint(
        merchant.id, f"https://hooks.passline.test:{port}/in", ALL_EVENTS, actor="t"
    )
    other = endpoints.create_endpoint(
        merchant.id, f"https://other.passline.test:{port}/in", ALL_EVENTS, actor="t"
    )
    # Both names lead to the same server, whose certificate names only one.
    network.answers["hooks.passline.test"] = ["127.0.0.1"]
    network.answers["other.passline.test"] = ["127.0.0.1"]

    service.update_pass(issued_pass, is_voided=True)
    _settle(lambda: all(d.attempts == 1 for d in _deliveries()))

    [request] = tls_receiver.requests
    assert request["path"] == "/in"
    assert request["headers"]["Host"] == f"hooks.passline.test:{port}"
    by_endpoint = {d.endpoint_id: d for d in _deliveries()}
    assert by_endpoint[named.id].status == "delivered"
    refused = by_endpoint[other.id]
    assert (refused.status, refused.last_status_code) == ("pending", None)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.last_error
    assert network.connections == [("127.0.0.1", port)] * 2


# Signatures


def test_a_signature_too_old_or_malformed_does_not_verify():
    body = b'{"id":"evt_1"}'
    header = signing.signature("s3cret", body, timestamp=1_000_000)

    assert signing.verify("s3cret", header, body, now=1_000_100)
    assert not signing.verify("s3cret", header, body, now=1_000_400)
    for bad in ("", "t=abc,v1=00", "v1=00", "t=1000000", "t=1,t=2,v1=00"):
        assert not signing.verify("s3cret", bad, body, now=1_000_000)


# The dashboard


def test_a_merchant_adds_an_endpoint_and_sees_its_secret(
    client, auth, merchant, receiver
):
    auth.login()
    token = csrf_token(client, "/dashboard/webhooks/new")

    response = client.post(
        "/dashboard/webhooks/new",
        data={
            "url": receiver.url,
            "events": ["pass.installed", "push.failed"],
            "is_active": "y",
            "csrf_token": token,
        },
    )

    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/webhooks/{endpoint.id}"
    assert (endpoint.url, endpoint.events, endpoint.is_active) == (
        receiver.url,
        ["pass.installed", "push.failed"],
        True,
    )
    secret = endpoints.secret_of(endpoint)
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert secret.encode() not in endpoint.secret_encrypted
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert secret in page and receiver.url in page
    listing = client.get("/dashboard/webhooks").get_data(as_text=True)
    assert receiver.url in listing
    [entry] = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "webhook.added")
    ).all()
    user = db.session.scalars(select(User)).one()
    assert (entry.subject, entry.actor) == (receiver.url, f"user:{user.id}")


@pytest.mark.parametrize(
    ("url", "events", "error"),
    [
        ("ftp://hooks.example.com/in", ["pass.installed"], "must start with"),
        ("", ["pass.installed"], "Give the URL"),
        ("http://127.0.0.1:9/in", [], "Pick at least one event"),
        ("http://127.0.0.1:9/in", ["pass.eaten"], "is not a valid choice"),
    ],
)
def test_a_bad_endpoint_is_refused_with_a_reason(
    client, auth, merchant, url, events, error
):
    auth.login()
    token = csrf_token(client, "/dashboard/webhooks/new")

    response = client.post(
        "/dashboard/webhooks/new",
        data={"url": url, "events": events, "csrf_token": token},
    )

    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_a_merchant_edits_tests_and_removes_an_endpoint(
    client, auth, endpoint, receiver
):
    auth.login()
    page = f"/dashboard/webhooks/{endpoint.id}"

    response = client.post(
        page,
        data={
            "url": receiver.url + "?v=2",
            "events": ["pass.removed"],
            "csrf_token": csrf_token(client, page),
        },
    )
    assert (response.status_code, response.headers["Location"]) == (302, page)
    db.session.expire_all()
    assert (endpoint.url, endpoint.events, endpoint.is_active) == (
        receiver.url + "?v=2",
        ["pass.removed"],
        False,
    )
    user = db.session.scalars(select(User)).one()
    assert _audit("webhook.changed") == [(receiver.url + "?v=2", f"user:{user.id}")]
    refused = client.post(
        page,
        data={
            "url": "ftp://x.example/in",
            "events": ["pass.removed"],
            "csrf_token": csrf_token(client, page),
        },
    )
    assert refused.status_code == 400
    assert "must start with" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert endpoint.url == receiver.url + "?v=2"
    assert len(_audit("webhook.changed")) == 1

    # A test event goes out even to a paused endpoint that did not subscribe.
    response = client.post(
        f"{page}/test", data={"csrf_token": csrf_token(client, page)}
    )
    assert response.status_code == 302
    _settle(_all_finished)
    [request] = receiver.requests
    assert request["path"] == "/hooks/passline?v=2"
    assert request["headers"]["Passline-Event-Type"] == "webhook.test"
    _assert_signed(request, endpoints.secret_of(endpoint))
    text = client.get(page).get_data(as_text=True)
    assert "webhook.test" in text and "delivered" in text

    response = client.post(
        f"{page}/delete", data={"csrf_token": csrf_token(client, page)}
    )
    assert (response.status_code, response.headers["Location"]) == (
        302,
        "/dashboard/webhooks",
    )
    assert db.session.scalars(select(WebhookEndpoint)).all() == []
    assert _deliveries() == []
    assert client.get(page).status_code == 404
    assert _audit("webhook.removed") == [(receiver.url + "?v=2", f"user:{user.id}")]


def _audit(action: str) -> list[tuple[str, str]]:
    """Return the (subject, actor) of the audit entries of the action."""
    return [
        (entry.subject, entry.actor)
        for entry in db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
    ]


def test_a_new_endpoint_left_off_receives_no_events(
    client, auth, merchant, receiver, issued_pass
):
    auth.login()
    token = csrf_token(client, "/dashboard/webhooks/new")

    # An unticked checkbox is left out of the form.
    response = client.post(
        "/dashboard/webhooks/new",
        data={"url": receiver.url, "events": ALL_EVENTS, "csrf_token": token},
    )

    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert response.status_code == 302
    assert (endpoint.url, endpoint.is_active) == (receiver.url, False)
    service.update_pass(issued_pass, is_voided=True)
    _settle()
    assert _deliveries() == []
    assert receiver.requests == []


def test_changes_to_an_endpoint_are_audited_with_their_actor(merchant, receiver):
    # Longer than an audit subject: the entry keeps its start.
    long_url = receiver.url + "?" + "x" * 300
    endpoint = endpoints.create_endpoint(
        merchant.id, receiver.url, ALL_EVENTS, actor="api_key:4"
    )

    endpoints.update_endpoint(
        endpoint, long_url, ["pass.removed"], is_active=True, actor="cli"
    )
    endpoints.delete_endpoint(endpoint, actor="user:9")

    cut = long_url[:254] + "…"
    assert [
        (entry.action, entry.subject, entry.actor, entry.merchant_id)
        for entry in db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.startswith("webhook."))
            .order_by(AuditEntry.id)
        )
    ] == [
        ("webhook.added", receiver.url, "api_key:4", merchant.id),
        ("webhook.changed", cut, "cli", merchant.id),
        ("webhook.removed", cut, "user:9", merchant.id),
    ]


def test_another_merchant_cannot_touch_an_endpoint(client, auth, endpoint, issued_pass):
    service.update_pass(issued_pass, is_voided=True)
    _settle(_all_finished)
    [delivery] = _deliveries()
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/webhooks/new")
    page = f"/dashboard/webhooks/{endpoint.id}"

    assert client.get(page).status_code == 404
    for path in (
        page,
        f"{page}/test",
        f"{page}/delete",
        f"{page}/deliveries/{delivery.id}/retry",
    ):
        response = client.post(
            path,
            data={
                "url": "http://127.0.0.1:9/",
                "events": ["pass.removed"],
                "csrf_token": token,
            },
        )
        assert response.status_code == 404, path
    assert endpoint.url not in client.get("/dashboard/webhooks").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).events == ALL_EVENTS
    assert len(_deliveries()) == 1


def test_buttons_need_the_csrf_token(client, auth, endpoint):
    auth.login()
    page = f"/dashboard/webhooks/{endpoint.id}"

    for path in (f"{page}/test", f"{page}/delete"):
        assert client.post(path).status_code == 400, path

    assert db.session.get(WebhookEndpoint, endpoint.id) is not None
    assert _deliveries() == []


# Through Redis and RQ workers


def test_rq_workers_send_events_and_their_retries(
    app, redis_url, endpoint, receiver, issued_pass
):
    Redis.from_url(redis_url).flushdb()
    app.config.update(
        JOB_QUEUE="rq",
        REDIS_URL=redis_url,
        RQ_QUEUE="passline-test",
        JOB_TIMEOUT=10,
        # Long enough for the first burst to end before the retry is queued.
        WEBHOOK_RETRY_DELAYS=[0.5],
    )
    app.extensions["passline.jobs"] = jobs.RedisQueue(app)
    queue = Queue("passline-test", connection=Redis.from_url(redis_url))
    receiver.failures_left = 1

    service.update_pass(issued_pass, is_voided=True)

    assert sorted(job.func_name for job in queue.get_jobs()) == [
        "app.push.service.push_pass_updates",
        "app.webhooks.delivery.deliver_due",
    ]
    assert receiver.requests == []
    jobs.run_worker(app, burst=True)
    assert len(receiver.requests) == 1
    # The worker's retry timer queues the next run in Redis.
    deadline = time.monotonic() + 5
    while queue.count == 0:
        assert time.monotonic() < deadline, "no retry was queued"
        time.sleep(0.02)
    jobs.run_worker(app, burst=True)

    assert len(receiver.requests) == 2
    [delivery] = _deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
