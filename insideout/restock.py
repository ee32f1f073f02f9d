"""Fresh clips: keeping the play pool stocked with newly rendered clips, so remembering clips is worth little.

With a serve budget (settings: SERVE_BUDGET) every play clip is retired once it has been served that many
times (captcha.py counts and retires). Without new clips the pool would drain, so a restocker renders new
ones whenever the pool holds fewer than PLAY_POOL_TARGET: new sentences from the sentence generator (the
teacher corpus's templates, at a seed no one can know in advance, minus every sentence of the starter
library and the held-out set), the starter voices and emotion presets, a render seed drawn at random. The
labels are true by construction, as in the starter library. The emotions are balanced: each new clip is
of the emotion the pool holds fewest of.

The restocker runs on a thread of its own, not on the job runner: a fine-tune can hold the job runner for
hours, and the pool must not starve meanwhile. It renders one clip at a time (one core), and yields the
core between clips. When demand outruns it, the pool drains and new challenges are refused as NoClips
(HTTP 503) until it catches up: a spent clip is never served again, by design.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .corpus.variation import Variation
from .db import Metadata
from .emotions import EMOTION_IDS
from .library import ClipInfo, Library
from .settings import Settings

log = logging.getLogger("insideout.restock")

SENTENCE_BATCH = 64  # sentences drawn per generator seed; a new seed when they are used up


def emotions_to_render(counts: Mapping[str, int], target: int) -> list[str]:
    """The emotions of the clips that bring the pool up to target, each to the emotion with fewest clips
    (ties in EMOTION_IDS order), so the pool stays balanced however it was spent."""
    counts = {e: int(counts.get(e, 0)) for e in EMOTION_IDS}
    out: list[str] = []
    for _ in range(max(0, target - sum(counts.values()))):
        emotion = min(EMOTION_IDS, key=lambda e: counts[e])
        counts[emotion] += 1
        out.append(emotion)
    return out


@dataclass(frozen=True)
class RestockStats:
    """What the restocker has done since it started."""

    rendered: int  # clips added
    failed: int
    render_s: float  # wall seconds spent rendering, rejected candidates included
    running: bool
    rejected: int = 0  # rendered candidates that accept refused

    @property
    def acceptance(self) -> float | None:
        tried = self.rendered + self.rejected
        return self.rendered / tried if tried else None

    @property
    def clips_per_s(self) -> float | None:
        return self.rendered / self.render_s if self.render_s > 0 else None


class Sentences:
    """An endless supply of generator sentences that neither the starter library nor the held-out set
    speaks, in batches at unpredictable seeds."""

    def __init__(self, rng: random.Random | None = None):
        self._rng = rng or secrets.SystemRandom()
        self._batch: list[str] = []
        self._taken: set[str] | None = None

    def next(self) -> str:
        if not self._batch:
            from .corpus.teacher import teacher_sentences
            from .sentences import held_out_sentences, load_sentences

            if self._taken is None:
                self._taken = {s.lower() for s in load_sentences() + held_out_sentences()}
            drawn = teacher_sentences(SENTENCE_BATCH, self._rng.randrange(2**31))
            self._batch = [s for s in drawn if s.lower() not in self._taken]
            self._rng.shuffle(self._batch)
        return self._batch.pop()


Render = Callable[[str, str, str, int], tuple[np.ndarray, dict]]  # (text, emotion, voice, seed) -> (wave, provenance)
Transform = Callable[[np.ndarray, int, str], np.ndarray]  # (wave, sample rate, emotion) -> the wave to store
Accept = Callable[[np.ndarray, int, str], bool]  # (wave, sample rate, emotion) -> keep it as a play clip?

MAX_TRIES = 50  # rendered candidates per added clip before a step gives up (an accept that refuses everything)


def variation_of(settings: Settings) -> Variation:
    """The deployment's departure from the public recipe: PRESET_VARIATION, CLIP_PITCH_ST, CLIP_TEMPO."""
    return Variation.for_deployment(settings.secret_key, settings.preset_variation, settings.clip_pitch_st,
                                    settings.clip_tempo)


