"""Votes and the tallies made from them.

A voter's votes on one clip count once: the database's partial unique index refuses a second counted
row, so the check holds under concurrent answers too.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .records import Vote


def insert(db: sqlite_utils.Database, votes: list[Vote], now: float) -> list[bool]:
    counted = []
    for v in votes:
        row = [v.clip_id, v.voter, v.emotion, v.source, v.challenge_id, v.round_no, now]
        if v.control_correct:
            # The partial unique index makes a second counted vote of one voter fail here.
            cur = db.execute(
                "INSERT OR IGNORE INTO votes (clip_id, voter, emotion, source, challenge_id, "
                "round_no, created_at, counted) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                row,
            )
            if cur.rowcount == 1:
                counted.append(True)
                continue
            reason = "repeat_voter"
        else:
            reason = "control_wrong"
        db.execute(
            "INSERT INTO votes (clip_id, voter, emotion, source, challenge_id, round_no, "
            "created_at, counted, why_not_counted) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [*row, reason],
        )
        counted.append(False)
    return counted


def tally(db: sqlite_utils.Database, clip_id: int) -> dict[str, int]:
    return {
        r[0]: r[1]
        for r in db.execute(
            "SELECT emotion, count(*) FROM votes WHERE clip_id = ? AND counted = 1 GROUP BY emotion", [clip_id]
        )
    }


def tallies(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT c.id AS clip_id, c.pool, c.label, c.label_source, c.retired, "
        "c.intended_emotion, v.emotion, count(v.id) AS n "
        "FROM clips c LEFT JOIN votes v ON v.clip_id = c.id AND v.counted = 1 "
        "WHERE c.pool != 'play' OR v.id IS NOT NULL "
        "GROUP BY c.id, v.emotion ORDER BY c.id"
    )
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(
            r["clip_id"],
            {k: r[k] for k in ("clip_id", "pool", "label", "label_source", "retired", "intended_emotion")}
            | {"votes": {}},
        )
        if r["emotion"] is not None:
            entry["votes"][r["emotion"]] = r["n"]
    return list(out.values())


def voter_has_voted(db: sqlite_utils.Database, clip_id: int, voter: str) -> bool:
    row = db.execute("SELECT 1 FROM votes WHERE clip_id = ? AND voter = ? LIMIT 1", [clip_id, voter]).fetchone()
    return row is not None


def clips_with_counted_votes(db: sqlite_utils.Database, pool: str) -> list[int]:
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT c.id FROM clips c JOIN votes v ON v.clip_id = c.id "
            "WHERE c.pool = ? AND c.retired IS NULL AND v.counted = 1",
            [pool],
        )
    ]
