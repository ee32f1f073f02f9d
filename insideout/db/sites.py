"""Sites (the websites that embed the captcha) and siteverify's remembered answers.

A site's secret is never stored: only its SHA-256, which is enough for a random 256-bit secret and lets a
secret be found by its hash. Rows are plain dicts with `origins` as a list.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import sqlite_utils

KEEP_ANSWERS_S = 86_400.0  # how long siteverify remembers an answer under its idempotency key


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "origins": json.loads(r["origins"]), "alternative": bool(r["alternative"])}


def insert(db: sqlite_utils.Database, row: dict[str, Any]) -> bool:
    try:
        db.execute(
            "INSERT INTO sites (sitekey, name, secret_hash, origins, alternative, policy, created_at, "
            "secret_rotated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row["sitekey"], row["name"], row["secret_hash"], json.dumps(list(row["origins"])),
             int(row["alternative"]), row.get("policy"), row["created_at"], row["secret_rotated_at"]],
        )
    except sqlite3.IntegrityError:
        return False  # the name, key or secret is taken
    return True


def all_sites(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [_row(r) for r in db.query("SELECT * FROM sites ORDER BY created_at, sitekey")]


def get(db: sqlite_utils.Database, column: str, value: str) -> dict[str, Any] | None:
    assert column in ("sitekey", "name", "secret_hash")
    rows = list(db.query(f"SELECT * FROM sites WHERE {column} = ?", [value]))
    return _row(rows[0]) if rows else None


def set_secret(db: sqlite_utils.Database, sitekey: str, secret_hash: str, now: float) -> bool:
    cur = db.execute("UPDATE sites SET secret_hash = ?, secret_rotated_at = ? WHERE sitekey = ?",
                     [secret_hash, now, sitekey])
    return cur.rowcount == 1


def delete(db: sqlite_utils.Database, sitekey: str) -> bool:
    return db.execute("DELETE FROM sites WHERE sitekey = ?", [sitekey]).rowcount == 1


def remembered(db: sqlite_utils.Database, site: str, key: str, now: float) -> dict[str, Any] | None:
    rows = list(db.query("SELECT response_hash, answer FROM verifications WHERE site = ? AND idempotency_key = ? "
                         "AND created_at >= ?", [site, key, now - KEEP_ANSWERS_S]))
    return {"response_hash": rows[0]["response_hash"], "answer": json.loads(rows[0]["answer"])} if rows else None


def remember(db: sqlite_utils.Database, site: str, key: str, response_hash: str, answer: dict[str, Any],
             now: float) -> bool:
    """Keep an answer under its key. Of two racing calls with one key only one can spend the token, so a
    success replaces a failure kept for the same response (the loser's), never the other way round. Answers
    older than KEEP_ANSWERS_S go: a retry comes within seconds, and a token lives minutes."""
    db.execute("DELETE FROM verifications WHERE created_at < ?", [now - KEEP_ANSWERS_S])
    try:
        db.execute("INSERT INTO verifications (site, idempotency_key, response_hash, answer, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", [site, key, response_hash, json.dumps(answer), now])
    except sqlite3.IntegrityError:
        if answer.get("success"):
            db.execute("UPDATE verifications SET answer = ? WHERE site = ? AND idempotency_key = ? "
                       "AND response_hash = ?", [json.dumps(answer), site, key, response_hash])
        return False
    return True
