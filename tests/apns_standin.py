"""A stand-in for Apple's push service: HTTP/2 over mutual TLS on loopback."""

import asyncio
import json
import logging
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Self

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app.certificates import private_key_pem
from app.devchain import issue_certificate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopbackTLS:
    """A server certificate for 127.0.0.1 and the CA that issued it, in PEM."""

    certificate_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def loopback_tls() -> LoopbackTLS:
    """Make a throwaway CA and a certificate for 127.0.0.1 signed by it."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loopback APNs CA")])
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    ca = issue_certificate(ca_name, ca_key, ca_name, ca_key, is_ca=True, days=2)
    server = issue_certificate(
        server_name,
        server_key,
        ca_name,
        ca_key,
        is_ca=False,
        days=2,
        san=[x509.IPAddress(IPv4Address("127.0.0.1"))],
    )
    return LoopbackTLS(
        server.public_bytes(serialization.Encoding.PEM),
        private_key_pem(server_key),
        ca.public_bytes(serialization.Encoding.PEM),
    )


Answer = tuple[int, str | None]

DEVICE_PREFIX = "/3/device/"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    token: str
    headers: dict[str, str]
    body: bytes
    client_cert_der: bytes

    @property
    def client_cert_subject(self) -> x509.Name:
        """Return the subject of the certificate the caller presented."""
        return x509.load_der_x509_certificate(self.client_cert_der).subject


class APNsStandIn:
    """Answer Wallet pushes like api.push.apple.com, from a background thread."""

    host = "127.0.0.1"

    def __init__(
        self,
        server_cert_pem: bytes,
        server_key_pem: bytes,
        client_ca_pem: bytes,
        max_concurrent_streams: int = 1000,
    ) -> None:
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.max_concurrent_streams = max_concurrent_streams
        self._tls = _server_context(server_cert_pem, server_key_pem, client_ca_pem)
        self._answers: dict[str, deque[Answer]] = {}
        self._arrived = threading.Condition()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[_Connection] = set()
        # TLS connections accepted since start, so tests can see reuse.
        self.connections = 0

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Listen on a free loopback port until stop() is called."""
        self._ready.clear()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(),), name="apns-standin", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout=5) or not self.port:
            self.stop()
            raise RuntimeError("APNs stand-in did not start listening")

        logger.info("APNs stand-in listening on %s:%s", self.host, self.port)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then join the thread."""
        if self._thread is None:
            return
        if self._thread.is_alive() and self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None
        logger.info("APNs stand-in on port %s stopped", self.port)

    def respond(self, token: str, *answers: Answer) -> None:
        """Queue answers for pushes to token; the last one repeats forever."""
        if not answers:
            raise ValueError("respond() needs at least one (status, reason) answer")
        with self._arrived:
            self._answers.setdefault(token, deque()).extend(answers)

    def clear(self) -> None:
        """Forget recorded requests and queued answers."""
        with self._arrived:
            self.requests.clear()
            self._answers.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until count requests arrived and return all recorded so far."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"APNs stand-in expected {count} requests within {timeout}s,"
                    f" {len(self.requests)} came"
                )
            return list(self.requests)

    def _record(self, request: RecordedRequest) -> Answer:
        """Store request and pick its answer, checking it the way Apple does."""
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

            token = request.path.removeprefix(DEVICE_PREFIX)
            if not request.path.startswith(DEVICE_PREFIX) or not token or "/" in token:
                return 404, "BadPath"
            if request.method != "POST":
                return 405, "MethodNotAllowed"
            if not request.headers.get("apns-topic"):
                return 400, "MissingTopic"

            queue = self._answers.get(token)
            if not queue:
                return 200, None
            return queue.popleft() if len(queue) > 1 else queue[0]

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_log_refusals)
        self._stopping = asyncio.Event()
        try:
            server = await self._loop.create_server(
                lambda: _Connection(self), self.host, 0, ssl=self._tls
            )
            self.port = server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        await self._stopping.wait()

        server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait([c.closed for c in connections], timeout=0.2)
        # A client that never answers the TLS close_notify must not hold up stop().
        for connection in connections:
            connection.transport.abort()
        await server.wait_closed()


class _Connection(asyncio.Protocol):
    """Serve the HTTP/2 streams of one TLS client."""

    def __init__(self, standin: APNsStandIn) -> None:
        self._standin = standin
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config=config)
        streams = standin.max_concurrent_streams
        limits = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: streams}
        self._h2.local_settings = h2.settings.Settings(False, limits)
        self._streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self._unsent: dict[int, bytes] = {}
        self.transport: asyncio.Transport | None = None
        self._client_cert = b""
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        tls = transport.get_extra_info("ssl_object")
        if tls.selected_alpn_protocol() != "h2":
            transport.close()
            return

        self._client_cert = tls.getpeercert(binary_form=True)
        self._standin._connections.add(self)
        self._standin.connections += 1
        self._h2.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._standin._connections.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            logger.warning("APNs stand-in dropped a client breaking HTTP/2")
            self._flush()
            self.transport.close()
            return

        for event in events:
            self._handle(event)
        self._flush()

    def close(self) -> None:
        """Send GOAWAY and start the TLS shutdown."""
        if not self.transport.is_closing():
            self._h2.close_connection()
            self._flush()
            self.transport.close()

    def _handle(self, event: h2.events.Event) -> None:
        match event:
            case h2.events.RequestReceived():
                self._streams[event.stream_id] = (dict(event.headers), bytearray())
            case h2.events.DataReceived():
                self._streams[event.stream_id][1].extend(event.data)
                # Without this the client's send windows run dry after 64 KiB.
                self._h2.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
            case h2.events.StreamEnded():
                self._answer(event.stream_id)
            case h2.events.WindowUpdated():
                for stream_id in list(self._unsent):
                    self._send_body(stream_id, self._unsent.pop(stream_id))
            case h2.events.StreamReset():
                self._streams.pop(event.stream_id, None)
                self._unsent.pop(event.stream_id, None)
            case h2.events.ConnectionTerminated():
                self.transport.close()

    def _answer(self, stream_id: int) -> None:
        headers, body = self._streams.pop(stream_id)
        path = headers.get(":path", "")
        request = RecordedRequest(
            method=headers.get(":method", ""),
            path=path,
            token=path.rpartition("/")[2],
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            body=bytes(body),
            client_cert_der=self._client_cert,
        )
        status, reason = self._standin._record(request)
        logger.debug("push to %s... answered %s", request.token[:8], status)

        payload = b"" if status == 200 else _error_body(status, reason)
        apns_id = request.headers.get("apns-id") or str(uuid.uuid4())
        answer = [(":status", str(status)), ("apns-id", apns_id)]
        try:
            self._h2.send_headers(stream_id, answer, end_stream=not payload)
        except h2.exceptions.StreamClosedError:
            return
        if payload:
            self._send_body(stream_id, payload)

    def _send_body(self, stream_id: int, data: bytes) -> None:
        """Send what the flow-control windows allow and park the rest."""
        try:
            while data:
                size = min(
                    len(data),
                    self._h2.local_flow_control_window(stream_id),
                    self._h2.max_outbound_frame_size,
                )
                if size <= 0:
                    self._unsent[stream_id] = data
                    return
                chunk, data = data[:size], data[size:]
                self._h2.send_data(stream_id, chunk, end_stream=not data)
        except h2.exceptions.StreamClosedError:
            # The client reset the stream; nobody is waiting for the rest.
            return

    def _flush(self) -> None:
        outgoing = self._h2.data_to_send()
        if outgoing and not self.transport.is_closing():
            self.transport.write(outgoing)


def _log_refusals(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Log refused TLS handshakes quietly; refusing them is part of the job."""
    failure = context.get("exception")
    if isinstance(failure, OSError):
        logger.debug("APNs stand-in refused a connection: %s", failure)
    else:
        loop.default_exception_handler(context)


def _error_body(status: int, reason: str | None) -> bytes:
    """Encode Apple's error JSON; a 410 also says when the token went stale."""
    error: dict[str, object] = {"reason": reason}
    if status == 410:
        error["timestamp"] = int(time.time() * 1000)
    return json.dumps(error).encode()


def _server_context(
    cert_pem: bytes, key_pem: bytes, client_ca_pem: bytes
) -> ssl.SSLContext:
    """Build a TLS server context that demands a client certificate and h2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
    context.set_alpn_protocols(["h2"])

    # The ssl module reads a certificate chain only from a file.
    with tempfile.TemporaryDirectory() as folder:
        chain = Path(folder) / "server.pem"
        chain.write_bytes(cert_pem + b"\n" + key_pem)
        context.load_cert_chain(chain)
    return context
