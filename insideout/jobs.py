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

from .db import Database

log = logging.getLogger("insideout.jobs")


class Cancelled(Exception):
    """Raised inside a job's work when its cancel was requested."""


@dataclass
class JobContext:
    """What a job's work receives: report progress, and learn whether to stop."""

    db: Database
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


class JobRunner:
    def __init__(self, db: Database):
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
            self.db.update_job(job_id, state="cancelled", finished_at=time.time())
            return
        self.db.update_job(job_id, state="running", started_at=time.time())
        try:
            result = work(ctx)
        except Cancelled:
            self.db.update_job(job_id, state="cancelled", finished_at=time.time(), message="cancelled")
        except Exception as e:  # noqa: BLE001 - a job's failure is recorded, never lost in a thread
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self.db.update_job(job_id, state="failed", finished_at=time.time(), error=f"{type(e).__name__}: {e}")
        else:
            self.db.update_job(job_id, state="done", finished_at=time.time(), result=result)

    def cancel(self, job_id: int) -> bool:
        return self.db.request_cancel(job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> dict:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
        return self.db.get_job(job_id)
