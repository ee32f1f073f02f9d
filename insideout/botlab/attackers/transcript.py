"""The transcript attacker: a bot that reads the emotion from the words, not from the voice.

It recognises each served clip's words offline (botlab.asr) and names the emotion with a text classifier
(TF-IDF over words and word pairs into a logistic regression) fitted on transcripts of clips it renders
itself from the public recipe (acoustic.Recipe: its own sentences, voices and seeds, each sentence in
all eight emotions). The starter library speaks emotion-neutral sentences, every one in every emotion,
so the words should say nothing: this attacker is the check that they don't, and should stay at chance
(12.5 % a clip). If it climbs, the sentences (or the way an emotion preset changes what the recognizer
hears) leak the answer.

Rendering and recognising cost about 0.5 s a clip together, so the default training set is small
(16 sentences, 128 clips) and the fitted text model can be kept in a file (`cache`), keyed by the recipe.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arena import Round
from ..classifier import write_pickle
from .acoustic import Recipe, render_examples

FORMAT = "insideout-transcript-attacker-1"


@dataclass
class TextModel:
    """A fitted sklearn pipeline from a transcript to an emotion id, and what it was fitted on."""

    pipeline: object
    key: str
    trained_on: int
    cv_accuracy: float | None = None

    def predict(self, transcripts: Sequence[str]) -> list[str]:
        return [str(p) for p in self.pipeline.predict(list(transcripts))]


def _pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # single letters count too: the recognizer often hears "a" or "i" where a synthetic voice mumbles
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b"),
                         LogisticRegression(C=1.0, max_iter=2000))


def fit_text(transcripts: Sequence[str], emotions: Sequence[str], groups: Sequence[str], key: str) -> TextModel:
    """Fit on transcripts with their emotions; cross-validated by group (sentence) when there are enough."""
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import GroupKFold, cross_val_score

    x, y = list(transcripts), np.array(emotions)
    if not any(t.strip() for t in x):
        # the recognizer heard nothing at all: no words, no vocabulary; the bot can only guess
        return TextModel(DummyClassifier(strategy="uniform", random_state=0).fit(np.zeros((len(y), 1)), y), key,
                         len(y))
    folds = min(5, len(set(groups)))
    cv = None
    if folds >= 2:
        with contextlib.suppress(ValueError):  # a fold with no words: the fit below is still fine
            cv = float(np.mean(cross_val_score(_pipeline(), x, y, groups=list(groups), cv=GroupKFold(folds))))
    return TextModel(_pipeline().fit(x, y), key, len(y), cv)


def transcribe(wave: np.ndarray, sample_rate: int) -> str:
    from ..asr import shared_recognizer

    return shared_recognizer().transcribe(wave, sample_rate)


_FITTED: dict[str, TextModel] = {}  # recipe key -> model: fresh attackers in one process share it


def trained_text_model(recipe: Recipe, cache: str | Path | None = None) -> TextModel:
    """The text model fitted on the transcripts of the recipe's clips, from cache when the recipe matches."""
    from ...corpus.synth import available_voices

    key = f"{FORMAT}:{recipe.key(recipe.voices or available_voices())}"
    if key in _FITTED:
        return _FITTED[key]
    if cache is not None and Path(cache).is_file():
        try:
            with Path(cache).open("rb") as f:
                data = pickle.load(f)  # noqa: S301 - our own cache file
            if isinstance(data, dict) and data.get("format") == FORMAT and data["model"].key == key:
                _FITTED[key] = data["model"]
                return data["model"]
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError):
            pass  # a stale or broken cache is refitted
    examples = render_examples(recipe)
    model = fit_text([transcribe(ex.wave, ex.sample_rate) for ex in examples], [ex.emotion for ex in examples],
                     [ex.group for ex in examples], key)
    if cache is not None:
        write_pickle(cache, {"format": FORMAT, "model": model})
    _FITTED[key] = model
    return model


class TranscriptAttacker:
    """Names each slot's emotion from the words the recognizer hears in it. Fitted on first use."""

    name = "transcript"

    def __init__(self, seed: int = 0, clips_per_emotion: int = 16, cache: str | Path | None = None):
        self.recipe = Recipe(clips_per_emotion, seed)
        self.cache = cache
        self._model: TextModel | None = None

    @property
    def model(self) -> TextModel:
        if self._model is None:
            self._model = trained_text_model(self.recipe, self.cache)
        return self._model

    def name_emotions(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[str]:
        """An emotion id per clip, from its transcript."""
        return self.model.predict([transcribe(w, sample_rate) for w in waves])

    def answer(self, round: Round) -> dict[str, str]:
        from ...wav import decode

        out = {}
        for slot in round.slots:
            wave, sr = decode(round.audio[slot])
            out[slot] = self.name_emotions([wave], sr)[0]
        return out

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        pass  # by design: what the recipe's words alone say

