"""Prove the APNs stand-in with a real HTTP/2 client over mutual TLS."""

import asyncio
import gc
import ipaddress
import json
import logging
import socket
import ssl
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.apns_standin import APNsStandIn

TOPIC = "pass.com.example.member"
TOKEN = "a1" * 32


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate and a client certificate it signed."""

    ca_file: Path
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    client_cert_file: Path
    client_key_file: Path
    client_subject: x509.Name
    foreign_cert_file: Path


def _issue(name, key, issuer=None, issuer_key=None, *, ca=False, ip=None):
    """Sign a one-day certificate for name; self-signed when no issuer is given."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )
    if issuer:
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()
        )
        builder = builder.add_extension(authority, critical=False)
    if ip:
        address = x509.IPAddress(ipaddress.ip_address(ip))
        builder = builder.add_extension(
            x509.SubjectAlternativeName([address]), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(item) -> bytes:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    return item.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key, foreign_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(4)
    )
    ca = _issue("Passline Test CA", ca_key, ca=True)
    server = _issue("127.0.0.1", server_key, ca, ca_key, ip="127.0.0.1")
    client = _issue("Passline Test Pusher", client_key, ca, ca_key)
    foreign = _issue("Stranger", foreign_key)

    files = {
        "ca.pem": _pem(ca),
        "client.pem": _pem(client),
        "client.key": _pem(client_key),
        "foreign.pem": _pem(foreign) + _pem(foreign_key),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return Pki(
        ca_file=folder / "ca.pem",
        ca_pem=_pem(ca),
        server_cert_pem=_pem(server),
        server_key_pem=_pem(server_key),
        client_cert_file=folder / "client.pem",
        client_key_file=folder / "client.key",
        client_subject=client.subject,
        foreign_cert_file=folder / "foreign.pem",
    )


@pytest.fixture
def standin(pki):
    with APNsStandIn(pki.server_cert_pem, pki.server_key_pem, pki.ca_pem) as server:
        yield server


def _tls(pki: Pki, certificate: str = "trusted") -> ssl.SSLContext:
    """Trust the test CA and present the chosen client certificate, if any."""
    context = ssl.create_default_context(cafile=pki.ca_file)
    if certificate == "trusted":
        context.load_cert_chain(pki.client_cert_file, pki.client_key_file)
    elif certificate == "foreign":
        context.load_cert_chain(pki.foreign_cert_file)
    return context


@pytest.fixture
def client(pki, standin):
    base_url = f"https://{standin.host}:{standin.port}"
    with httpx.Client(http2=True, verify=_tls(pki), base_url=base_url) as http:
        yield http


def _push(http: httpx.Client, token: str, **headers: str) -> httpx.Response:
    """Send an empty Wallet push; keyword names map to headers, _ becoming -."""
    sent = {"apns-topic": TOPIC} | {k.replace("_", "-"): v for k, v in headers.items()}
    return http.post(f"/3/device/{token}", content=b"{}", headers=sent)


def test_push_is_recorded_with_client_certificate(pki, standin, client):
    response = _push(client, TOKEN, apns_push_type="background")

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.content == b""
    uuid.UUID(response.headers["apns-id"])
    (request,) = standin.wait_for(1)
    assert request.method == "POST"
    assert request.path == f"/3/device/{TOKEN}"
    assert request.token == TOKEN
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-push-type"] == "background"
    assert not any(name.startswith(":") for name in request.headers)
    assert request.body == b"{}"
    assert request.client_cert_subject == pki.client_subject


def test_apns_id_is_echoed(standin, client):
    apns_id = "2b0f8a2e-9d5c-4a3b-8f0e-3c1d2e4f5a6b"

    ok = _push(client, TOKEN, apns_id=apns_id)
    standin.respond("dead", (410, "Unregistered"))
    gone = _push(client, "dead", apns_id=apns_id)

    assert ok.headers["apns-id"] == apns_id
    assert gone.headers["apns-id"] == apns_id


def test_queued_answers_come_back_in_order(standin, client):
    standin.respond("busy", (429, "TooManyRequests"), (200, None))
    standin.respond("gone", (410, "Unregistered"))
    standin.respond("bad", (400, "BadDeviceToken"))
    before = int(time.time() * 1000)

    busy = [_push(client, "busy") for _ in range(3)]
    gone = [_push(client, "gone") for _ in range(2)]
    bad = _push(client, "bad")
    other = _push(client, TOKEN)

    assert [r.status_code for r in busy] == [429, 200, 200]
    assert busy[0].json() == {"reason": "TooManyRequests"}
    assert busy[1].content == b""
    assert [r.status_code for r in gone] == [410, 410]
    for response in gone:
        assert response.json()["reason"] == "Unregistered"
        assert before <= response.json()["timestamp"] <= int(time.time() * 1000)
        uuid.UUID(response.headers["apns-id"])
    assert (bad.status_code, bad.json()) == (400, {"reason": "BadDeviceToken"})
    assert other.status_code == 200
    assert len(standin.requests) == 7


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "reason"),
    [
        ("POST", "/3/devices/abc", {"apns-topic": TOPIC}, 404, "BadPath"),
        ("POST", "/3/device/", {"apns-topic": TOPIC}, 404, "BadPath"),
        ("GET", "/3/device/abc", {"apns-topic": TOPIC}, 405, "MethodNotAllowed"),
        ("POST", "/3/device/abc", {}, 400, "MissingTopic"),
    ],
)
def test_malformed_requests_are_refused(
    standin, client, method, path, headers, status, reason
):
    # A queued answer must not mask what Apple checks first.
    standin.respond("abc", (410, "Unregistered"))

    response = client.request(method, path, headers=headers, content=b"{}")

    assert response.status_code == status
    assert response.json() == {"reason": reason}
    assert standin.wait_for(1)[0].path == path


