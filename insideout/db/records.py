"""The plain values the metadata interface takes and gives: pools, the Conflict a lost race raises,
and the Slot, RoundSlot, Challenge and Vote records.

Free of SQLite on purpose: every implementation of Metadata (SQLite, DynamoDB) and every
caller speaks in these.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pools import POOLS  # noqa: F401 - re-exported: callers import it from db


class Conflict(Exception):
    """A conditional write found the row changed under it (the other writer won)."""


@dataclass(frozen=True)
class Slot:
    slot: str
    position: int
    clip_id: int
    is_control: bool
    answer: str | None = None
    is_decoy: bool = False  # a play clip beside the control when no unverified clip is left: not scored, no vote


@dataclass(frozen=True)
class RoundSlot:
    """A slot of any round of a challenge, as it was served and answered (for evaluation, never a client)."""

    round_no: int
    slot: str
    position: int
    clip_id: int
    is_control: bool
    answer: str | None = None
    is_decoy: bool = False


@dataclass(frozen=True)
class Challenge:
    id: str
    client: str
    state: str
    round: int
    rounds_passed: int
    rounds_to_pass: int
    max_rounds: int
    created_at: float
    expires_at: float
    closed_at: float | None
    slots: tuple[Slot, ...]  # the current round's
    used_clip_ids: tuple[int, ...]  # every clip any round of this challenge has shown
    site: str = "builtin"  # the site key it was created for
    hostname: str | None = None  # the host of the page that asked for it (its Origin), when known
    action: str | None = None  # the site's label for where it was used (e.g. "login")
    method: str = "audio"  # the route that passes it: "audio" (rounds) or "pow" (the alternative)


@dataclass(frozen=True)
class Vote:
    """One answer on an unverified clip. voter: a client address (the store records its network, and caps a
    network's counted votes per clip) or a signed-in name (no network, no cap)."""

    clip_id: int
    voter: str
    emotion: str
    control_correct: bool
    source: str
    challenge_id: str | None = None
    round_no: int | None = None
