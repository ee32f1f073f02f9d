"""Machine-hard controls: preferring as a round's scored clip the clips people agree on but machines get wrong.

A control is a play clip with a trusted label. Any clip a machine listener names right is one a bot built
the same way probably names right too, so the site keeps a machine listener of its own, the judge (a
surrogate of the bot lab's acoustic attacker), and uses it two ways:
- `HardFilter`: the restocker's accept hook. A freshly rendered candidate the judge names right
  (machine-easy) is rejected with probability `share` (0: off; 1: keep only clips the judge gets wrong),
  and another is rendered. `max_tries` caps the renders one accepted clip may cost per emotion, so an
  emotion the judge hears well is never starved.
- `rank_play_clips`: the play clips ordered hardest first, for preferring crowd-verified clips (few) that
  the judge gets wrong. Clips the judge was fitted on are scored out of fold, so it never grades its own
  homework.

The judge is the bot lab's classifier (botlab/classifier.py) fitted on the deployment's trusted clips:
the starter library (label by construction) and crowd-verified clips (label by consensus). It is kept in
the data dir and refitted when the trusted set has grown by a quarter ("retrained as the library grows").
Its feature set differs from the acoustic attacker's on purpose: what `insideout bench-hardness`
measures is how far hardness for one listener transfers to a listener trained differently.

Construction is cheap and fitting lazy (on the first clip judged), under a lock: the restocker calls the
filter from its own thread. When no judge can be fitted (fewer than two emotions of trusted clips) the
filter accepts everything: hardness is a preference, never a reason to starve the pool.
"""

from __future__ import annotations

import logging
import pickle
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .botlab import classifier as _classifier
from .botlab.classifier import EmotionClassifier, Example
from .emotions import EMOTION_IDS

log = logging.getLogger("insideout.hardness")

# Picked by `insideout bench-hardness` (480 fresh candidates, seeds 1 and 2; judge fitted on the 240-clip
# starter plan). At share 1 the acoustic attacker (84 % of all candidates) named 68 % [60, 75] of the clips a
# librosa judge accepted, 63 % [54, 71] of an eGeMAPS judge's, 56 % [47, 65] of an eGeMAPS + librosa judge's;
# the RBF SVM (88.5 % of all) 73 / 72 / 69 %, intervals overlapping. The last two judges hear with the
# attacker's own features, so their edge says more about that one bot than about one built otherwise; librosa
# needs no openSMILE and accepts the most (31 % vs 28 % and 24 %), the eGeMAPS judges starve sad and fearful.
JUDGE_FEATURE_SET = "librosa"
CACHE_NAME = "hardness-judge.pkl"  # in the data dir
GROWTH_TO_REFIT = 0.25  # refit when the trusted set has grown by this share since the last fit
RECHECK_S = 60.0  # how often the judge counts the trusted clips (a metadata query, no audio read)
DEFAULT_MAX_TRIES = 8  # renders per accepted clip of one emotion, at most (0: no cap)


def machine_easy(probabilities: Mapping[str, float], label: str, threshold: float = 0.0) -> bool:
    """Whether the judge names the clip's label right: its likeliest emotion is the label, with probability
    at least threshold (0: any right answer is easy; higher: only confident right answers are)."""
    if label not in probabilities:
        return False
    top = max(probabilities, key=lambda e: probabilities[e])
    return probabilities[top] <= probabilities[label] and probabilities[label] >= threshold


def _is_trusted(row: Mapping) -> str | None:
    """A clip's trusted label, or None: starter clips by construction, crowd clips by consensus."""
    if row.get("source") == "starter":
        emotion = row.get("intended_emotion") or row.get("label")
    elif row.get("label_source") == "consensus":
        emotion = row.get("label")
    else:
        return None
    return emotion if emotion in EMOTION_IDS else None


def trusted_rows(library) -> list[dict]:
    """The rows of the deployment's trusted clips, retired ones included (a spent clip still teaches)."""
    return [row for row in library.db.clips() if _is_trusted(row) is not None]


def trusted_examples(library) -> list[Example]:
    """The trusted clips with their labels, grouped by sentence (as classifier.starter_examples)."""
    from .wav import SAMPLE_RATE

    return [Example(library.wave(row["id"]), SAMPLE_RATE, _is_trusted(row), row.get("text") or "")
            for row in trusted_rows(library)]


