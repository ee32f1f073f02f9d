"""Challenges, their rounds and slots, and the pass tokens a passed challenge issues.

An answer is settled by a conditional update on the challenge's state and round (Conflict when
another answer won); a token is spent by a conditional update on its used_at.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .records import Challenge, Conflict, RoundSlot, Slot

CHALLENGE_OPEN = "open"
CHALLENGE_PASSED = "passed"
CHALLENGE_FAILED = "failed"
CHALLENGE_STATES = (CHALLENGE_OPEN, CHALLENGE_PASSED, CHALLENGE_FAILED)


def insert(db: sqlite_utils.Database, challenge: dict[str, Any], slots: list[Slot]) -> None:
    db["challenges"].insert(challenge)
    if slots:  # a challenge passed by the proof-of-work route has no rounds
        insert_round(db, challenge["id"], challenge["round"], challenge["created_at"], slots)


def strikes(db: sqlite_utils.Database, client: str, since: float) -> tuple[int, float | None]:
    """(failed rounds of this client's challenges created since `since` and after its latest pass, when the
    oldest of those challenges was created). A round counts once answered: an abandoned challenge's failed
    rounds count as much as a finished one's."""
    last_pass = db.execute(
        "SELECT MAX(created_at) FROM challenges WHERE client = ? AND created_at >= ? AND state = ?",
        [client, since, CHALLENGE_PASSED],
    ).fetchone()[0]
    start = since if last_pass is None else max(since, last_pass)
    row = db.execute(
        "SELECT COALESCE(SUM((CASE WHEN state = 'open' THEN round - 1 ELSE round END) - rounds_passed), 0), "
        "MIN(created_at) FROM challenges WHERE client = ? AND created_at >= ? AND method = 'audio' "
        "AND (state != ? OR created_at > ?)",
        [client, start, CHALLENGE_PASSED, start],
    ).fetchone()
    return int(row[0]), row[1]


def get(db: sqlite_utils.Database, challenge_id: str) -> Challenge | None:
    rows = list(db.query("SELECT * FROM challenges WHERE id = ?", [challenge_id]))
    if not rows:
        return None
    c = rows[0]
    slots = [
        Slot(r["slot"], r["position"], r["clip_id"], bool(r["is_control"]), r["answer"], bool(r["is_decoy"]))
        for r in db.query(
            "SELECT * FROM slots WHERE challenge_id = ? AND round_no = ? ORDER BY position",
            [challenge_id, c["round"]],
        )
    ]
    used = [r[0] for r in db.execute("SELECT DISTINCT clip_id FROM slots WHERE challenge_id = ?", [challenge_id])]
    return Challenge(
        id=c["id"],
        client=c["client"],
        state=c["state"],
        round=c["round"],
        rounds_passed=c["rounds_passed"],
        rounds_to_pass=c["rounds_to_pass"],
        max_rounds=c["max_rounds"],
        created_at=c["created_at"],
        expires_at=c["expires_at"],
        closed_at=c["closed_at"],
        slots=tuple(slots),
        used_clip_ids=tuple(used),
        site=c["site"],
        hostname=c["hostname"],
        action=c["action"],
        method=c["method"],
    )


def slots_of(db: sqlite_utils.Database, challenge_id: str) -> list[RoundSlot]:
    return [
        RoundSlot(r["round_no"], r["slot"], r["position"], r["clip_id"], bool(r["is_control"]), r["answer"],
                  bool(r["is_decoy"]))
        for r in db.query(
            "SELECT * FROM slots WHERE challenge_id = ? ORDER BY round_no, position", [challenge_id]
        )
    ]


def answer_round(
    db: sqlite_utils.Database,
    challenge: Challenge,
    answers: dict[str, str],
    round_passed: bool,
    new_state: str,
    now: float,
    next_round: bool,
) -> None:
    """Close the current round and move the challenge on; Conflict unless it is still open at that
    round and unexpired."""
    cur = db.execute(
        "UPDATE challenges SET state = ?, round = ?, rounds_passed = ?, closed_at = ? "
        "WHERE id = ? AND state = ? AND round = ? AND expires_at > ?",
        [
            new_state,
            challenge.round + int(next_round),
            challenge.rounds_passed + int(round_passed),
            None if new_state == CHALLENGE_OPEN else now,
            challenge.id,
            CHALLENGE_OPEN,
            challenge.round,
            now,
        ],
    )
    if cur.rowcount != 1:
        raise Conflict(challenge.id)
    db.execute(
        "UPDATE rounds SET answered_at = ?, passed = ? WHERE challenge_id = ? AND round_no = ?",
        [now, int(round_passed), challenge.id, challenge.round],
    )
    for slot, emotion_id in answers.items():
        db.execute(
            "UPDATE slots SET answer = ? WHERE challenge_id = ? AND round_no = ? AND slot = ?",
            [emotion_id, challenge.id, challenge.round, slot],
        )


def insert_round(
    db: sqlite_utils.Database, challenge_id: str, round_no: int, now: float, slots: list[Slot]
) -> None:
    db["rounds"].insert({"challenge_id": challenge_id, "round_no": round_no, "started_at": now})
    db["slots"].insert_all(
        {
            "challenge_id": challenge_id,
            "round_no": round_no,
            "slot": s.slot,
            "position": s.position,
            "clip_id": s.clip_id,
            "is_control": int(s.is_control),
            "is_decoy": int(s.is_decoy),
        }
        for s in slots
    )


def insert_token(db: sqlite_utils.Database, token: dict[str, Any]) -> None:
    db["tokens"].insert(token)


def consume_token(db: sqlite_utils.Database, jti: str, challenge_id: str, now: float) -> str:
    row = db.execute(
        "SELECT t.used_at, t.expires_at, c.state FROM tokens t "
        "JOIN challenges c ON c.id = t.challenge_id WHERE t.jti = ? AND t.challenge_id = ?",
        [jti, challenge_id],
    ).fetchone()
    if row is None or row[2] != CHALLENGE_PASSED:
        return "unknown"
    if row[0] is not None:
        return "used"
    if row[1] <= now:
        return "expired"
    db.execute("UPDATE tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL", [now, jti])
    return "ok"
