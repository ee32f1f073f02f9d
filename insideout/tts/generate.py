"""On-demand generation: new clips from the acoustic model go to the crowd (the unverified pool).

The emotion a clip was generated for is recorded as intended, never trusted: the crowd decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..corpus.starter import load_sentences
from ..emotions import EMOTION_IDS, emotion
from ..library import ClipInfo, Library
from ..wav import BadAudio

if TYPE_CHECKING:  # torch loads only when a generation runs, not when the app starts
    from .synthesize import Synthesizer

MAX_CLIPS = 1000


class GenerationError(ValueError):
    pass


@dataclass(frozen=True)
class GenerationRequest:
    count: int
    emotions: tuple[str, ...] = EMOTION_IDS
    sentences: tuple[str, ...] = ()  # empty: the shipped sentences
    seed: int = 0
    batch_size: int = 8

    def plan(self) -> list[tuple[str, str]]:
        """(sentence, emotion) pairs: emotions in turn, sentences drawn without repeats while they last."""
        if not 1 <= self.count <= MAX_CLIPS:
            raise GenerationError(f"count must be from 1 to {MAX_CLIPS}")
        if not self.emotions:
            raise GenerationError("choose at least one emotion")
        for e in self.emotions:
            emotion(e)
        sentences = [s.strip() for s in self.sentences if s.strip()] or load_sentences()
        rng = np.random.default_rng(self.seed)
        order: list[int] = []
        while len(order) < self.count:
            order.extend(rng.permutation(len(sentences)).tolist())
        return [(sentences[order[i]], self.emotions[i % len(self.emotions)]) for i in range(self.count)]


@dataclass
class GenerationReport:
    clip_ids: list[int] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"made": len(self.clip_ids), "failed": len(self.failed), "clip_ids": self.clip_ids,
                "failures": [f"{what}: {why}" for what, why in self.failed[:20]]}


def generate(library: Library, synthesizer: Synthesizer, request: GenerationRequest,
             progress: Callable[[int, int], None] | None = None,
             check_cancel: Callable[[], None] | None = None) -> GenerationReport:
    """Synthesize the planned clips in batches and add them to `unverified` with full provenance."""
    plan = request.plan()
    report = GenerationReport()
    for start in range(0, len(plan), request.batch_size):
        if check_cancel:
            check_cancel()
        chunk = plan[start:start + request.batch_size]
        results = synthesizer.synthesize([t for t, _ in chunk], [e for _, e in chunk])
        for (text, emotion_id), result in zip(chunk, results, strict=True):
            where = f"{emotion_id} {text!r}"
            if not result.stopped:
                report.failed.append((where, "the decoder did not stop (no alignment)"))
                continue
            info = ClipInfo(
                source="tts", intended_emotion=emotion_id, text=text, voice="tacotron2",
                engine="tacotron2+hifigan", model_version=result.model_version,
                provenance={"acoustic_model": result.model_version, "vocoder": result.vocoder,
                            "frames": result.frames, "checkpoint": synthesizer.acoustic.provenance,
                            "seed": request.seed},
            )
            try:
                report.clip_ids.append(library.add(result.wave, result.sample_rate, "unverified", info))
            except BadAudio as e:
                report.failed.append((where, str(e)))
        if progress:
            progress(min(start + request.batch_size, len(plan)), len(plan))
    return report