class Restocker:
    """Keeps `target` active play clips. step() adds at most one clip (the unit the thread repeats and
    tests call); start() runs steps on a daemon thread until stop().

    variation: the deployment's recipe (variation.py), given to the default renderer. transform: applied to
    each rendered wave before it is stored (an adversarial perturbation). accept: a rendered candidate it
    refuses is dropped and another rendered (machine-hard controls), up to MAX_TRIES per clip."""

    def __init__(self, library: Library, target: int, render: Render | None = None,
                 voices: tuple[str, ...] | None = None, idle_s: float = 1.0, variation: Variation | None = None,
                 transform: Transform | None = None, accept: Accept | None = None):
        self.library = library
        self.db: Metadata = library.db
        self.target = target
        self._render = render
        self._voices = voices
        self.variation = variation
        self.transform = transform
        self.accept = accept
        self.rejected = 0
        self.idle_s = idle_s
        self._sentences = Sentences()
        self._rng = secrets.SystemRandom()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one step at a time, thread or caller
        self.rendered = self.failed = 0
        self.render_s = 0.0

    def needed(self) -> list[str]:
        return emotions_to_render(self.db.play_counts(), self.target)

    def step(self) -> int | None:
        """Render and add one clip of the emotion the pool needs most; its id, or None when the pool is full."""
        with self._lock:
            needed = self.needed()
            if not needed:
                return None
            emotion = needed[0]
            for _ in range(MAX_TRIES):
                clip_id = self._candidate(emotion)
                if clip_id is not None:
                    return clip_id
            raise RuntimeError(f"restock: {MAX_TRIES} rendered {emotion} clips in a row were not accepted")

    def _candidate(self, emotion: str) -> int | None:
        """Render one clip of emotion; add it unless accept refuses it (then None)."""
        render, voices = self._engine()
        voice = voices[self._rng.randrange(len(voices))]
        sentence = self._sentences.next()
        seed = self._rng.randrange(2**31)  # not the public recipe's seeds: nobody can render the same clip
        started = time.perf_counter()
        try:
            wave, provenance = render(sentence, emotion, voice, seed)
            sr = int(provenance.get("sample_rate", 22050))
            if self.transform is not None:
                wave = self.transform(wave, sr, emotion)
            if self.accept is not None and not self.accept(wave, sr, emotion):
                self.rejected += 1
                return None
            clip_id = self.library.add(wave, sr, "play", ClipInfo(
                source="restock", label=emotion, intended_emotion=emotion, text=sentence, voice=voice,
                engine=provenance.get("engine"), provenance={**provenance, "restock": True}))
        except Exception:
            self.failed += 1
            log.exception("restock: rendering %r in %s by %s failed", sentence, emotion, voice)
            raise
        finally:
            self.render_s += time.perf_counter() - started
        self.rendered += 1
        return clip_id

    def _engine(self) -> tuple[Render, tuple[str, ...]]:
        if self._render is None:
            from functools import partial

            from .corpus.synth import available_voices, render_clip

            self._render = partial(render_clip, variation=self.variation) if self.variation else render_clip
            self._voices = self._voices or available_voices()
        if not self._voices:
            raise RuntimeError("no voice is available to render new clips")
        return self._render, self._voices

    def fill(self, limit: int | None = None) -> int:
        """Render until the pool is full (or limit clips); how many were added."""
        added = 0
        while (limit is None or added < limit) and self.step() is not None:
            added += 1
        return added

    # -- the thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.target <= 0 or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="insideout-restock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                added = self.step()
            except Exception:
                added = None
                self._stop.wait(10 * self.idle_s)  # a failing engine: try again later, without spinning
            if added is None:
                self._stop.wait(self.idle_s)
            else:
                time.sleep(0)  # let request threads in between clips

    def stats(self) -> RestockStats:
        return RestockStats(self.rendered, self.failed, round(self.render_s, 3),
                            self._thread is not None and self._thread.is_alive(), self.rejected)
