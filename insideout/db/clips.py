"""Clip rows: which pool each clip is in (and which its audio is stored in), its label and origin.

Moves are conditional updates on the pool a caller saw, so two movers of one clip cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlite_utils

from ..emotions import EMOTION_IDS
from .records import POOLS
from .schema import marks


def insert(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    row = dict(row)
    row["provenance"] = json.dumps(row.get("provenance") or {}, sort_keys=True)
    return db["clips"].insert(row).last_pk


def get(db: sqlite_utils.Database, clip_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM clips WHERE id = ?", [clip_id]))
    return _clip(rows[0]) if rows else None


def select(
    db: sqlite_utils.Database, pool: str | None, include_retired: bool, limit: int | None
) -> list[dict[str, Any]]:
    where, params = ["1 = 1"], []
    if pool is not None:
        where.append("pool = ?")
        params.append(pool)
    if not include_retired:
        where.append("retired IS NULL")
    sql = f"SELECT * FROM clips WHERE {' AND '.join(where)} ORDER BY id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_clip(r) for r in db.query(sql, params)]


def pool_counts(db: sqlite_utils.Database) -> dict[str, int]:
    counts = {pool: 0 for pool in POOLS}
    counts["retired"] = 0
    for r in db.query(
        "SELECT pool, retired IS NOT NULL AS retired, count(*) AS n FROM clips "
        "GROUP BY pool, retired IS NOT NULL"
    ):
        counts["retired" if r["retired"] else r["pool"]] += r["n"]
    return counts


def count_pickable(db: sqlite_utils.Database, pool: str, at_most: int | None = None) -> int:
    return db.execute("SELECT count(*) FROM (SELECT 1 FROM clips WHERE pool = ? AND retired IS NULL LIMIT ?)",
                      [pool, -1 if at_most is None else at_most]).fetchone()[0]


def _pick_play(db: sqlite_utils.Database, exclude: Iterable[int]) -> int | None:
    exclude = list(exclude)
    row = db.execute(
        "SELECT id FROM clips WHERE pool = 'play' AND retired IS NULL "
        f"AND id NOT IN ({marks(exclude)}) ORDER BY random() LIMIT 1",
        exclude,
    ).fetchone()
    return row[0] if row else None


SPENT = "spent: its serve budget is used up"  # the retired reason of a play clip the serve budget retired


def take_plays(db: sqlite_utils.Database, excludes: Sequence[Iterable[int]], budget: int,
               now: float) -> list[int] | None:
    """Inside the caller's write transaction: one distinct play clip per exclude list, each counted as served
    and retired at the budget; all or none (None: a pick found no clip, and nothing was counted), so a round
    that cannot be made spends no clip, and two concurrent rounds cannot both serve a clip's last serving."""
    chosen: list[int] = []
    for exclude in excludes:
        clip_id = _pick_play(db, [*exclude, *chosen])
        if clip_id is None:
            return None
        chosen.append(clip_id)
    db.execute(
        "UPDATE clips SET served = served + 1, "
        "retired = CASE WHEN ? > 0 AND served + 1 >= ? THEN ? ELSE retired END, "
        f"updated_at = CASE WHEN ? > 0 AND served + 1 >= ? THEN ? ELSE updated_at END WHERE id IN ({marks(chosen)})",
        [budget, budget, SPENT, budget, budget, now, *chosen],
    )
    return chosen


def return_plays(db: sqlite_utils.Database, clip_ids: Iterable[int], budget: int, now: float) -> None:
    """Inside the caller's write transaction: take_plays undone for clips a lost race never showed."""
    ids = list(clip_ids)
    db.execute(
        "UPDATE clips SET served = max(served - 1, 0), "
        "retired = CASE WHEN retired = ? AND served - 1 < ? THEN NULL ELSE retired END, "
        f"updated_at = ? WHERE id IN ({marks(ids)})",
        [SPENT, budget, now, *ids],
    )


def play_counts(db: sqlite_utils.Database) -> dict[str, int]:
    counts = dict.fromkeys(EMOTION_IDS, 0)
    for label, n in db.execute(
        "SELECT label, count(*) FROM clips WHERE pool = 'play' AND retired IS NULL GROUP BY label"
    ):
        if label in counts:
            counts[label] = n
    return counts


def pick_unverified(db: sqlite_utils.Database, exclude: Iterable[int], voter: str, network: str | None = None,
                    cap: int = 0) -> int | None:
    """The unverified clip with fewest counted votes that this voter has not voted on, and (with a cap per
    network) whose counted votes from the voter's network are under the cap: a vote that could not count
    would spend a visitor's attention for nothing."""
    exclude = list(exclude)
    capped = network is not None and cap > 0
    row = db.execute(
        "SELECT c.id FROM clips c "
        "LEFT JOIN votes v ON v.clip_id = c.id AND v.counted = 1 "
        "WHERE c.pool = 'unverified' AND c.retired IS NULL "
        f"AND c.id NOT IN ({marks(exclude)}) "
        "AND NOT EXISTS (SELECT 1 FROM votes w WHERE w.clip_id = c.id AND w.voter = ?) "
        + ("AND (SELECT count(*) FROM votes n WHERE n.clip_id = c.id AND n.counted = 1 AND n.network = ?) < ? "
           if capped else "")
        + "GROUP BY c.id ORDER BY count(v.id), random() LIMIT 1",
        [*exclude, voter, *([network, cap] if capped else [])],
    ).fetchone()
    return row[0] if row else None


def set_pool(
    db: sqlite_utils.Database,
    clip_id: int,
    from_pool: str,
    to_pool: str,
    now: float,
    label: str | None,
    label_source: str | None,
) -> bool:
    cur = db.execute(
        "UPDATE clips SET pool = ?, label = coalesce(?, label), "
        "label_source = coalesce(?, label_source), updated_at = ? "
        "WHERE id = ? AND pool = ? AND retired IS NULL",
        [to_pool, label, label_source, now, clip_id, from_pool],
    )
    return cur.rowcount == 1


def retire(db: sqlite_utils.Database, clip_id: int, from_pool: str, reason: str, now: float) -> bool:
    cur = db.execute(
        "UPDATE clips SET retired = ?, updated_at = ? WHERE id = ? AND pool = ? AND retired IS NULL",
        [reason, now, clip_id, from_pool],
    )
    return cur.rowcount == 1


def set_store_pool(db: sqlite_utils.Database, clip_id: int, from_pool: str, to_pool: str) -> bool:
    cur = db.execute(
        "UPDATE clips SET store_pool = ? WHERE id = ? AND store_pool = ?", [to_pool, clip_id, from_pool]
    )
    return cur.rowcount == 1


def in_transit(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [_clip(r) for r in db.query("SELECT * FROM clips WHERE pool != store_pool")]


def delete(db: sqlite_utils.Database, clip_id: int) -> None:
    db.execute("DELETE FROM clips WHERE id = ?", [clip_id])


def delete_in_pool(db: sqlite_utils.Database, clip_id: int, pool: str) -> bool:
    cur = db.execute("DELETE FROM clips WHERE id = ? AND pool = ? AND store_pool = ?", [clip_id, pool, pool])
    return cur.rowcount == 1


def _clip(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["provenance"] = json.loads(row.get("provenance") or "{}")
    return row