@pytest.mark.parametrize("certificate", ["none", "foreign"])
def test_client_without_trusted_certificate_is_refused(
    pki, standin, client, certificate
):
    tls = _tls(pki, certificate)
    # Under TLS 1.3 the client finishes its handshake before the server checks the
    # certificate; TLS 1.2 makes the refusal visible as a failed handshake.
    tls.maximum_version = ssl.TLSVersion.TLSv1_2
    base_url = f"https://{standin.host}:{standin.port}"

    with (
        httpx.Client(http2=True, verify=tls, base_url=base_url) as stranger,
        pytest.raises(httpx.ConnectError),
    ):
        _push(stranger, TOKEN)

    assert standin.requests == []
    assert _push(client, TOKEN).status_code == 200


def test_concurrent_streams_share_one_connection(pki, standin):
    tokens = [f"{n:064x}" for n in range(200)]
    # 200 bodies of 1 KiB overrun the 64 KiB window unless the server acknowledges.
    body = json.dumps({"pad": "x" * 1024}).encode()

    async def push_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            http2=True,
            verify=_tls(pki),
            base_url=f"https://{standin.host}:{standin.port}",
            limits=httpx.Limits(max_connections=1),
        ) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        f"/3/device/{t}", content=body, headers={"apns-topic": TOPIC}
                    )
                    for t in tokens
                )
            )

    responses = asyncio.run(push_all())

    assert [r.status_code for r in responses] == [200] * 200
    assert {r.http_version for r in responses} == {"HTTP/2"}
    assert standin.connections == 1
    recorded = standin.wait_for(200)
    assert sorted(r.token for r in recorded) == tokens
    assert {r.body for r in recorded} == {body}


def test_connections_are_served_side_by_side(pki, standin, client):
    base_url = f"https://{standin.host}:{standin.port}"

    with httpx.Client(http2=True, verify=_tls(pki), base_url=base_url) as second:
        answers = [_push(client, "first"), _push(second, "second")]
        answers.append(_push(client, "first"))

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.token for r in standin.wait_for(3)] == ["first", "second", "first"]
    assert standin.connections == 2


def _open_bare(server: APNsStandIn, pki: Pki):
    """Open an HTTP/2 connection by hand and read the server's SETTINGS."""
    tls = _tls(pki)
    tls.set_alpn_protocols(["h2"])
    raw = socket.create_connection((server.host, server.port), timeout=5)
    sock = tls.wrap_socket(raw, server_hostname=server.host)
    connection = h2.connection.H2Connection()
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    return sock, connection, connection.receive_data(sock.recv(65536))


def test_settings_advertise_max_concurrent_streams(pki):
    with APNsStandIn(
        pki.server_cert_pem, pki.server_key_pem, pki.ca_pem, max_concurrent_streams=7
    ) as server:
        sock, _, events = _open_bare(server, pki)
        sock.close()

    (settings,) = [e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)]
    streams = settings.changed_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS]
    assert streams.new_value == 7


def _read_until(sock: ssl.SSLSocket, connection, wanted: type) -> list:
    """Send the client's pending frames, then read events until one is wanted."""
    sock.sendall(connection.data_to_send())
    events = []
    while not any(isinstance(e, wanted) for e in events):
        data = sock.recv(65536)
        assert data, f"connection closed before {wanted.__name__}"
        events += connection.receive_data(data)
    return events


def test_answers_respect_the_client_flow_control_window(pki, standin):
    sock, connection, _ = _open_bare(standin, pki)
    connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 8})
    stream_id = connection.get_next_available_stream_id()
    request = [(":method", "POST"), (":scheme", "https"), (":path", "/3/device/a")]
    connection.send_headers(stream_id, [*request, (":authority", "127.0.0.1")])
    connection.end_stream(stream_id)

    first = _read_until(sock, connection, h2.events.DataReceived)
    connection.increment_flow_control_window(64, stream_id)
    rest = _read_until(sock, connection, h2.events.StreamEnded)
    sock.close()

    received = [e.data for e in first + rest if isinstance(e, h2.events.DataReceived)]
    assert received[0] == b'{"reason'  # the 8 bytes the window allowed
    assert not any(isinstance(e, h2.events.StreamEnded) for e in first)
    assert json.loads(b"".join(received)) == {"reason": "MissingTopic"}


def test_wait_for_raises_when_too_few_came(standin, client):
    _push(client, TOKEN)

    assert len(standin.wait_for(1)) == 1
    with pytest.raises(AssertionError, match=r"expected 2 requests.*, 1 came"):
        standin.wait_for(2, timeout=0.2)


def test_clear_forgets_requests_and_answers(standin, client):
    standin.respond(TOKEN, (410, "Unregistered"))
    _push(client, TOKEN)

    standin.clear()
    response = _push(client, TOKEN)

    assert response.status_code == 200
    assert [r.token for r in standin.wait_for(1)] == [TOKEN]


def test_stop_closes_open_connections_quietly(pki, capfd, caplog):
    server = APNsStandIn(pki.server_cert_pem, pki.server_key_pem, pki.ca_pem).start()
    sock, connection, _ = _open_bare(server, pki)

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        server.stop()
        events = []
        while data := sock.recv(65536):
            events += connection.receive_data(data)
        sock.close()
        gc.collect()

    (goaway,) = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1)
    assert caught == []
    assert capfd.readouterr().err == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
