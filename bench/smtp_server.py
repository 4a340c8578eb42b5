"""A bench helper: an SMTP server on loopback in a child process (own GIL).

tests/smtp_server.py runs aiosmtpd in a thread, which is right for tests but
makes a bench measure the server's Python as much as Passline's: here the
server runs in a process of its own and only counts what it accepts.
"""

import multiprocessing
import socket
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

STARTUP_TIMEOUT = 30


class _CountingHandler:
    def __init__(self, counter: Synchronized) -> None:
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 2.0.0 Accepted"


def _serve(port: int, counter: Synchronized, ready: Event, stop: Event) -> None:
    # Imported here: the child starts from a fresh interpreter (spawn).
    from aiosmtpd.controller import Controller

    controller = Controller(
        _CountingHandler(counter), hostname=SMTPProcess.host, port=port
    )
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class SMTPProcess:
    """aiosmtpd on 127.0.0.1 and a free port, in a child process."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        self._counter = context.Value("q", 0)
        self._ready, self._stop = context.Event(), context.Event()
        self._process = context.Process(
            target=_serve,
            args=(self.port, self._counter, self._ready, self._stop),
            daemon=True,
        )

    def __enter__(self) -> "SMTPProcess":
        self._process.start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            self._process.kill()
            raise RuntimeError("the SMTP server process did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(STARTUP_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()

    @property
    def received(self) -> int:
        """Return how many messages the server accepted so far."""
        return self._counter.value
