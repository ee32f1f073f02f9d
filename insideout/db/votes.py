"""Votes and the tallies made from them.

A voter's votes on one clip count once: the database's partial unique index refuses a second counted
row, so the check holds under concurrent answers too.

Every vote records its voter's network (identity.network_of: the IPv4 /24 or IPv6 /48 of the address; none
for a signed-in name). With a cap (INSIDEOUT_VOTES_PER_NETWORK > 0), a network's counted votes on one clip stop
at the cap: the next is kept, not counted, as 'network_cap'. The count and the insert run in the caller's one
write transaction (BEGIN IMMEDIATE), so concurrent answers cannot push a network past its cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from ..identity import network_of
from .records import Vote

# Why a vote was kept but not counted.
CONTROL_WRONG = "control_wrong"  # the round's control was answered wrong
REPEAT_VOTER = "repeat_voter"  # this voter already has a counted vote on the clip
NETWORK_CAP = "network_cap"  # the voter's network already has its cap of counted votes on the clip


def insert(db: sqlite_utils.Database, votes: list[Vote], now: float, per_network: int = 0) -> list[bool]:
    """Record votes inside the caller's write transaction; returns for each whether it counted. per_network:
    counted votes one network may give one clip (0: no cap)."""
    counted = []
    for v in votes:
        network = network_of(v.voter)
        row = [v.clip_id, v.voter, v.emotion, v.source, v.challenge_id, v.round_no, now, network]
        if not v.control_correct:
            reason = CONTROL_WRONG
        elif per_network > 0 and network is not None and _network_counted(db, v.clip_id, network) >= per_network:
            # A repeat is the truer reason when the voter itself already counted (its network's cap is then
            # reached by its own vote, among others).
            reason = REPEAT_VOTER if _has_counted(db, v.clip_id, v.voter) else NETWORK_CAP
        else:
            # The partial unique index makes a second counted vote of one voter fail here.
            cur = db.execute(
                "INSERT OR IGNORE INTO votes (clip_id, voter, emotion, source, challenge_id, "
                "round_no, created_at, network, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                row,
            )
            if cur.rowcount == 1:
                counted.append(True)
                continue
            reason = REPEAT_VOTER
        db.execute(
            "INSERT INTO votes (clip_id, voter, emotion, source, challenge_id, round_no, "
            "created_at, network, counted, why_not_counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [*row, reason],
        )
        counted.append(False)
    return counted


def _network_counted(db: sqlite_utils.Database, clip_id: int, network: str) -> int:
    # The votes_tally index narrows this to the clip's counted votes: a few dozen rows at most (a clip is
    # decided or retired by then).
    return db.execute(
        "SELECT count(*) FROM votes WHERE clip_id = ? AND counted = 1 AND network = ?", [clip_id, network]
    ).fetchone()[0]


def _has_counted(db: sqlite_utils.Database, clip_id: int, voter: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM votes WHERE clip_id = ? AND voter = ? AND counted = 1 LIMIT 1", [clip_id, voter]
    ).fetchone()
    return row is not None


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


def counted_on(db: sqlite_utils.Database, clip_ids: Iterable[int]) -> list[dict[str, Any]]:
    # One JSON parameter instead of an IN list: a batch can hold more clips than SQLite takes parameters.
    return [
        dict(r)
        for r in db.query(
            "SELECT clip_id, voter, emotion, network, challenge_id, source, created_at FROM votes "
            "WHERE counted = 1 AND clip_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            [json.dumps(sorted(set(clip_ids)))],
        )
    ]


def challenges_voted_in(db: sqlite_utils.Database, voters: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(voters))
    found = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT voter, count(DISTINCT challenge_id) FROM votes "
            "WHERE voter IN (SELECT value FROM json_each(?)) GROUP BY voter",
            [json.dumps(wanted)],
        )
    }
    return {voter: found.get(voter, 0) for voter in wanted}