class Judge:
    """The site's own machine listener, fitted lazily on the trusted clips and refitted as they grow.

    library: where the trusted clips are (None with examples); examples: fit on these instead (a bench,
    a test); cache: the fitted classifier's file (the data dir's CACHE_NAME in the app)."""

    def __init__(self, library=None, cache: str | Path | None = None, feature_set: str = JUDGE_FEATURE_SET,
                 examples: Sequence[Example] | None = None, growth: float = GROWTH_TO_REFIT,
                 recheck_s: float = RECHECK_S):
        if library is None and examples is None:
            raise ValueError("a judge needs a library or examples")
        self.library = library
        self.cache = Path(cache) if cache is not None else None
        self.feature_set = feature_set
        self.examples = list(examples) if examples is not None else None
        self.growth = growth
        self.recheck_s = recheck_s
        self._classifier: EmotionClassifier | None = None
        self._checked_at = float("-inf")
        self._unfittable_at = -1  # the trusted count a fit last failed at
        self._lock = threading.Lock()  # one fit at a time; the restocker's thread and an admin may both ask
        self.fits = 0

    def trusted_count(self) -> int:
        return len(self.examples) if self.examples is not None else len(trusted_rows(self.library))

    def _stale(self, fitted: EmotionClassifier, count: int) -> bool:
        return fitted.feature_set != self.feature_set or count >= fitted.trained_on * (1 + self.growth)

    def classifier(self) -> EmotionClassifier:
        """The fitted judge: from memory, else the cache, else fitted now; refitted when the trusted set
        has grown by `growth` since (counted at most every recheck_s). ValueError when it cannot be fitted."""
        with self._lock:
            now = time.monotonic()
            if self._classifier is not None and now - self._checked_at < self.recheck_s:
                return self._classifier
            count = self.trusted_count()
            self._checked_at = now
            if self._classifier is None and self.cache is not None and self.cache.is_file():
                try:
                    self._classifier = _classifier.load(self.cache)
                except (ValueError, OSError, pickle.UnpicklingError, EOFError, AttributeError):
                    self._classifier = None  # a stale or broken cache is refitted
            if self._classifier is None and count <= self._unfittable_at:
                raise ValueError(f"no judge: {count} trusted clips did not fit one, and none came since")
            if self._classifier is None or self._stale(self._classifier, count):
                try:
                    self._classifier = self._fit()
                except ValueError:
                    if self._classifier is None:
                        self._unfittable_at = count  # read the audio again only once more clips are trusted
                        raise
                    log.exception("hardness judge: refit failed; the last judge stays")
            return self._classifier

    def _fit(self) -> EmotionClassifier:
        examples = self.examples if self.examples is not None else trusted_examples(self.library)
        started = time.perf_counter()
        fitted = _classifier.fit(examples, feature_set=self.feature_set)  # ValueError under two emotions
        fitted.fingerprint = f"hardness-judge:{self.feature_set}:{len(examples)}"
        self.fits += 1
        log.info("hardness judge fitted on %d trusted clips (%s, cross-validated accuracy %s) in %.1f s",
                 len(examples), self.feature_set, fitted.cv_accuracy, time.perf_counter() - started)
        if self.cache is not None:
            fitted.save(self.cache)
        return fitted

    def probabilities(self, wave: np.ndarray, sample_rate: int) -> dict[str, float]:
        """The judge's probability of each emotion it knows for one clip."""
        fitted = self.classifier()
        return probabilities_of(fitted.pipeline, fitted.features(wave, sample_rate))


def probabilities_of(pipeline, x: np.ndarray) -> dict[str, float]:
    """A fitted sklearn pipeline's class probabilities for one feature vector, by emotion."""
    p = pipeline.predict_proba(np.asarray(x, dtype=np.float64)[None, :])[0]
    return {str(c): float(v) for c, v in zip(pipeline.classes_, p, strict=True)}


@dataclass
class FilterStats:
    """What a HardFilter has decided since it was built."""

    judged: int = 0
    accepted: int = 0
    rejected: int = 0
    forced: int = 0  # machine-easy clips accepted because their emotion hit max_tries
    unjudged: int = 0  # accepted without a judge (none could be fitted)
    per_emotion: dict[str, list[int]] = field(default_factory=dict)  # emotion -> [judged, accepted]


