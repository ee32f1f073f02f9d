"""Votes, tallies and the consensus rule: the one place that decides when the crowd agrees."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .db import Vote
from .emotions import EMOTION_IDS
from .library import Library
from .settings import Settings

log = logging.getLogger("insideout.consensus")


@dataclass(frozen=True)
class ConsensusRule:
    """The crowd agrees on a clip when its top emotion has at least min_votes counted votes and min_share of
    them (and no tie); ambiguous_after counted votes without that retire it. Defaults: the settings table."""

    min_votes: int
    min_share: float
    ambiguous_after: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsensusRule:
        return cls(
            settings.consensus_min_votes,
            settings.consensus_min_share,
            settings.ambiguous_after_votes,
        )


@dataclass(frozen=True)
class Verdict:
    state: str  # "consensus", "ambiguous" or "open"
    label: str | None
    total: int
    share: float


def judge(tally: dict[str, int], rule: ConsensusRule) -> Verdict:
    """Apply the rule to counted votes per emotion. A tie at the top is never a consensus."""
    total = sum(tally.values())
    if total == 0:
        return Verdict("open", None, 0, 0.0)
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], EMOTION_IDS.index(kv[0])))
    top, top_n = ranked[0]
    share = top_n / total
    tied = len(ranked) > 1 and ranked[1][1] == top_n
    if total >= rule.min_votes and share >= rule.min_share and not tied:
        return Verdict("consensus", top, total, share)
    if total >= rule.ambiguous_after:
        return Verdict("ambiguous", None, total, share)
    return Verdict("open", top, total, share)


def votes_to_consensus(tally: dict[str, int], rule: ConsensusRule) -> int | None:
    """The fewest further counted votes, all for the current top emotion, that would settle a clip as a
    consensus; 0 when it already is, None when it would be retired as ambiguous first. How near a clip is."""
    return _votes_to_consensus(tuple(tally.get(e, 0) for e in EMOTION_IDS), rule)


@functools.lru_cache(maxsize=4096)
def _votes_to_consensus(counts: tuple[int, ...], rule: ConsensusRule) -> int | None:
    # Cached: a queue of thousands of clips holds a few hundred distinct tallies, each tried vote by vote.
    tally = dict(zip(EMOTION_IDS, counts, strict=True))
    top = judge(tally, rule).label or EMOTION_IDS[0]  # with no votes, any emotion: unanimity is what counts
    total = sum(tally.values())
    for more in range(max(0, rule.ambiguous_after - total) + 1):
        if judge({**tally, top: tally[top] + more}, rule).state == "consensus":
            return more
    return None


class Consensus:
    def __init__(self, library: Library, rule: ConsensusRule):
        self.library = library
        self.db = library.db
        self.rule = rule
        # Called after a clip reaches the learning pool (Services wires the retraining threshold here).
        self.on_learning: Callable[[], object] | None = None

    def record(self, votes: list[Vote]) -> list[bool]:
        """Record votes outside a challenge (the labeling view); returns which counted."""
        counted = self.db.insert_votes(votes, time.time())
        for clip_id in {v.clip_id for v, c in zip(votes, counted, strict=True) if c}:
            self.settle(clip_id)
        return counted

    def settle(self, clip_id: int) -> Verdict:
        """Apply the rule to an unverified clip and move it if the crowd has decided. Idempotent:
        the move is conditional on the clip still being unverified, so it happens once."""
        verdict = judge(self.db.tally(clip_id), self.rule)
        if verdict.state == "consensus":
            moved = self.library.move(clip_id, "unverified", "learning", verdict.label, "consensus")
            if moved and self.on_learning is not None:
                try:
                    self.on_learning()
                except Exception:  # noqa: BLE001 - a vote is recorded whatever happens to the retraining
                    log.exception("starting a retraining after clip %s reached learning failed", clip_id)
        elif verdict.state == "ambiguous":
            self.db.retire(clip_id, "unverified", "ambiguous", time.time())
        return verdict

    def settle_all(self) -> int:
        """At start: settle clips whose last vote was recorded but not acted on (crash between)."""
        clip_ids = self.db.clips_with_counted_votes("unverified")
        for clip_id in clip_ids:
            self.settle(clip_id)
        return len(clip_ids)

    def tallies(self) -> list[dict]:
        """Per clip: counted votes per emotion, pool and the rule's verdict."""
        out = []
        for row in self.db.tallies():
            verdict = judge(row["votes"], self.rule)
            out.append(
                {
                    "clip": row["clip_id"],
                    "pool": row["pool"],
                    "state": "ambiguous" if row["retired"] == "ambiguous" else verdict.state,
                    "label": row["label"],
                    "intended_emotion": row["intended_emotion"],
                    "votes": {e: row["votes"].get(e, 0) for e in EMOTION_IDS},
                    "counted_votes": verdict.total,
                    "top_share": round(verdict.share, 4),
                }
            )
        return out
