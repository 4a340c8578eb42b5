"""An APNs client for Wallet pass updates: HTTP/2, certificate authentication.

It offers `send_notification` and `send_notification_batch`, the calls
Python APNs clients usually have, trimmed to what pass updates need: the body
is always `{}` and the topic is the pass type identifier.
"""

import asyncio
import logging
import os
import secrets
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives import serialization

log = logging.getLogger(__name__)

PRODUCTION_HOST = "api.push.apple.com"
# Requests in flight per connection. httpx keeps a connection within the
# stream limit the server announces in its SETTINGS (and at most 100), and
# queues more on that one connection, rescanning its queue on every event; so
# the client spreads a batch over several connections instead.
STREAMS_PER_CONNECTION = 100


@dataclass(frozen=True)
class PushResult:
    """APNs's answer for one token; `status_code` is None when none came."""

    token: str
    status_code: int | None
    reason: str | None = None
    apns_id: str | None = None
    attempts: int = 1

    @property
    def is_success(self) -> bool:
        """Return True when APNs accepted the push (200)."""
        return self.status_code == 200


def tls_context(
    certificate_pem: bytes, private_key_pem: bytes, ca_bundle: str | None = None
) -> ssl.SSLContext:
    """Build a TLS context presenting the pass certificate as client certificate.

    `ssl` only loads keys from files, so the key is written encrypted with a
    one-time password and the file removed at once: it never sits on disk in
    clear.
    """
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    password = secrets.token_bytes(32)
    key = serialization.load_pem_private_key(private_key_pem, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as cert_file:
            cert_file.write(certificate_pem)
        with open(key_path, "wb") as key_file:
            key_file.write(encrypted)
        context.load_cert_chain(cert_path, key_path, password=password)
    return context


class APNsClient:
    """Sends pass-update pushes over reused HTTP/2 connections.

    The client owns an event loop on a thread of its own, so connections stay
    open between batches and any thread may call it.
    """

    def __init__(
        self,
        certificate_pem: bytes,
        private_key_pem: bytes,
        *,
        host: str = PRODUCTION_HOST,
        port: int = 443,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        retry_delay: float = 0.5,
        connections: int = 4,
    ):
        self.base_url = f"https://{host}:{port}"
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._context = tls_context(certificate_pem, private_key_pem, ca_bundle)
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="apns", daemon=True
        )
        self._thread.start()
        # One httpx client per connection; each opens its own on first use.
        self._pool: list[httpx.AsyncClient] = self._run(self._open(connections))

    async def _open(self, connections: int) -> list[httpx.AsyncClient]:
        return [
            httpx.AsyncClient(
                http1=False,
                http2=True,
                verify=self._context,
                # No pool timeout: a batch's requests wait for a stream on
                # purpose; each request still has its own timeout.
                timeout=httpx.Timeout(self._timeout, pool=None),
                limits=httpx.Limits(max_connections=1),
            )
            for _ in range(connections)
        ]

    def _run(self, coroutine):
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def send_notification(self, token: str, topic: str) -> PushResult:
        """Push an empty update to one device token."""
        return self.send_notification_batch([token], topic)[token]

    def send_notification_batch(
        self, tokens: Iterable[str], topic: str
    ) -> dict[str, PushResult]:
        """Push to many tokens at once; return each token's result."""
        return self._run(self._send_all(list(dict.fromkeys(tokens)), topic))

    def close(self) -> None:
        """Close the connections and stop the client's thread."""
        if self._loop.is_closed():
            return
        self._run(self._close_pool())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _close_pool(self) -> None:
        for http in self._pool:
            await http.aclose()

    async def _send_all(self, tokens: list[str], topic: str) -> dict[str, PushResult]:
        """Push to every token, spread over the pool with a stream cap each."""
        gates = [asyncio.Semaphore(STREAMS_PER_CONNECTION) for _ in self._pool]

        async def one(index: int, token: str) -> PushResult:
            slot = index % len(self._pool)
            async with gates[slot]:
                return await self._send(self._pool[slot], token, topic)

        results = await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
        return {result.token: result for result in results}

    async def _send(
        self, http: httpx.AsyncClient, token: str, topic: str
    ) -> PushResult:
        """Push to one token, retrying with exponential backoff."""
        attempt = 0
        while True:
            attempt += 1
            result = await self._post(http, token, topic, attempt)
            status = result.status_code
            retry = status is None or status == 429 or status >= 500
            if not retry or attempt >= self.max_attempts:
                return result
            await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))

    async def _post(
        self, http: httpx.AsyncClient, token: str, topic: str, attempt: int
    ) -> PushResult:
        """Make one attempt; a transport error gives a result with no status."""
        try:
            response = await http.post(
                f"{self.base_url}/3/device/{token}",
                content=b"{}",
                headers={"apns-topic": topic, "content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            log.warning("push to token …%s failed: %s", token[-6:], type(exc).__name__)
            return PushResult(token, None, type(exc).__name__, attempts=attempt)
        reason = None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            reason = body.get("reason") if isinstance(body, dict) else None
        return PushResult(
            token,
            response.status_code,
            reason,
            response.headers.get("apns-id"),
            attempt,
        )
