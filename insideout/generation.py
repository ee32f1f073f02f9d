"""Generation: new clips from the acoustic model go to the crowd (the unverified pool), as a background job
(the admin page) or in the foreground (`insideout generate`); and the one rule of which checkpoint generates.

The emotion a clip was generated for is recorded as intended, never trusted: the crowd decides. So is the
speaker of the model's table it was spoken as (voices_for: by default the voices take turns), and with the pitch
guide the voice whose register it was spoken about (registers_for).
torch loads only when a generation runs, not when the app starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import faults
from .emotions import EMOTION_IDS, UnknownEmotion, emotion
from .jobs import GENERATE, JobContext, JobRefused, JobRunner
from .library import ClipInfo, Library
from .sentences import load_sentences
from .settings import Settings
from .wav import BadAudio

if TYPE_CHECKING:
    from .tts.synthesize import Synthesis, Synthesizer

MAX_CLIPS = 1000
ROTATE = "rotate"  # the model's voices in turn
BLEND = "blend"  # no speaker input: the voices' average (the only voice of a model without speakers)
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "tacotron2-emotion.pt"


def checkpoint_for(explicit: str | Path | None, active: str | None, setting: str | None) -> str:
    """Which acoustic model generates: an explicit choice (a command's --checkpoint), else the admin's active
    version, else INSIDEOUT_TTS_CHECKPOINT, else the shipped default. The one rule, for the app, retraining
    (what a fine-tune starts from), the command line and the evaluation."""
    for candidate in (explicit, active, setting):
        if candidate:
            return str(candidate)
    return str(SHIPPED_CHECKPOINT)


class GenerationError(JobRefused):
    """A request refused, said in English; `code` (with `values`) names it for a view that words it in its
    language: "count" (most), "no_emotion", "unknown_emotion" (emotion), "unknown_voice" (voice)."""


@dataclass(frozen=True)
class GenerationRequest:
    count: int
    emotions: tuple[str, ...] = EMOTION_IDS
    sentences: tuple[str, ...] = ()  # empty: the shipped sentences
    seed: int = 0
    batch_size: int = 8
    voice: str = ROTATE  # ROTATE, BLEND or one of the model's voices

    def plan(self) -> list[tuple[str, str]]:
        """(sentence, emotion) pairs: emotions in turn, sentences drawn without repeats while they last."""
        if not 1 <= self.count <= MAX_CLIPS:
            raise GenerationError(f"count must be from 1 to {MAX_CLIPS}", "count", most=MAX_CLIPS)
        if not self.emotions:
            raise GenerationError("choose at least one emotion", "no_emotion")
        for e in self.emotions:
            try:
                emotion(e)
            except UnknownEmotion as error:
                raise GenerationError(str(error), "unknown_emotion", emotion=str(e)) from None
        sentences = [s.strip() for s in self.sentences if s.strip()] or load_sentences()
        rng = np.random.default_rng(self.seed)
        order: list[int] = []
        while len(order) < self.count:
            order.extend(rng.permutation(len(sentences)).tolist())
        return [(sentences[order[i]], self.emotions[i % len(self.emotions)]) for i in range(self.count)]


def voices_for(choice: str, voices: tuple[str, ...], count: int) -> list[str]:
    """The speaker of each of count clips ("" for the blend), from a request's voice and the model's voices."""
    if choice == ROTATE:
        return [voices[i % len(voices)] for i in range(count)] if voices else [""] * count
    if choice == BLEND:
        return [""] * count
    if choice not in voices:
        raise GenerationError(f"the model has no voice {choice!r}; choose {ROTATE}, {BLEND}"
                              + (f" or one of {', '.join(voices)}" if voices else " (it has no speaker input)"),
                              "unknown_voice", voice=choice)
    return [choice] * count


def registers_for(choice: str, voices: tuple[str, ...], count: int) -> list[str]:
    """The voice whose register the pitch guide speaks each of count clips about (tts/guide.py): its speaker's;
    but a model without speakers asked to rotate takes the starter voices' registers in turn (its timbre
    stays the blend's), since at one register for all its clips the judge named fewer of their emotions
    (the model card) and every clip would sit at one pitch."""
    from .tts.guide import REGISTERS_HZ, register_voice

    if choice == ROTATE and not voices:
        return [list(REGISTERS_HZ)[i % len(REGISTERS_HZ)] for i in range(count)]
    return [register_voice(v) for v in voices_for(choice, voices, count)]


@dataclass
class GenerationReport:
    clip_ids: list[int] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"made": len(self.clip_ids), "failed": len(self.failed), "clip_ids": self.clip_ids,
                "failures": [f"{what}: {why}" for what, why in self.failed[:20]]}


class Generation:
    """Generation for one library: which checkpoint, its synthesizer, and runs in the foreground or as jobs.
    `active` names the admin's chosen version (Retraining.active_checkpoint), None when there is none."""

    def __init__(self, settings: Settings, library: Library, jobs: JobRunner, active: Callable[[], str | None]):
        self.settings = settings
        self.library = library
        self.jobs = jobs
        self.active = active

    def checkpoint(self, explicit: str | Path | None = None) -> str:
        return checkpoint_for(explicit, self.active(), self.settings.tts_checkpoint)

    def synthesizer(self, explicit: str | Path | None = None) -> Synthesizer:
        """The chosen acoustic model with the configured vocoder, loaded once per process."""
        from .tts.synthesize import shared_synthesizer

        return shared_synthesizer(self.checkpoint(explicit), self.settings.vocoder, self.settings.emotion_strength,
                                  self.settings.prosody_guide, refiner=self.settings.mel_refiner)

    def run(self, request: GenerationRequest, checkpoint: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None,
            check_cancel: Callable[[], None] | None = None,
            speaking: Callable[[int, int, int], None] | None = None) -> GenerationReport:
        """Generate now, in this thread; a bad request or a missing model is refused before any work."""
        request.plan()
        synthesizer = self.synthesizer(checkpoint)
        voices_for(request.voice, synthesizer.voices, 1)  # an unknown voice is refused before any clip
        return generate(self.library, synthesizer, request, progress, check_cancel, speaking)

    def start(self, request: GenerationRequest, checkpoint: str | Path | None = None) -> int:
        """Queue a generation job; a bad request is refused here, before anything is queued. The checkpoint
        is chosen now, so a version chosen meanwhile does not change a queued job. The total is the job's
        from the start; its progress moves clip by clip (the stages: gen_load, gen_speak, gen_clips)."""
        total = len(request.plan())
        chosen = self.checkpoint(checkpoint)

        def work(ctx: JobContext) -> dict:
            ctx.progress(0, total, f"loading the model; {total} clips to make", stage="gen_load", force=True)

            def speaking(first: int, last: int, total: int) -> None:
                done = first - 1
                ctx.progress(done, total, f"{done} / {total} clips; speaking clips {first}-{last}",
                             stage="gen_speak", first=first, last=last)

            def progress(done: int, total: int) -> None:
                ctx.progress(done, total, f"{done} / {total} clips", stage="gen_clips")

            report = self.run(request, chosen, check_cancel=ctx.check_cancel, progress=progress, speaking=speaking)
            return report.as_dict()

        return self.jobs.submit(GENERATE, {**asdict(request), "checkpoint": chosen}, work, total=total)


def generate(library: Library, synthesizer: Synthesizer, request: GenerationRequest,
             progress: Callable[[int, int], None] | None = None,
             check_cancel: Callable[[], None] | None = None,
             speaking: Callable[[int, int, int], None] | None = None) -> GenerationReport:
    """Synthesize the planned clips in batches and add them to `unverified` with full provenance.

    progress(done, total) hears the total before any work, then each clip as it is finished (vocoded and
    added, or failed); speaking(first, last, total) each batch's acoustic pass before it runs (clips first
    to last, counted from 1), the part of a batch that has no per-clip step. check_cancel is asked before
    each batch and after each clip. The report lists clips in the plan's order."""
    from .tts.guide import guides_pitch

    plan = request.plan()
    speakers = voices_for(request.voice, synthesizer.voices, len(plan))
    registers = registers_for(request.voice, synthesizer.voices, len(plan))
    made: dict[int, int] = {}  # plan index -> clip id
    failed: dict[int, tuple[str, str]] = {}
    if progress:
        progress(0, len(plan))

    def finished(index: int, result: Synthesis) -> None:
        text, emotion_id = plan[index]
        where = f"{emotion_id} {text!r}"
        if not result.stopped:
            failed[index] = (where, "the decoder did not stop (no alignment)")
        else:
            info = ClipInfo(
                source="tts", intended_emotion=emotion_id, text=text, voice="tacotron2",
                engine="tacotron2+hifigan", model_version=result.model_version,
                provenance={"acoustic_model": result.model_version, "vocoder": result.vocoder,
                            "frames": result.frames, "checkpoint": synthesizer.acoustic.provenance,
                            "seed": request.seed, "speaker": result.speaker or BLEND,
                            "emotion_strength": result.strength, "prosody_guide": result.guide,
                            "mel_postfilter": result.postfilter,
                            "mel_refiner": result.refiner or None,  # its version; None: none
                            **({"pitch_register": result.register or BLEND} if guides_pitch(result.guide) else {})},
            )
            try:
                made[index] = library.add(result.wave, result.sample_rate, "unverified", info)
            except BadAudio as e:
                failed[index] = (where, str(e))
        if progress:
            progress(len(made) + len(failed), len(plan))
        if check_cancel:
            check_cancel()

    for start in range(0, len(plan), request.batch_size):
        if check_cancel:
            check_cancel()
        chunk = plan[start:start + request.batch_size]
        if speaking:
            speaking(start + 1, start + len(chunk), len(plan))
        synthesizer.synthesize([t for t, _ in chunk], [e for _, e in chunk], speakers[start:start + len(chunk)],
                               on_clip=lambda i, result, start=start: finished(start + i, result),
                               registers=registers[start:start + len(chunk)])
        faults.point("generate.batch")
    return GenerationReport([made[i] for i in sorted(made)], [failed[i] for i in sorted(failed)])
