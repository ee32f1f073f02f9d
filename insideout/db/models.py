"""Model versions: what each was trained from and on, its metrics, and which one is active.

At most one version is active; the schema's partial unique index enforces it, and only an evaluated
version may become it. The states are named here once; the schema's CHECK lists the same words.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

MODEL_TRAINING = "training"
MODEL_TRAINED = "trained"
MODEL_EVALUATED = "evaluated"
MODEL_FAILED = "failed"
MODEL_CANCELLED = "cancelled"
MODEL_STATES = (MODEL_TRAINING, MODEL_TRAINED, MODEL_EVALUATED, MODEL_FAILED, MODEL_CANCELLED)


def create(
    db: sqlite_utils.Database, parent_version: str | None, trained_on: list[int], job_id: int | None, now: float
) -> int:
    return db["models"].insert(
        {"parent_version": parent_version, "state": MODEL_TRAINING, "job_id": job_id,
         "trained_on": json.dumps(trained_on), "created_at": now}
    ).last_pk


def update(db: sqlite_utils.Database, model_id: int, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    if "metrics" in fields and not isinstance(fields["metrics"], str):
        fields["metrics"] = json.dumps(fields["metrics"], sort_keys=True)
    db["models"].update(model_id, fields)


def get(db: sqlite_utils.Database, model_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM models WHERE id = ?", [model_id]))
    return _model(rows[0]) if rows else None


def newest_first(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [_model(r) for r in db.query("SELECT * FROM models ORDER BY id DESC")]


def active(db: sqlite_utils.Database) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM models WHERE active = 1"))
    return _model(rows[0]) if rows else None


def set_active(db: sqlite_utils.Database, model_id: int | None) -> bool:
    if model_id is not None and db.execute(
        "SELECT 1 FROM models WHERE id = ? AND state = ?", [model_id, MODEL_EVALUATED]
    ).fetchone() is None:
        return False
    db.execute("UPDATE models SET active = 0 WHERE active = 1")
    if model_id is not None:
        db.execute("UPDATE models SET active = 1 WHERE id = ?", [model_id])
    return True


def mark_consumed(db: sqlite_utils.Database, model_id: int, now: float) -> None:
    db.execute("UPDATE models SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL", [now, model_id])


def _model(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["trained_on"] = json.loads(row["trained_on"] or "[]")
    row["metrics"] = json.loads(row["metrics"] or "{}")
    row["active"] = bool(row["active"])
    return row
