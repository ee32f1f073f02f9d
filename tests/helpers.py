"""Answers a test can give because it can look inside the server's database."""

from __future__ import annotations

import secrets

from insideout.emotions import EMOTION_IDS
from insideout.services import Services


def control_label(services: Services, challenge_id: str) -> tuple[str, str]:
    challenge = services.db.get_challenge(challenge_id)
    control = next(s for s in challenge.slots if s.is_control)
    return control.slot, services.db.get_clip(control.clip_id)["label"]


def answers(services: Services, challenge_id: str, right: bool, vote: str = "happy") -> dict:
    """Answer every slot: the control right or wrong, the unverified clip with `vote`."""
    challenge = services.db.get_challenge(challenge_id)
    out = {}
    for s in challenge.slots:
        if s.is_control:
            label = services.db.get_clip(s.clip_id)["label"]
            out[s.slot] = label if right else next(e for e in EMOTION_IDS if e != label)
        else:
            out[s.slot] = vote
    return out


def unverified_clip(services: Services, challenge_id: str) -> int | None:
    challenge = services.db.get_challenge(challenge_id)
    return next((s.clip_id for s in challenge.slots if not s.is_control), None)


def start_clip_ids_at(services: Services, first: int) -> None:
    """Make the clip ids of a library start at `first` with a retired row before it, so that an id reaching a
    page is a long, unmistakable number (the browser tests look for them)."""
    with services.db.transaction() as db:
        db["clips"].insert({"id": first - 1, "audio_name": secrets.token_hex(16), "pool": "play",
                            "store_pool": "play", "label": "calm", "label_source": "trusted",
                            "retired": "id-start", "source": "test", "provenance": "{}",
                            "duration_s": 0.4, "sha256": secrets.token_hex(32), "created_at": 0,
                            "updated_at": 0})


def stored_rows(db, table: str) -> list[dict]:
    """Every row of one of the store's tables as the store keeps it (SQLite rows, or DynamoDB items): for tests
    of what is stored, and what is not."""
    if hasattr(db, "read"):
        with db.read() as conn:
            return [dict(r) for r in conn.query(f"SELECT * FROM {table}")]
    return list(db.d.scan(table))
