"""Background jobs: work the caller should not wait for, such as APNs pushes.

Jobs are named by import path ("app.push.service.push_pass_updates") with
JSON-friendly arguments, so the same call runs on the in-process worker of a
single machine or on RQ workers fed through Redis when one is not enough.
"""

import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus

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


class RedisQueue:
    """Hands jobs to RQ workers through Redis (JOB_QUEUE = "rq").

    Any number of `flask jobs-worker` processes, on any machine reaching the
    same Redis and database, take the jobs in order.
    """

    FINISHED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED}

    def __init__(self, app: Flask):
        self.connection = Redis.from_url(app.config["REDIS_URL"])
        self.queue = Queue(app.config["RQ_QUEUE"], connection=self.connection)
        self.timeout = app.config["JOB_TIMEOUT"]
        self._mine: list[str] = []

    def enqueue(self, path: str, *args) -> None:
        """Store the job in Redis for a worker; returns at once."""
        job = self.queue.enqueue(path, *args, job_timeout=self.timeout)
        self._mine.append(job.id)

    def join(self, timeout: float | None = None) -> None:
        """Block until the jobs this process enqueued have run (or timed out)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._mine and time.monotonic() < deadline:
            job = Job.fetch(self._mine[0], connection=self.connection)
            if job.get_status(refresh=True) in self.FINISHED:
                self._mine.pop(0)
            else:
                time.sleep(0.05)


class AppWorker(SimpleWorker):
    """An RQ worker running each job in the app's context, then closing its session.

    Jobs run in the worker's own process, one at a time, with the app's
    database engine and APNs connections kept between them.
    """

    def __init__(self, *args, app: Flask, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def perform_job(self, job, queue, execution) -> bool:
        with self.app.app_context():
            try:
                return super().perform_job(job, queue, execution)
            finally:
                self.app.extensions["sqlalchemy"].session.remove()


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work the RQ queue in this process; with burst, stop once it is empty."""
    jobs = app.extensions["passline.jobs"]
    if not isinstance(jobs, RedisQueue):
        raise RuntimeError('a jobs worker needs JOB_QUEUE = "rq" and REDIS_URL')
    worker = AppWorker([jobs.queue], connection=jobs.connection, app=app)
    worker.work(burst=burst, logging_level="INFO")


def init_app(app: Flask) -> None:
    """Install the queue JOB_QUEUE names ("thread", "sync" or "rq")."""
    kind = app.config["JOB_QUEUE"]
    if kind == "sync":
        app.extensions["passline.jobs"] = InlineQueue()
    elif kind == "thread":
        app.extensions["passline.jobs"] = ThreadQueue(app)
    elif kind == "rq":
        app.extensions["passline.jobs"] = RedisQueue(app)
    else:
        raise RuntimeError(f"JOB_QUEUE must be 'thread', 'sync' or 'rq', not {kind!r}")


def enqueue(path: str, *args) -> None:
    """Run a job in the background; returns at once."""
    current_app.extensions["passline.jobs"].enqueue(path, *args)


def join() -> None:
    """Wait for the background jobs enqueued so far (used by tests and commands)."""
    current_app.extensions["passline.jobs"].join()
