"""Background jobs: long work (generation, training, evaluation) off the request path, with progress.

A job's state lives in the jobs table, so any view (the admin page, a script) can watch it and ask to
cancel it. Jobs run one at a time on a worker thread: each one already uses every core.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from .db import JOB_ACTIVE, JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_RUNNING, Metadata

log = logging.getLogger("insideout.jobs")

# The kinds of job (the jobs table's `kind`).
GENERATE = "generate"  # generation.Generation.start
TRAIN = "train"  # retraining.Retraining.start
BOT_EVALUATION = "bot_evaluation"  # research.Research.start


class Cancelled(Exception):
    """Raised inside a job's work when its cancel was requested."""


@dataclass
class JobContext:
    """What a job's work receives: report progress, and learn whether to stop."""

    db: Metadata
    job_id: int
    _last_write: float = 0.0

    def progress(self, done: int, total: int, message: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if force or done >= total or now - self._last_write > 0.5:  # spare the database
            self.db.update_job(self.job_id, progress=done, total=total, message=message)
            self._last_write = now

    def check_cancel(self) -> None:
        if self.db.cancel_requested(self.job_id):
            raise Cancelled()


Work = Callable[[JobContext], dict]


@dataclass(frozen=True)
class JobStatus:
    """A job as a view shows it: its state, progress, last message, and its result or error."""

    id: int
    kind: str
    state: str
    progress: int
    total: int
    message: str
    params: dict
    result: dict | None
    error: str | None

    @classmethod
    def from_row(cls, row: dict) -> JobStatus:
        return cls(row["id"], row["kind"], row["state"], row["progress"], row["total"], row["message"] or "",
                   row["params"] or {}, row["result"], row["error"])

    @property
    def running(self) -> bool:
        """Queued or running: a view keeps refreshing while this is true."""
        return self.state in JOB_ACTIVE

    @property
    def percent(self) -> int:
        if self.state == JOB_DONE:
            return 100
        return round(100 * self.progress / self.total) if self.total else 0


class JobRunner:
    def __init__(self, db: Metadata):
        self.db = db
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insideout-job")
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, params: dict, work: Work) -> int:
        job_id = self.db.create_job(kind, params, time.time())
        with self._lock:
            self._futures[job_id] = self._pool.submit(self._run, job_id, work)
        return job_id

    def _run(self, job_id: int, work: Work) -> None:
        ctx = JobContext(self.db, job_id)
        if self.db.cancel_requested(job_id):
            self.db.update_job(job_id, state=JOB_CANCELLED, finished_at=time.time())
            return
        self.db.update_job(job_id, state=JOB_RUNNING, started_at=time.time())
        try:
            result = work(ctx)
        except Cancelled:
            self.db.update_job(job_id, state=JOB_CANCELLED, finished_at=time.time(), message="cancelled")
        except Exception as e:  # noqa: BLE001 - a job's failure is recorded, never lost in a thread
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self.db.update_job(job_id, state=JOB_FAILED, finished_at=time.time(), error=f"{type(e).__name__}: {e}")
        else:
            self.db.update_job(job_id, state=JOB_DONE, finished_at=time.time(), result=result)

    def cancel(self, job_id: int) -> bool:
        return self.db.request_cancel(job_id)

    def status(self, kind: str) -> JobStatus | None:
        """The newest job of a kind, whatever its state; None when there was none."""
        row = self.db.latest_job(kind)
        return JobStatus.from_row(row) if row else None

    def cancel_latest(self, kind: str) -> bool:
        """Ask the newest job of a kind to stop (what the admin's Cancel means); False if none is running."""
        job = self.db.latest_job(kind)
        return job is not None and self.cancel(job["id"])

    def wait(self, job_id: int, timeout: float | None = None) -> dict:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
        return self.db.get_job(job_id)
