"""SybilVoter: many fake clients voting one label onto unverified clips.

A vote on an unverified clip counts only when the round's control was answered right, and one client's
votes on a clip count once. A Sybil answers that with identities: the evaluation gives it a new client
address per challenge (`identity_per_challenge`), by default the next address of one block (a bot on one
host or one rented range), or with `spread=True` each in a /24 network of its own (`identity_spread =
"networks"`: a botnet of many homes, which a cap on counted votes per network does not group).

It cannot tell the control from the unverified slot, so when a round shows two slots it answers one, chosen
at random, with its inner attacker's guess (the only way its votes can count) and puts its own label on the
other. A one-slot round is all control: the inner guess answers it.

That split dilutes itself: when the planted label lands on a control whose true label it is, the round
passes and the inner guess is what counts on the unverified clip. With an inner attacker no better than
chance the planted label gets about half the counted votes, short of a 60 % consensus. `plant="every"`
puts the label on every slot instead: the control is right exactly when its label is the target (1 in 8),
and then every counted vote is the target's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np

from ..arena import Attacker, Round


class SybilVoter:
    name = "sybil"
    identity_per_challenge = True  # the evaluation plays each challenge from a fresh client address
    identity_spread: str | None = None  # "networks": each fresh address in a /24 of its own

    def __init__(self, target_label_of: Callable[[Round], str], seed: int, answerer: Attacker,
                 plant: Literal["one", "every"] = "one", spread: bool = False):
        if plant not in ("one", "every"):
            raise ValueError(f"plant is 'one' or 'every', not {plant!r}")
        if spread:
            self.identity_spread = "networks"
        self.target_label_of = target_label_of
        self.plant = plant
        self.name = "sybil" if plant == "one" else "sybil-every"
        self.answerer = answerer
        self.rng = np.random.default_rng(seed)
        self.planted: list[tuple[str, int, str, str]] = []  # (challenge, round, slot, label) it chose

    def prepare(self) -> None:
        """Its answerer's training, before the first challenge."""
        if hasattr(self.answerer, "prepare"):
            self.answerer.prepare()

    def answer(self, round: Round) -> dict[str, str]:
        answers = dict(self.answerer.answer(round))
        if len(round.slots) >= 2:
            label = self.target_label_of(round)
            chosen = round.slots if self.plant == "every" else [round.slots[int(self.rng.integers(len(round.slots)))]]
            for slot in chosen:
                answers[slot] = label
                self.planted.append((round.challenge_id, round.number, slot, label))
        return answers

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        # The inner attacker hears what was actually sent, its own guess and the planted label alike.
        self.answerer.learn(round, answers, status)
