"""Bot lab evaluations: each report `insideout bots evaluate` or the admin's Bot lab job produced, kept whole.

The report is stored as the JSON it already is (insideout.botlab.evaluation.Report.as_dict), not spread over
columns: the dashboard reads the latest one back as a whole, and a report's shape may grow without a migration.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils


def add(db: sqlite_utils.Database, report: dict[str, Any], now: float, job_id: int | None) -> int:
    return db["bot_evaluations"].insert(
        {"created_at": now, "report": json.dumps(report), "job_id": job_id}
    ).last_pk


def latest(db: sqlite_utils.Database) -> dict[str, Any] | None:
    # By id, not time: two stored in the same second still have an order.
    rows = list(db.query("SELECT * FROM bot_evaluations ORDER BY id DESC LIMIT 1"))
    if not rows:
        return None
    row = dict(rows[0])
    row["report"] = json.loads(row["report"])
    return row
