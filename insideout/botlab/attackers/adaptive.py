"""The adaptive attacker: the acoustic attacker that also learns from the deployment it attacks.

It starts from the acoustic attacker's recipe-trained classifier and keeps, for every clip it is served,
the clip's features (the base classifier's feature set, from its first serving) and what the server's
answers proved about its label. Clips are recognised when served again by the memory attacker's
fingerprint.

What an answer proves: a challenge's last round decides it whatever the policy, so `passed` proves the
answers of that round right and `failed` proves them wrong; a `retry` proves a round wrong only under a
1-of-N policy, which the bot knows once it has seen a challenge pass in its first round (under k >= 2
none can). As in the memory attacker, only the control's answer decides a round, and a clip's role does
not change, so every clip is treated as though it were the control: a wrong "proof" about an unverified
clip costs nothing when answering. For training it does: only clips known to be controls become examples.
A clip is a known control when it was the only slot of a round, or when it came back to the same client
(the server serves a client each unverified clip at most once, while play clips recur).

Every `retrain_every` finished challenges it refits the classifier on the recipe's examples plus the
proven controls, each repeated `deployment_weight` times (they are the very clips it will be asked about
again, and far fewer than the recipe's). It answers a clip with its proven label, else with the
classifier's likeliest emotion that no wrong answer ruled out. The CPU seconds spent refitting are kept
in `retrain_cpu_s` (the evaluation's own timing covers answer and learn, refits included).

The recipe's feature matrix is needed for every refit; computing it renders the recipe again (minutes for
the default 512 clips), so it is kept in a file (`cache`) keyed by the recipe, like the classifier.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arena import Round
from ..classifier import write_pickle
from .acoustic import AcousticAttacker
from .memory import fingerprint, match, record_outcome

FORMAT = "insideout-adaptive-recipe-features-1"


@dataclass
class _Clip:
    """What the bot knows of one served clip."""

    fingerprint: np.ndarray
    features: np.ndarray
    label: str | None = None  # proven by a passed round
    wrong: set[str] = field(default_factory=set)  # proven wrong by a wrong round
    clients: dict[str, int] = field(default_factory=dict)  # client -> servings
    control: bool = False  # proven a play clip: served alone, or twice to one client


class AdaptiveAttacker:
    """Recipe-trained classifier + what the deployment's answers proved, refitted as it plays.

    base: the acoustic attacker whose recipe (or examples) it starts from (default: AcousticAttacker(seed));
    retrain_every: finished challenges between refits; deployment_weight: how many times a proven control
    counts beside a recipe example; cache: where to keep the recipe's feature matrix."""

    name = "adaptive"

    def __init__(self, seed: int = 0, base: AcousticAttacker | None = None, retrain_every: int = 50,
                 deployment_weight: int = 4, cache: str | Path | None = None):
        self.base = base if base is not None else AcousticAttacker(seed)
        self.retrain_every = retrain_every
        self.deployment_weight = deployment_weight
        self.cache = cache
        self._pipeline = None  # the refitted classifier; None: the base's until the first refit
        self._recipe: tuple[np.ndarray, np.ndarray] | None = None
        self._clips: list[_Clip] = []
        self._serving: dict[str, int] = {}  # slot -> clip index, for the round in play
        self._rounds: list[dict[int, str]] = []  # clip index -> answer, for the challenge's rounds in play
        self.one_of_n = False  # seen a challenge pass in its first round: every retry is a wrong round
        self.challenges = 0
        self.retrains = 0
        self.retrain_cpu_s = 0.0

    def prepare(self) -> None:
        """The base classifier fitted (or loaded) before the first challenge."""
        self.base.prepare()

    # -- recognising and answering -------------------------------------------------------------------

    @property
    def clips_known(self) -> int:
        return len(self._clips)

    @property
    def controls_proven(self) -> int:
        """Known controls with a proven label: the deployment examples of the next refit."""
        return sum(c.control and c.label is not None for c in self._clips)

    def _recognise(self, audio: bytes, client: str) -> int:
        from ...wav import decode

        fp = fingerprint(audio)
        index = match(fp, [c.fingerprint for c in self._clips])
        if index is None:
            wave, sr = decode(audio)
            self._clips.append(_Clip(fp, self.base.classifier.features(wave, sr)))
            index = len(self._clips) - 1
        clip = self._clips[index]
        clip.clients[client] = clip.clients.get(client, 0) + 1
        if clip.clients[client] > 1:
            clip.control = True  # the server never serves one client an unverified clip twice
        return index

    def _ranked(self, x: np.ndarray) -> list[str]:
        """Emotions from likeliest to least likely for one feature vector."""
        pipeline = self._pipeline if self._pipeline is not None else self.base.classifier.pipeline
        probabilities = pipeline.predict_proba(x[None, :])[0]
        return [str(pipeline.classes_[i]) for i in np.argsort(-probabilities)]

    def answer(self, round: Round) -> dict[str, str]:
        self._serving = {slot: self._recognise(round.audio[slot], round.client) for slot in round.slots}
        if len(round.slots) == 1:
            self._clips[self._serving[round.slots[0]]].control = True  # a round's one slot is its control
        out = {}
        for slot, index in self._serving.items():
            clip = self._clips[index]
            if clip.label is not None:
                out[slot] = clip.label
            else:
                ranked = [e for e in self._ranked(clip.features) if e in round.emotions]
                left = [e for e in ranked if e not in clip.wrong] or ranked or list(round.emotions)
                out[slot] = left[0]
        return out

    # -- learning ------------------------------------------------------------------------------------

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        self._rounds.append({self._serving[s]: answers[s] for s in round.slots})
        if status == "retry":
            return
        if status == "passed" and round.number == 1:
            self.one_of_n = True
        rounds, self._rounds = self._rounds, []
        self._apply(rounds[-1], right=status == "passed")  # the last round decides, whatever k is
        if self.one_of_n:
            for earlier in rounds[:-1]:
                self._apply(earlier, right=False)
        self.challenges += 1
        if self.retrain_every and self.challenges % self.retrain_every == 0:
            self.retrain()

    def _apply(self, answers: dict[int, str], right: bool) -> None:
        for index, emotion in answers.items():
            record_outcome(self._clips[index], emotion, right)

    # -- refitting -----------------------------------------------------------------------------------

    def recipe_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """The recipe's features and emotions (the base's examples when it has them), from cache if kept."""
        if self._recipe is None:
            key = self.base.classifier.fingerprint  # names the recipe (or the examples) the base was fitted on
            cached = _load(self.cache, key)
            if cached is None:
                from .acoustic import render_examples

                examples = self.base.examples if self.base.examples is not None else render_examples(self.base.recipe)
                extract = self.base.classifier.features
                cached = (np.stack([extract(ex.wave, ex.sample_rate) for ex in examples]),
                          np.array([ex.emotion for ex in examples]))
                _save(self.cache, key, cached)
            self._recipe = cached
        return self._recipe

    def retrain(self) -> None:
        """Refit on the recipe plus the proven controls; its CPU time goes into retrain_cpu_s."""
        from ..classifier import pipeline

        started = time.process_time()
        x, y = self.recipe_matrix()  # the first refit may render the recipe: counted too
        proven = [c for c in self._clips if c.control and c.label is not None]
        if proven:
            w = self.deployment_weight
            x = np.concatenate([x, np.repeat(np.stack([c.features for c in proven]), w, axis=0)])
            y = np.concatenate([y, np.repeat(np.array([c.label for c in proven]), w)])
        self._pipeline = pipeline().fit(x, y)
        self.retrains += 1
        self.retrain_cpu_s += time.process_time() - started


def _load(cache: str | Path | None, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    if cache is None or not Path(cache).is_file():
        return None
    try:
        with Path(cache).open("rb") as f:
            data = pickle.load(f)  # noqa: S301 - our own cache file
        if isinstance(data, dict) and data.get("format") == FORMAT and data.get("key") == key:
            return data["x"], data["y"]
    except (OSError, pickle.UnpicklingError, EOFError, KeyError):
        pass  # a stale or broken cache is recomputed
    return None


def _save(cache: str | Path | None, key: str, matrix: tuple[np.ndarray, np.ndarray]) -> None:
    if cache is not None:
        write_pickle(cache, {"format": FORMAT, "key": key, "x": matrix[0], "y": matrix[1]})
