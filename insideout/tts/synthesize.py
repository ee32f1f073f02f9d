"""Text + emotion -> waveform: the acoustic model and the vocoder together, batched and thread-safe, each
clip announced as soon as its audio exists."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..emotions import EMOTION_IDS, emotion
from .hifigan import Vocoder, shared_vocoder
from .mel import MEL
from .tacotron2 import AcousticModel, load
from .text import Frontend


class SynthesisError(ValueError):
    pass


@dataclass(frozen=True)
class Synthesis:
    wave: np.ndarray  # float32 mono at MEL.sample_rate
    sample_rate: int
    model_version: str  # the acoustic model's weights
    vocoder: str
    frames: int
    stopped: bool  # False when the decoder ran to its step limit without deciding to stop
    speaker: str = ""  # the voice of the model's speaker table it spoke in ("": none, the voices' blend)
    strength: float = 1.0  # the emotion strength it was spoken at (EmotionTacotron2.emotion_offset)
    # the acoustic model's own log mel (n_mels, frames), before any pitch guide: what evaluation measures it by
    mel: np.ndarray | None = field(default=None, repr=False)
    pitch_guided: bool = False  # the emotion's intonation was drawn into the mel before vocoding (tts/pitch.py)


def encode_batch(frontend: Frontend, texts: list[str], emotions: list[str]):
    """Texts and emotions -> (order, padded tokens, lengths, emotion ids), longest first: the encoder
    packs sequences, which wants them so. order[row] is the index in texts of each batch row."""
    emotion_ids = [EMOTION_IDS.index(emotion(e).id) for e in emotions]
    tokens = [frontend.encode(t) for t in texts]
    order = sorted(range(len(tokens)), key=lambda i: -len(tokens[i]))
    lengths = torch.tensor([len(tokens[i]) for i in order])
    batch = torch.zeros(len(order), int(lengths[0]), dtype=torch.long)
    for row, i in enumerate(order):
        batch[row, : len(tokens[i])] = torch.tensor(tokens[i])
    return order, batch, lengths, torch.tensor([emotion_ids[i] for i in order])


class Synthesizer:
    def __init__(self, acoustic: AcousticModel, vocoder: Vocoder, strength: float = 1.0, pitch_guide: bool = False):
        self.acoustic = acoustic
        self.vocoder = vocoder
        self.strength = strength  # the emotion strength synthesize() speaks at unless told another
        self.pitch_guide = pitch_guide  # whether synthesize() draws each emotion's intonation (tts/pitch.py)
        self._lock = threading.Lock()  # one inference at a time: torch already uses every core

    @property
    def version(self) -> str:
        return f"{self.acoustic.version}+{self.vocoder.name}"

    @property
    def voices(self) -> tuple[str, ...]:
        """The speakers the model can speak as (empty: it has no speaker input)."""
        return self.acoustic.speakers

    def synthesize(self, texts: list[str], emotions: list[str], speakers: list[str] | None = None,
                   on_clip: Callable[[int, Synthesis], None] | None = None,
                   strength: float | None = None, pitch_guide: bool | None = None) -> list[Synthesis]:
        """Speak each text in its emotion, and in its speaker's voice where given (a name of `voices`;
        "" for none), at the emotion strength `strength` (EmotionTacotron2.emotion_offset; None: the
        synthesizer's own), with the pitch guide or not (tts/pitch.py; None: the synthesizer's own): one batch
        through the acoustic model, then the vocoder a few clips at a time.
        on_clip(index in texts, synthesis) hears of each clip as soon as its audio exists, so a caller's
        progress moves clip by clip; an exception it raises (a cancel) stops the rest."""
        if len(texts) != len(emotions) or not texts:
            raise SynthesisError("give one emotion per text, and at least one text")
        speakers = list(speakers) if speakers is not None else [""] * len(texts)
        if len(speakers) != len(texts):
            raise SynthesisError("give one speaker per text")
        unknown = sorted({s for s in speakers if s and s not in self.voices})
        if unknown:
            raise SynthesisError(f"the model has no voice {', '.join(unknown)}; its voices: "
                                 f"{', '.join(self.voices) or 'none (it has no speaker input)'}")
        strength = self.strength if strength is None else strength
        pitch_guide = self.pitch_guide if pitch_guide is None else pitch_guide
        order, batch, lengths, emotions_sorted = encode_batch(self.acoustic.frontend, texts, emotions)
        model = self.acoustic.model
        speaker_ids = torch.tensor([self.voices.index(speakers[i]) if speakers[i] else model.unknown_speaker
                                    for i in order])
        max_step = model.config.decoder_max_step
        out: list[Synthesis | None] = [None] * len(texts)
        with self._lock, torch.inference_mode():
            mels, mel_lengths, _ = model.infer(batch, lengths, emotions_sorted, speaker_ids, strength)
            # The vocoder takes each clip cut to its own length (padding is waste; a padded batch was slower
            # per second of audio, 0.49 against 0.29), side by side where it can (Vocoder.many): as many at
            # once as it has threads, which is what many() runs together anyway.
            side_by_side = max(1, self.vocoder.threads)
            for first in range(0, len(order), side_by_side):
                rows = range(first, min(first + side_by_side, len(order)))
                own = {row: mels[row, :, : int(mel_lengths[row])].numpy().copy() for row in rows}
                heard = [torch.from_numpy(_guided(own[row], texts[order[row]], emotions[order[row]],
                                                  speakers[order[row]]) if pitch_guide else own[row])
                         for row in rows]
                waves = self.vocoder.many(heard)
                for row, wave in zip(rows, waves, strict=True):
                    i, frames = order[row], int(mel_lengths[row])
                    out[i] = Synthesis(wave[: frames * MEL.hop_length].astype(np.float32), MEL.sample_rate,
                                       self.acoustic.version, self.vocoder.name, frames,
                                       stopped=frames < max_step, speaker=speakers[i], strength=strength,
                                       mel=own[row], pitch_guided=pitch_guide)
                    if on_clip is not None:
                        on_clip(i, out[i])
        return out

    def speak(self, text: str, emotion_id: str, speaker: str = "") -> Synthesis:
        return self.synthesize([text], [emotion_id], [speaker])[0]


def _guided(mel: np.ndarray, text: str, emotion_id: str, speaker: str) -> np.ndarray:
    """The pitch guide (tts/pitch.py) about the speaker's register, its jitter seeded by the sentence: the same
    text and emotion get the same intonation, whichever batch they are in."""
    from . import pitch

    seed = zlib.crc32(f"{text}|{emotion(emotion_id).id}".encode())
    return pitch.guide(mel, emotion(emotion_id).id, pitch.register_for(speaker), seed)


_shared: dict[str, Synthesizer] = {}
_shared_lock = threading.Lock()


def shared_synthesizer(checkpoint: str | Path, vocoder: str | Path = "universal",
                       strength: float = 1.0, pitch_guide: bool = False) -> Synthesizer:
    """One synthesizer per (checkpoint, vocoder, emotion strength, pitch guide) per process: models load once
    (the vocoder is shared further by shared_vocoder). Which checkpoint is generation.checkpoint_for's to say."""
    source = str(checkpoint)
    key = f"{source}|{vocoder}|{strength}|{pitch_guide}"
    with _shared_lock:
        if key not in _shared:
            if not source.startswith(("http://", "https://")) and not Path(source).is_file():
                raise SynthesisError(
                    f"no acoustic model at {source}: train one with `insideout train` "
                    "or name a checkpoint (INSIDEOUT_TTS_CHECKPOINT)"
                )
            _shared[key] = Synthesizer(load(source), shared_vocoder(vocoder), strength, pitch_guide)
        return _shared[key]
