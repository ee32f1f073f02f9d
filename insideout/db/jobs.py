"""Background job rows: kind, state, progress (with its structured detail), result, and a cancel flag the
worker polls.

The states are named here once; the schema's CHECK constraint lists the same words.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .schema import marks

JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_DONE = "done"
JOB_FAILED = "failed"
JOB_CANCELLED = "cancelled"
JOB_STATES = (JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED)
JOB_ACTIVE = (JOB_QUEUED, JOB_RUNNING)  # not finished: may still run, may still be cancelled


def create(db: sqlite_utils.Database, kind: str, params: dict, now: float) -> int:
    return db["jobs"].insert(
        {"kind": kind, "state": JOB_QUEUED, "params": json.dumps(params), "created_at": now}
    ).last_pk


def update(db: sqlite_utils.Database, job_id: int, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    for key in ("result", "params", "detail"):
        if key in fields and fields[key] is not None and not isinstance(fields[key], str):
            fields[key] = json.dumps(fields[key])
    db["jobs"].update(job_id, fields)


def get(db: sqlite_utils.Database, job_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _job(rows[0]) if rows else None


def recent(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    return [_job(r) for r in db.query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [limit])]


def latest(db: sqlite_utils.Database, kind: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1", [kind]))
    return _job(rows[0]) if rows else None


def active_ids(db: sqlite_utils.Database, kind: str) -> list[int]:
    return [
        r[0]
        for r in db.execute(
            f"SELECT id FROM jobs WHERE kind = ? AND state IN ({marks(JOB_ACTIVE)}) ORDER BY id", [kind, *JOB_ACTIVE]
        )
    ]


def request_cancel(db: sqlite_utils.Database, job_id: int) -> bool:
    cur = db.execute(
        f"UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state IN ({marks(JOB_ACTIVE)})", [job_id, *JOB_ACTIVE]
    )
    return cur.rowcount == 1


def cancel_requested(db: sqlite_utils.Database, job_id: int) -> bool:
    row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()
    return bool(row and row[0])


def fail_active(db: sqlite_utils.Database, error: str, now: float) -> int:
    return db.execute(
        f"UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE state IN ({marks(JOB_ACTIVE)})",
        [JOB_FAILED, error, now, *JOB_ACTIVE],
    ).rowcount


def _job(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["params"] = json.loads(row["params"] or "{}")
    row["result"] = json.loads(row["result"]) if row["result"] else None
    row["detail"] = json.loads(row["detail"]) if row.get("detail") else None
    return row
