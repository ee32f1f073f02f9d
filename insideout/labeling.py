"""The labeling flow: signed-in volunteers label unverified clips one after another.

The next clip is the unverified clip that needs votes most and that this person has neither voted on nor
skipped; once everything left was skipped, the skipped clips come round again. A volunteer's vote always
counts as a trusted round would (they signed in through a captcha), once per person and clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import wav
from .accounts import Session
from .consensus import Consensus
from .db import Metadata, Vote
from .emotions import emotion
from .library import Library
from .ratelimit import RateLimits

SOURCE = "labeling"  # the votes' source


@dataclass(frozen=True)
class LabelingTurn:
    """Where a volunteer is: the clip playing now (None: nothing left to label) and the clips skipped."""

    clip_id: int | None = None
    skipped: tuple[int, ...] = ()


class LabelingFlow:
    def __init__(self, db: Metadata, library: Library, consensus: Consensus, rate_limits: RateLimits):
        self.db = db
        self.library = library
        self.consensus = consensus
        self.rate_limits = rate_limits

    def next(self, session: Session, turn: LabelingTurn = LabelingTurn()) -> LabelingTurn:
        clip_id = self.db.pick_unverified(list(turn.skipped), session.username)
        skipped = turn.skipped
        if clip_id is None and skipped:
            skipped = ()
            clip_id = self.db.pick_unverified([], session.username)
        return LabelingTurn(clip_id, skipped)

    def skip(self, session: Session, turn: LabelingTurn) -> LabelingTurn:
        skipped = turn.skipped if turn.clip_id is None else (*turn.skipped, turn.clip_id)
        return self.next(session, LabelingTurn(None, skipped))

    def vote(self, session: Session, turn: LabelingTurn, emotion_id: str, client: str) -> tuple[bool, LabelingTurn]:
        """Record the volunteer's label of the clip playing; returns whether it counted (a second vote of
        one person on one clip does not) and the next turn. RateLimited when the client asks too often;
        UnknownEmotion for anything but the eight ids."""
        emotion(emotion_id)
        if turn.clip_id is None:
            return False, self.next(session, turn)
        self.rate_limits.request(client)
        counted = self.consensus.record([Vote(turn.clip_id, session.username, emotion_id, True, SOURCE)])
        return counted[0], self.next(session, turn)

    def audio(self, turn: LabelingTurn) -> bytes | None:
        """The playing clip, varied per serving like challenge audio (the same clip may later be a control)."""
        if turn.clip_id is None:
            return None
        return wav.encode(wav.vary_for_serving(self.library.pcm(turn.clip_id), np.random.default_rng()))
