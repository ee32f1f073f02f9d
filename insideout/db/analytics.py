"""Read-only queries for the admin dashboard: counted votes, confusion counts, challenge states and
answered rounds grouped several ways, and every vote for the CSV export.

They return plain counts and rows; insideout.stats does the arithmetic (kappa, alpha, rates) and the
shaping, so a second Metadata implementation only has to count the same things.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

CONFUSION_BASES = ("votes", "consensus")

# Answered rounds joined to their control slot's clip.
_CONTROL_ROUNDS = (
    "FROM rounds r JOIN slots s ON s.challenge_id = r.challenge_id AND s.round_no = r.round_no "
    "AND s.is_control = 1 JOIN clips c ON c.id = s.clip_id WHERE r.answered_at IS NOT NULL"
)


def counted_vote_sequences(db: sqlite_utils.Database) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for clip_id, emotion_id in db.execute(
        "SELECT clip_id, emotion FROM votes WHERE counted = 1 ORDER BY clip_id, created_at, id"
    ):
        out.setdefault(clip_id, []).append(emotion_id)
    return out


def counted_votes(db: sqlite_utils.Database) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in db.execute(
        "SELECT clip_id, voter, emotion FROM votes WHERE counted = 1 ORDER BY clip_id, created_at, id")]


def vote_totals(db: sqlite_utils.Database, since: float) -> tuple[int, int, int]:
    return tuple(db.execute(
        "SELECT count(*), coalesce(sum(counted = 1), 0), coalesce(sum(created_at >= ?), 0) FROM votes", [since]
    ).fetchone())


def confusion_counts(db: sqlite_utils.Database, by: str) -> list[tuple[str, str, int]]:
    if by == "votes":
        sql = ("SELECT c.intended_emotion, v.emotion, count(*) FROM votes v "
               "JOIN clips c ON c.id = v.clip_id "
               "WHERE v.counted = 1 AND c.intended_emotion IS NOT NULL GROUP BY 1, 2")
    elif by == "consensus":
        sql = ("SELECT intended_emotion, label, count(*) FROM clips "
               "WHERE intended_emotion IS NOT NULL AND label_source = 'consensus' GROUP BY 1, 2")
    else:
        raise ValueError(f"unknown basis {by!r}; expected one of {', '.join(CONFUSION_BASES)}")
    return [(intended, crowd, n) for intended, crowd, n in db.execute(sql)]


def challenge_counts(db: sqlite_utils.Database) -> dict[str, int]:
    return {r[0]: r[1] for r in db.execute("SELECT state, count(*) FROM challenges GROUP BY state")}


def round_totals(db: sqlite_utils.Database) -> tuple[int, int]:
    answered, passed = db.execute(
        "SELECT count(*), coalesce(sum(passed), 0) FROM rounds WHERE answered_at IS NOT NULL"
    ).fetchone()
    return answered, passed


def rounds_by_control_label(db: sqlite_utils.Database) -> dict[str, tuple[int, int]]:
    return {
        label: (n, p)
        for label, n, p in db.execute(
            f"SELECT c.label, count(*), coalesce(sum(r.passed), 0) {_CONTROL_ROUNDS} GROUP BY c.label"
        )
    }


def rounds_by_number(db: sqlite_utils.Database) -> list[tuple[int, int, int]]:
    return [
        (r, n, p)
        for r, n, p in db.execute(
            "SELECT round_no, count(*), coalesce(sum(passed), 0) FROM rounds "
            "WHERE answered_at IS NOT NULL GROUP BY round_no ORDER BY round_no"
        )
    ]


def answered_span(db: sqlite_utils.Database) -> tuple[float, float] | None:
    first, last = db.execute(
        "SELECT min(answered_at), max(answered_at) FROM rounds WHERE answered_at IS NOT NULL"
    ).fetchone()
    return None if first is None else (first, last)


def rounds_per_period(db: sqlite_utils.Database, bucket_s: int) -> list[tuple[float, int, int, int]]:
    return [
        (float(t), r, n, p)
        for t, r, n, p in db.execute(
            "SELECT CAST(answered_at / ? AS INTEGER) * ? AS period, round_no, count(*), "
            "coalesce(sum(passed), 0) FROM rounds WHERE answered_at IS NOT NULL "
            "GROUP BY period, round_no ORDER BY period, round_no",
            [bucket_s, bucket_s],
        )
    ]


def pass_counts_by_policy(db: sqlite_utils.Database) -> list[tuple[int, int, int, int]]:
    return [
        (k, n, passed, failed)
        for k, n, passed, failed in db.execute(
            "SELECT rounds_to_pass, max_rounds, coalesce(sum(state = 'passed'), 0), "
            "coalesce(sum(state = 'failed'), 0) FROM challenges GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ]


def all_votes(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [dict(r) for r in db.query("SELECT * FROM votes ORDER BY id")]
