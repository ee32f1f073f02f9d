"""The starter library: every shipped sentence spoken in every emotion by the offline voices.

Each sentence is rendered in all eight emotions, so the words say nothing of the emotion. Voices rotate
with the sentence and the emotion together, so that every emotion gets every voice equally often and a
voice says nothing of the emotion either. Labels are true by construction: most clips go to `play`, a
share goes to `unverified` (with the emotion recorded only as intended) so crowd labeling has work
from the first day. The plan is deterministic for a seed; a build that stops part-way resumes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..emotions import EMOTION_IDS
from ..library import ClipInfo, Library
from ..sentences import load_sentences  # data/sentences.txt: what the starter library speaks
from ..wav import SAMPLE_RATE


@dataclass(frozen=True)
class StarterConfig:
    clips_per_emotion: int = 30  # play and unverified together
    unverified_share: float = 0.2  # so 24 play clips per emotion by default
    voices: tuple[str, ...] | None = None  # None: every voice that loads here
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class PlannedClip:
    sentence: str
    emotion: str
    voice: str
    seed: int
    pool: str

    @property
    def key(self) -> str:
        """Identifies the clip in the plan, so a resumed build skips what it made already."""
        return hashlib.sha256(f"{self.sentence}|{self.emotion}|{self.voice}|{self.seed}".encode()).hexdigest()[:16]


@dataclass
class BuildReport:
    made: int = 0
    skipped_existing: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    per_pool: Counter = field(default_factory=Counter)

    @property
    def clips_per_second(self) -> float:
        return self.made / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"made {self.made} clips in {self.seconds:.1f} s ({self.clips_per_second:.2f} clips/s); "
                f"play {self.per_pool['play']}, unverified {self.per_pool['unverified']}; "
                f"{self.skipped_existing} already there, {len(self.failed)} failed")


def plan(config: StarterConfig, sentences: list[str], voices: tuple[str, ...]) -> list[PlannedClip]:
    if not voices:
        raise ValueError("no voice is available to build the starter library")
    if config.clips_per_emotion < 1:
        raise ValueError("clips_per_emotion must be at least 1")
    if not 0 <= config.unverified_share < 1:
        raise ValueError("unverified_share must be in [0, 1)")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(sentences))
    n_unverified = round(config.clips_per_emotion * config.unverified_share)
    clips = []
    for i in range(config.clips_per_emotion):
        # Past the end of the sentence list, sentences come round again with the next voice.
        sentence = sentences[order[i % len(sentences)]]
        pool = "unverified" if i >= config.clips_per_emotion - n_unverified else "play"
        for e, emotion in enumerate(EMOTION_IDS):
            voice = voices[(i + e + i // len(sentences)) % len(voices)]
            clips.append(PlannedClip(sentence, emotion, voice, config.seed * 100_003 + i, pool))
    return clips


def _render(clip: PlannedClip) -> tuple[PlannedClip, np.ndarray | None, dict | str]:
    from .synth import render_clip

    try:
        wave, provenance = render_clip(clip.sentence, clip.emotion, clip.voice, clip.seed)
        return clip, wave, provenance
    except Exception as e:  # noqa: BLE001 - one bad clip must not stop the build; it is reported
        return clip, None, f"{type(e).__name__}: {e}"


def existing_keys(library: Library) -> set[str]:
    return {
        row["provenance"].get("starter_key")
        for row in library.db.clips()
        if row["source"] == "starter"
    } - {None}


def build(library: Library, config: StarterConfig = StarterConfig(), progress: bool = True,
          on_clip: Callable[[int, int], None] | None = None) -> BuildReport:
    """Render the planned clips (in worker processes) and add them to the library."""
    from .synth import available_voices

    started = time.perf_counter()
    voices = config.voices or available_voices()
    todo = plan(config, load_sentences(), tuple(voices))
    done = existing_keys(library)
    report = BuildReport(skipped_existing=sum(c.key in done for c in todo))
    todo = [c for c in todo if c.key not in done]
    bar = tqdm(total=len(todo), desc="starter library", unit="clip", disable=not progress)
    with ProcessPoolExecutor(max_workers=max(1, config.workers),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for clip, wave, provenance in pool.map(_render, todo, chunksize=4):
            if wave is None:
                report.failed.append((f"{clip.voice} {clip.emotion} {clip.sentence!r}", provenance))
            else:
                provenance = {**provenance, "starter_key": clip.key}
                info = ClipInfo(
                    source="starter",
                    label=clip.emotion if clip.pool == "play" else None,
                    intended_emotion=clip.emotion,
                    text=clip.sentence,
                    voice=clip.voice,
                    engine=provenance.get("engine"),
                    provenance=provenance,
                )
                library.add(wave, provenance.get("sample_rate", SAMPLE_RATE), clip.pool, info)
                report.made += 1
                report.per_pool[clip.pool] += 1
            bar.update(1)
            if on_clip:
                on_clip(report.made + len(report.failed), len(todo))
    bar.close()
    report.seconds = time.perf_counter() - started
    return report


MARKER = "starter_library.json"


def needs_build(library: Library, data_dir: Path) -> bool:
    """Build when the play pool is empty, or resume when a started build did not finish."""
    if library.db.count_pickable("play") == 0:
        return True
    return not (data_dir / MARKER).exists() and bool(existing_keys(library))


def mark_built(data_dir: Path, config: StarterConfig, report: BuildReport) -> None:
    record = {"seed": config.seed, "clips_per_emotion": config.clips_per_emotion,
              "unverified_share": config.unverified_share, "made": report.made,
              "seconds": round(report.seconds, 1), "failed": len(report.failed)}
    (data_dir / MARKER).write_text(json.dumps(record, indent=2))