class HardFilter:
    """The restocker's accept hook: __call__(wave, sr, label) -> accept?

    share: the share of machine-easy candidates rejected (0: off, nothing is judged; 1: only clips the
    judge gets wrong pass); threshold: see machine_easy; max_tries: after max_tries - 1 rejections in a
    row of one emotion, its next candidate is accepted whatever the judge says, so one accepted clip costs
    at most max_tries renders (0: no cap)."""

    def __init__(self, judge: Judge | Callable[[], Judge], share: float, threshold: float = 0.0,
                 max_tries: int = DEFAULT_MAX_TRIES, rng: random.Random | None = None):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share}")
        if max_tries < 0:
            raise ValueError(f"max_tries must be >= 0, got {max_tries}")
        self._judge = judge
        self.share = share
        self.threshold = threshold
        self.max_tries = max_tries
        self._rng = rng or random.SystemRandom()  # a bot must not predict which easy clips slip through
        self._streak: dict[str, int] = {}  # emotion -> rejections in a row
        self._lock = threading.Lock()
        self.stats = FilterStats()
        self._warned = False

    @property
    def judge(self) -> Judge:
        with self._lock:
            if not isinstance(self._judge, Judge):
                self._judge = self._judge()  # built on first use: the app's start stays cheap
            return self._judge

    def __call__(self, wave: np.ndarray, sample_rate: int, label: str) -> bool:
        if self.share <= 0.0:
            return True
        try:
            probabilities = self.judge.probabilities(wave, sample_rate)
        except ValueError as error:  # no judge can be fitted yet: prefer nothing, starve nothing
            with self._lock:
                self.stats.unjudged += 1
                if not self._warned:
                    log.warning("machine-hard filter off for now: %s", error)
                    self._warned = True
            return True
        easy = machine_easy(probabilities, label, self.threshold)
        with self._lock:
            counts = self.stats.per_emotion.setdefault(label, [0, 0])
            counts[0] += 1
            self.stats.judged += 1
            streak = self._streak.get(label, 0)
            forced = self.max_tries > 0 and streak >= self.max_tries - 1
            accept = not easy or forced or self._rng.random() >= self.share
            if accept:
                self._streak[label] = 0
                self.stats.accepted += 1
                self.stats.forced += int(easy and forced)
                counts[1] += 1
            else:
                self._streak[label] = streak + 1
                self.stats.rejected += 1
            return accept


def hard_filter(library, data_dir: str | Path, share: float, **options) -> HardFilter:
    """The restocker's hook for a deployment: a judge on the library's trusted clips, kept in the data dir,
    built and fitted only when the first candidate is judged (never with share 0)."""
    return HardFilter(lambda: Judge(library, cache=Path(data_dir) / CACHE_NAME), share, **options)


@dataclass(frozen=True)
class Hardness:
    """How the judge hears one play clip."""

    clip_id: int
    label: str
    source: str
    trusted: bool  # the judge was fitted on it: scored out of fold
    p_label: float  # the judge's probability of the clip's label
    heard: str  # the judge's likeliest emotion
    easy: bool  # machine_easy at the ranking's threshold


def rank_play_clips(judge: Judge, library, threshold: float = 0.0, folds: int = 5) -> list[Hardness]:
    """The active play clips, hardest first (lowest probability of their label). A clip the judge was
    fitted on (starter, crowd-verified) is scored by a judge fitted without its sentence's fold, else every
    crowd clip would look easy to the judge that learnt it; other play clips by the judge itself."""
    from sklearn.model_selection import GroupKFold

    from .wav import SAMPLE_RATE

    fitted = judge.classifier()
    rows = [r for r in library.db.clips("play", include_retired=False) if r.get("label") in EMOTION_IDS]
    trusted = trusted_rows(library)
    out_of_fold: dict[int, dict[str, float]] = {}
    groups = [r.get("text") or str(r["id"]) for r in trusted]
    n_folds = min(folds, len(set(groups)))
    if n_folds >= 2:
        x_trusted = np.stack([fitted.features(library.wave(r["id"]), SAMPLE_RATE) for r in trusted])
        y_trusted = np.array([_is_trusted(r) for r in trusted])
        for train, test in GroupKFold(n_splits=n_folds).split(x_trusted, y_trusted, groups):
            if len(set(y_trusted[train])) < 2:
                continue
            pipe = _classifier.pipeline().fit(x_trusted[train], y_trusted[train])
            for i in test:
                out_of_fold[trusted[i]["id"]] = probabilities_of(pipe, x_trusted[i])
    out = []
    for row in rows:
        p = out_of_fold.get(row["id"])
        if p is None:
            p = probabilities_of(fitted.pipeline, fitted.features(library.wave(row["id"]), SAMPLE_RATE))
        label = row["label"]
        out.append(Hardness(row["id"], label, row["source"], row["id"] in out_of_fold, p.get(label, 0.0),
                            max(p, key=lambda e: p[e]), machine_easy(p, label, threshold)))
    return sorted(out, key=lambda h: (h.p_label, h.clip_id))
