"""Background jobs: long work (generation, training, evaluation) off the request path, with progress.

A job's state lives in the jobs table, so any view (the admin page, a script) can watch it and ask to
cancel it. Jobs run one at a time on a worker thread: each one already uses every core.

Progress is reported twice over: an English message (for scripts and logs) and a structured detail, a stage
code with its numbers ({"stage": "train_step", "step": 4, ...}), which the admin page words in its language.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .db import JOB_ACTIVE, JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_RUNNING, Metadata

log = logging.getLogger("insideout.jobs")

# The kinds of job (the jobs table's `kind`).
GENERATE = "generate"  # generation.Generation.start
TRAIN = "train"  # retraining.Retraining.start
BOT_EVALUATION = "bot_evaluation"  # research.Research.start


class Cancelled(Exception):
    """Raised inside a job's work when its cancel was requested."""


class JobRefused(ValueError):
    """A request to start or steer a job refused before anything is queued, said in English; `code` (with
    `values`) names it for a view that words it in its language. Each engine that starts jobs names its own."""

    def __init__(self, message: str, code: str = "", **values: object):
        super().__init__(message)
        self.code, self.values = code, values


PROGRESS_INTERVAL_S = 0.5  # at most one progress write per this many seconds (a new stage always writes)


@dataclass
class JobContext:
    """What a job's work receives: report progress, and learn whether to stop."""

    db: Metadata
    job_id: int
    interval_s: float = PROGRESS_INTERVAL_S
    _last_write: float = 0.0
    _stage: str | None = None

    def progress(self, done: int, total: int, message: str = "", *, stage: str | None = None, force: bool = False,
                 **values: Any) -> bool:
        """Report done of total, with the English message that scripts and logs read and, for views in any
        language, a stage code with its numbers (values: JSON-able), kept as the job's detail. Returns
        whether it was written: writes are spaced by interval_s, except forced ones, the last one (done >=
        total) and the first of a new stage."""
        now = time.monotonic()
        if force or done >= total or stage != self._stage or now - self._last_write >= self.interval_s:
            detail = {"stage": stage, **values} if stage else None
            self.db.update_job(self.job_id, progress=done, total=total, message=message, detail=detail)
            self._last_write, self._stage = now, stage
            return True
        return False

    def check_cancel(self) -> None:
        if self.db.cancel_requested(self.job_id):
            raise Cancelled()


Work = Callable[[JobContext], dict]


@dataclass(frozen=True)
class JobStatus:
    """A job as a view shows it: its state, progress, last message (English) and its structured form (stage
    and values: None and {} when the work reported none), its result or error, and whether a cancel was asked."""

    id: int
    kind: str
    state: str
    progress: int
    total: int
    message: str
    params: dict
    result: dict | None
    error: str | None
    stage: str | None = None
    values: dict = field(default_factory=dict)
    cancel_requested: bool = False

    @classmethod
    def from_row(cls, row: dict) -> JobStatus:
        detail = dict(row.get("detail") or {})
        stage = detail.pop("stage", None)
        return cls(row["id"], row["kind"], row["state"], row["progress"], row["total"], row["message"] or "",
                   row["params"] or {}, row["result"], row["error"], stage, detail,
                   bool(row.get("cancel_requested")))

    @property
    def running(self) -> bool:
        """Queued or running: a view keeps refreshing while this is true."""
        return self.state in JOB_ACTIVE

    @property
    def cancelling(self) -> bool:
        """A cancel was asked and the work has not stopped yet (it stops at its next check)."""
        return self.running and self.cancel_requested

    @property
    def percent(self) -> float:
        """Progress in percent, to a tenth: a long run's first steps show (4 of 2000 is 0.2, not 0)."""
        if self.state == JOB_DONE:
            return 100
        return round(100 * self.progress / self.total, 1) if self.total else 0


class JobRunner:
    def __init__(self, db: Metadata):
        self.db = db
        self.progress_interval_s = PROGRESS_INTERVAL_S  # tests lower it to see every step
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insideout-job")
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, params: dict, work: Work, total: int = 0) -> int:
        """Queue work; a total known now is the job's from the start, so a view never shows an unknown one."""
        job_id = self.db.create_job(kind, params, time.time())
        if total:
            self.db.update_job(job_id, total=total)
        with self._lock:
            self._futures[job_id] = self._pool.submit(self._run, job_id, work)
        return job_id

    def _run(self, job_id: int, work: Work) -> None:
        ctx = JobContext(self.db, job_id, self.progress_interval_s)
        if self.db.cancel_requested(job_id):
            self.db.update_job(job_id, state=JOB_CANCELLED, finished_at=time.time())
            return
        self.db.update_job(job_id, state=JOB_RUNNING, started_at=time.time())
        try:
            result = work(ctx)
        except Cancelled:
            # The detail stays: where the work stopped is what a view says of a cancelled job.
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
