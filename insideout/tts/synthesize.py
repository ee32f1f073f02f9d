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
from .refiner import Refiner
from .tacotron2 import AcousticModel, load, speaker_index
from .text import Frontend


class SynthesisError(ValueError):
    pass


@dataclass(frozen=True)
class Synthesis:
    wave: np.ndarray  # float32 mono at MEL.sample_rate
    sample_rate: int
    model_version: str  # the acoustic model's weights
    vocoder: str
    frames: int  # of the mel the vocoder heard (the tempo guide may have stretched the model's own)
    stopped: bool  # False when the decoder ran to its step limit without deciding to stop
    speaker: str = ""  # the voice of the model's speaker table it spoke in ("": none, the voices' blend)
    strength: float = 1.0  # the emotion strength it was spoken at (EmotionTacotron2.emotion_offset)
    # the acoustic model's own log mel (n_mels, its frames), before any guide: what evaluation measures it by
    mel: np.ndarray | None = field(default=None, repr=False)
    guide: str = "off"  # the prosody guide given to the mel before vocoding (tts/guide.py: GUIDES)
    register: str = ""  # the voice whose register the pitch guide spoke it about ("": the blend's, or no pitch guide)
    postfilter: float = 0.0  # the mel postfilter's beta its mel was sharpened with (tts/postfilter.py; 0: none)
    refiner: str = ""  # the version of the mel refiner its guided mel went through (tts/refiner.py; "": none)


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
    def __init__(self, acoustic: AcousticModel, vocoder: Vocoder, strength: float = 1.0, guide: str = "off",
                 postfilter: float | None = None, refiner: Refiner | None = None):
        from .guide import check_guide
        from .postfilter import resolved

        self.acoustic = acoustic
        self.vocoder = vocoder
        self.strength = strength  # the emotion strength synthesize() speaks at unless told another
        self.guide = check_guide(guide)  # the prosody guide synthesize() gives each mel (tts/guide.py)
        # the mel postfilter's beta every mel is sharpened with (tts/postfilter.py; None: its BETA, 0: none)
        self.postfilter = resolved(postfilter)
        # the mel refiner each pitch-guided mel goes through before the vocoder (tts/refiner.py; None: none)
        self.refiner = refiner
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
                   strength: float | None = None, guide: str | None = None,
                   registers: list[str] | None = None) -> list[Synthesis]:
        """Speak each text in its emotion, and in its speaker's voice where given (a name of `voices`;
        "" for none), at the emotion strength `strength` (EmotionTacotron2.emotion_offset; None: the
        synthesizer's own), with the prosody guide `guide` (tts/guide.py; None: the synthesizer's own), its
        pitch about the register of each clip's `registers` voice (a starter voice of guide.REGISTERS_HZ, ""
        for the blend's; None: each clip's speaker's, the blend's for a speaker without one, so a model without
        speakers can still be given the registers of several voices): one batch
        through the acoustic model (two with the tempo guide: the second speaks every sentence in neutral, to
        measure its emotion's tempo against), then the vocoder a few clips at a time.
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
        from .guide import REGISTERS_HZ, check_guide, guides_pitch, guides_tempo, register_voice
        from .postfilter import sharpen

        if registers is None:  # a speaker without a measured register is guided about the blend's
            registers = [register_voice(s) for s in speakers]
        registers = list(registers)
        if len(registers) != len(texts):
            raise SynthesisError("give one register voice per text")
        unheard = sorted({r for r in registers if r and r not in REGISTERS_HZ})
        if unheard:
            raise SynthesisError(f"no register is known for {', '.join(unheard)}; the registers: "
                                 f"{', '.join(REGISTERS_HZ)}, or \"\" for the blend's")
        strength = self.strength if strength is None else strength

        guide = self.guide if guide is None else check_guide(guide)
        # the refiner learned to follow the pitch guide's comb: a mel without one is not what it knows
        refiner = self.refiner if guides_pitch(guide) else None
        order, batch, lengths, emotions_sorted = encode_batch(self.acoustic.frontend, texts, emotions)
        model = self.acoustic.model
        speaker_ids = torch.tensor([speaker_index(model, self.voices, speakers[i]) for i in order])
        max_step = model.config.decoder_max_step
        out: list[Synthesis | None] = [None] * len(texts)
        with self._lock, torch.inference_mode():
            mels, mel_lengths, _ = model.infer(batch, lengths, emotions_sorted, speaker_ids, strength)
            neutral_frames = None
            if guides_tempo(guide) and any(emotion(e).id != "neutral" for e in emotions):
                # after the emotional pass, so the guide leaves the model's own clips as they were
                neutral = torch.full_like(emotions_sorted, EMOTION_IDS.index("neutral"))
                neutral_frames = model.infer(batch, lengths, neutral, speaker_ids, strength)[1]
            # The vocoder takes each clip cut to its own length (padding is waste; a padded batch was slower
            # per second of audio, 0.49 against 0.29), side by side where it can (Vocoder.many): as many at
            # once as it has threads, which is what many() runs together anyway.
            side_by_side = max(1, self.vocoder.threads)
            for first in range(0, len(order), side_by_side):
                rows = range(first, min(first + side_by_side, len(order)))
                own = {row: mels[row, :, : int(mel_lengths[row])].numpy().copy() for row in rows}
                heard = [_guided(sharpen(own[row], self.postfilter), texts[order[row]], emotions[order[row]],
                                 registers[order[row]], guide,
                                 None if neutral_frames is None else int(neutral_frames[row])) for row in rows]
                if refiner is not None:
                    heard = [refiner.refine(mel, emotions[order[row]]) for row, mel in zip(rows, heard, strict=True)]
                waves = self.vocoder.many([torch.from_numpy(h) for h in heard])
                for row, mel, wave in zip(rows, heard, waves, strict=True):
                    i, frames = order[row], mel.shape[1]
                    out[i] = Synthesis(wave[: frames * MEL.hop_length].astype(np.float32), MEL.sample_rate,
                                       self.acoustic.version, self.vocoder.name, frames,
                                       stopped=int(mel_lengths[row]) < max_step, speaker=speakers[i],
                                       strength=strength, mel=own[row], guide=guide,
                                       register=registers[i] if guides_pitch(guide) else "",
                                       postfilter=self.postfilter, refiner=refiner.version if refiner else "")
                    if on_clip is not None:
                        on_clip(i, out[i])
        return out

    def speak(self, text: str, emotion_id: str, speaker: str = "") -> Synthesis:
        return self.synthesize([text], [emotion_id], [speaker])[0]


def _guided(mel: np.ndarray, text: str, emotion_id: str, register: str, guide: str,
            neutral_frames: int | None) -> np.ndarray:
    """The mel the vocoder hears: the model's own (already sharpened by the postfilter), stretched to its emotion's
    tempo against neutral_frames (the model's neutral rendering of the sentence) and imprinted with its intonation
    about the register of the voice `register`, as `guide` says (tts/guide.py). The intonation's jitter is seeded
    by the sentence: the same text and emotion get the same intonation, whichever batch they are in."""
    from . import guide as prosody_guide

    emotion_id = emotion(emotion_id).id
    if prosody_guide.guides_tempo(guide) and neutral_frames is not None and emotion_id != "neutral":
        mel = prosody_guide.stretch(mel, prosody_guide.tempo_factor(mel.shape[1], neutral_frames, emotion_id))
    if prosody_guide.guides_pitch(guide):
        seed = zlib.crc32(f"{text}|{emotion_id}".encode())
        mel = prosody_guide.guide_pitch(mel, emotion_id, prosody_guide.register_for(register), seed)
    return mel


_shared: dict[str, Synthesizer] = {}
_shared_lock = threading.Lock()


def shared_synthesizer(checkpoint: str | Path, vocoder: str | Path = "universal",
                       strength: float = 1.0, guide: str = "off", postfilter: float | None = None,
                       refiner: str = "off") -> Synthesizer:
    """One synthesizer per (checkpoint, vocoder, emotion strength, prosody guide, postfilter: None for
    tts/postfilter.py's BETA, mel refiner: INSIDEOUT_MEL_REFINER's value) per process: models load once
    (the vocoder and the refiner are shared further). Which checkpoint is generation.checkpoint_for's to say."""
    from .postfilter import resolved
    from .refiner import OFF, RefinerError, chosen_path, shared_refiner

    source = str(checkpoint)
    # None and BETA are one synthesizer, and so are "" and the shipped refiner's path: resolved first, so the
    # models are not loaded twice
    refiner_file = chosen_path(refiner)
    key = (f"{source}|{vocoder}|{strength}|{guide}|{resolved(postfilter)}|"
           f"{refiner_file.resolve() if refiner_file else OFF}")
    with _shared_lock:
        if key not in _shared:
            if not source.startswith(("http://", "https://")) and not Path(source).is_file():
                raise SynthesisError(
                    f"no acoustic model at {source}: train one with `insideout train` "
                    "or name a checkpoint (INSIDEOUT_TTS_CHECKPOINT)"
                )
            try:
                chosen = shared_refiner(refiner)
            except RefinerError as e:
                raise SynthesisError(str(e)) from None
            _shared[key] = Synthesizer(load(source), shared_vocoder(vocoder), strength, guide, postfilter, chosen)
        return _shared[key]
