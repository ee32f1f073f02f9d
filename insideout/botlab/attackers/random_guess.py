"""RandomGuesser: a uniform guess among the round's emotions for every slot, and nothing learnt.

It is the floor: its pass rate must match the policy's analytic chance rate, which checks the arena and
the evaluation as much as the policy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..arena import Round


class RandomGuesser:
    name = "random"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def answer(self, round: Round) -> dict[str, str]:
        return {slot: str(self.rng.choice(round.emotions)) for slot in round.slots}

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        pass
