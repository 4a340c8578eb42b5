"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

import contextlib
import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it, and the connection it came over."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # The client's (host, port): messages of one connection share it.
    peer: tuple[str, int]


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        # Address -> the reply its RCPT TO gets instead of 250.
        self.refusals: dict[str, str] = {}
        # Replies DATA gets, in turn, before the server accepts messages again.
        self.data_replies: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        message = email.message_from_bytes(envelope.content, policy=default)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), message, session.peer)
        )
        return "250 2.0.0 Accepted"


class SMTPServer:
    """aiosmtpd on 127.0.0.1 and a free port, in a thread of its own."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        self._handler = _Handler()
        self._controller = self._new_controller()

    def _new_controller(self) -> Controller:
        # A stopped controller has closed its event loop: a restart needs a new one.
        return Controller(self._handler, hostname=self.host, port=self.port)

    def __enter__(self) -> "SMTPServer":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    @property
    def received(self) -> list[Received]:
        """Return the messages accepted so far, in order."""
        return list(self._handler.received)

    def refuse(self, address: str, reply: str) -> None:
        """Answer RCPT TO for the address with `reply` ("550 ...")."""
        self._handler.refusals[address] = reply

    def reply_to_data(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies instead of accepting."""
        self._handler.data_replies.extend(replies)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stop listening for the block, so connecting is refused, then start again."""
        self._controller.stop()
        try:
            yield
        finally:
            self._controller = self._new_controller()
            self._controller.start()

    def clear(self) -> None:
        """Forget received messages and planned replies."""
        self._handler.received.clear()
        self._handler.refusals.clear()
        self._handler.data_replies.clear()
