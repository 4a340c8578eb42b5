"""Background jobs: work the caller should not wait for, such as APNs pushes.

Jobs are named by import path ("app.push.service.push_pass_updates") with
JSON-friendly arguments, the shape an external job queue (Redis-backed, say)
takes, so one can replace the in-process worker without touching the callers.
"""

import importlib
import logging
import queue
import threading
from collections.abc import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)


def resolve(path: str) -> Callable:
    """Return the function an import path names."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class InlineQueue:
    """Runs each job at once, in the caller's thread (JOB_QUEUE = "sync")."""

    def enqueue(self, path: str, *args) -> None:
        """Run the job now, in the caller's thread; its errors reach the caller."""
        resolve(path)(*args)

    def join(self) -> None:
        """Return at once: inline jobs have finished before enqueue returns."""
        pass


class ThreadQueue:
    """Runs jobs in order on one daemon thread of this process."""

    def __init__(self, app: Flask):
        self._app = app
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def enqueue(self, path: str, *args) -> None:
        """Queue the job for the worker thread, starting the thread if needed."""
        self._start()
        self._queue.put((path, args))

    def join(self) -> None:
        """Block until every job enqueued so far has finished."""
        self._queue.join()

    def _start(self) -> None:
        # Started on first use, so a worker process forked by gunicorn gets
        # its own thread.
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="passline-jobs", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        """Run queued jobs forever in the app's context; a failure is logged."""
        while True:
            path, args = self._queue.get()
            try:
                with self._app.app_context():
                    resolve(path)(*args)
            except Exception:
                log.exception("job %s failed", path)
            finally:
                self._queue.task_done()


def init_app(app: Flask) -> None:
    """Install the queue JOB_QUEUE names ("thread" or "sync"); refuse others."""
    kind = app.config["JOB_QUEUE"]
    if kind == "sync":
        app.extensions["passline.jobs"] = InlineQueue()
    elif kind == "thread":
        app.extensions["passline.jobs"] = ThreadQueue(app)
    else:
        raise RuntimeError(f"JOB_QUEUE must be 'thread' or 'sync', not {kind!r}")


def enqueue(path: str, *args) -> None:
    """Run a job in the background; returns at once."""
    current_app.extensions["passline.jobs"].enqueue(path, *args)


def join() -> None:
    """Wait for the background jobs enqueued so far (used by tests and commands)."""
    current_app.extensions["passline.jobs"].join()
