"""Held-out evaluation of an acoustic model: what `insideout eval` prints, the model card reports,
and every retrained version stores.

Held-out data: sentences of data/sentences-heldout.txt (insideout/sentences.py), hand-written for evaluation
only: the starter library (which in-app fine-tunes replay) and the teacher corpus never speak them, so no
version is scored on text it trained on. Each is rendered by the starter library's voices and emotion
presets: the teacher's rendering of the same sentence and emotion. A model with a speaker table speaks each
sentence as the teacher voice that rendered it (the blend for a voice it does not have); with the pitch guide,
every model speaks it about that voice's register (a model without speakers too: tts/guide.py).
Metrics (all over the same held-out clips):
- teacher-forced: log-mel L1 after the postnet, stop-gate BCE, attention diagonality (train.evaluate);
- free-running: the share of sentences the decoder ends by itself, and the median generated / teacher
  length;
- intelligibility: word error rate of offline recognition (botlab.asr) on the generated clips, beside
  the same on the teacher's clips, overall and per teacher voice (the recognizer hears some voices far better);
- emotion: the share of generated clips whose intended emotion the acoustic classifier (botlab.classifier,
  trained on the starter library) names, beside the same on the teacher's clips; chance is 12.5 %;
- quality: DNSMOS's overall MOS estimate (tts.quality) of the generated clips, beside the teacher's clips and,
  when given, the starter library's clips (up to STARTER_MOS_CLIPS of them, evenly spread);
- prosody: per emotion, pitch, pitch range, final rise, level and tempo against the same voice's neutral, of
  the generated clips beside the teacher's, and the share of the teacher's contrast reproduced (tts.prosody):
  what the emotion judge can hear at all;
- pitch detail in the mel: the harmonic ripple below 1 kHz of the acoustic model's mels beside the teacher
  clips' (tts.prosody.mel_ripple_db): whether the pitch is the model's or the vocoder's invention.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emotions import EMOTION_IDS
from .mel import MEL

PER_EMOTION = 6  # 48 clips: one clip moves an accuracy by about 2 points, not 4 as with 24
EVAL_BATCH = 8  # sentences per synthesis batch: bounds memory, keeps progress moving
STARTER_MOS_CLIPS = 48  # starter clips DNSMOS scores: as many as the held-out set, about 40 s


@dataclass(frozen=True)
class HeldOutClip:
    text: str
    emotion: str
    voice: str
    wave: np.ndarray  # the teacher's rendering, float32 at MEL.sample_rate


def held_out(per_emotion: int = PER_EMOTION, seed: int = 1) -> list[HeldOutClip]:
    """per_emotion held-out sentences per emotion, each rendered by a teacher voice (voices taken in turn).
    Rendered once per process, and shared (write to a copy of a wave): every version a retraining evaluates is
    scored on the same clips."""
    return list(_rendered(*_key(per_emotion, seed)))


def _key(per_emotion: int, seed: int) -> tuple:
    # The voices and the renderer are part of the key: a test that swaps the renderer gets its own clips, and
    # leaves no others behind.
    from ..corpus.synth import available_voices, render_clip

    if per_emotion < 1:
        raise ValueError("per_emotion must be at least 1")
    return per_emotion, seed, available_voices(), render_clip


@functools.lru_cache(maxsize=4)
def _rendered(per_emotion: int, seed: int, voices: tuple[str, ...], render: Callable) -> tuple[HeldOutClip, ...]:
    from ..sentences import held_out_sentences

    sentences = held_out_sentences()
    rng = np.random.default_rng(seed)
    out = []
    for e, emotion_id in enumerate(EMOTION_IDS):
        for k in range(per_emotion):
            text = sentences[int(rng.integers(len(sentences)))]
            voice = voices[(e + k) % len(voices)]
            wave, _ = render(text, emotion_id, voice, seed * 1000 + e * 10 + k)
            out.append(HeldOutClip(text, emotion_id, voice, np.asarray(wave, dtype=np.float32)))
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _teacher_scores(*key) -> tuple[tuple[str, ...], tuple, tuple, float]:
    """What the recognizer hears in the teacher's clips, their DNSMOS, their prosody and their mels' harmonic
    ripple: the same for every version scored on these clips, so worked out once (about a second a clip on
    2 cores)."""
    from ..botlab.asr import shared_recognizer
    from . import prosody
    from .mel import mel_spectrogram
    from .quality import dnsmos

    clips = _rendered(*key)
    recognizer = shared_recognizer()
    return (tuple(recognizer.transcribe(c.wave, MEL.sample_rate) for c in clips),
            tuple(dnsmos([c.wave for c in clips], MEL.sample_rate)),
            tuple((c.emotion, c.voice, prosody.measure(c.wave, MEL.sample_rate)) for c in clips),
            _median_ripple([mel_spectrogram(c.wave)[0].numpy() for c in clips]))


def _median_ripple(mels: Sequence[np.ndarray]) -> float | None:
    from .prosody import mel_ripple_db

    values = [r for r in (mel_ripple_db(m) for m in mels) if np.isfinite(r)]
    return round(float(np.median(values)), 2) if values else None


def wer_by_voice(texts: Sequence[str], heard: Sequence[str], voices: Sequence[str]) -> dict[str, float]:
    """Word error rate per voice (botlab.asr.word_error_rate over that voice's clips), voices in first-seen order."""
    from ..botlab.asr import word_error_rate

    out = {}
    for voice in dict.fromkeys(voices):
        mine = [i for i, v in enumerate(voices) if v == voice]
        out[voice] = round(word_error_rate([texts[i] for i in mine], [heard[i] for i in mine]), 3)
    return out


def _rounded(x: float) -> float | None:
    return round(float(x), 1) if np.isfinite(x) else None  # JSON has no nan


def starter_mos(starter: Sequence[tuple[np.ndarray, int]], most: int = STARTER_MOS_CLIPS) -> float | None:
    """The mean DNSMOS of up to `most` starter clips (wave, sample rate), evenly spread."""
    from .quality import dnsmos

    if not starter:
        return None
    step = max(1, len(starter) // most)
    chosen = list(starter)[::step][:most]
    scores = [score for wave, rate in chosen for score in dnsmos([wave], rate)]
    return round(float(np.mean([s.overall for s in scores])), 3)


def evaluate_model(checkpoint: str | Path, classifier=None, per_emotion: int = PER_EMOTION, seed: int = 1,
                   vocoder: str | Path = "universal", cache_dir: str | Path | None = None,
                   progress: Callable[[str], None] | None = None,
                   starter: Sequence[tuple[np.ndarray, int]] = (), strength: float = 1.0, takes: int = 1,
                   guide: str = "off", postfilter: float | None = None, refiner: str = "") -> dict:
    """Every metric of the module's docstring, as one flat dict (fractions, not percents). Without a
    classifier (botlab.classifier.EmotionClassifier), the emotion metrics are left out; without starter
    clips (wave, sample rate), the starter library's DNSMOS. strength: the emotion strength the model speaks at
    (EmotionTacotron2.emotion_offset), reported as emotion_strength. takes > 1 is an experiment, not how
    generation speaks: each sentence is spoken that many times (the prenet's dropout differs) and the take
    whose F0 is nearest its emotion's register is scored (prosody.choose_takes; reported as takes and
    register_hz). guide: the prosody guide the clips are spoken with (tts/guide.py), reported as prosody_guide;
    postfilter: the mel postfilter's beta (tts/postfilter.py; None: its BETA, as generation speaks), reported as
    mel_postfilter; refiner: the mel refiner, as INSIDEOUT_MEL_REFINER names one (tts/refiner.py; "": the shipped
    one, as generation speaks; "off": none), applied with the pitch guide only and reported as mel_refiner (its
    version; None where no mel went through one)."""
    import torch

    from ..botlab.asr import shared_recognizer, word_error_rate
    from . import prosody
    from .guide import register_voice
    from .hifigan import shared_vocoder
    from .quality import dnsmos
    from .refiner import shared_refiner
    from .synthesize import Synthesizer
    from .tacotron2 import load
    from .train import evaluate, wave_item

    say = progress or (lambda _message: None)
    say("rendering the teacher's held-out clips")
    key = _key(per_emotion, seed)
    data = list(_rendered(*key))
    texts, emotions = [c.text for c in data], [c.emotion for c in data]
    say("teacher-forced metrics")
    items = [wave_item(c.wave, c.text, c.emotion, speaker=c.voice) for c in data]
    # Tacotron2's prenet keeps its dropout on at inference, so the numbers repeat only with a fixed seed;
    # fork_rng leaves the process's own random state as it was.
    with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(seed)
        forced = evaluate(checkpoint, items, cache_dir or tmp)
    synthesizer = Synthesizer(load(checkpoint), shared_vocoder(vocoder), strength, guide, postfilter,
                              shared_refiner(refiner))
    speakers = [c.voice if c.voice in synthesizer.voices else "" for c in data]
    # the compared clip's register, whatever the model's speakers, so that a guided clip's pitch is the teacher's
    registers = [register_voice(c.voice) for c in data]
    if takes < 1:
        raise ValueError("takes must be at least 1")
    spoken_takes = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for take in range(takes):
            generated = []
            for start in range(0, len(data), EVAL_BATCH):
                say(f"speaking held-out sentences {start + 1}-{min(start + EVAL_BATCH, len(data))} of {len(data)}"
                    + (f", take {take + 1} of {takes}" if takes > 1 else ""))
                generated += synthesizer.synthesize(texts[start:start + EVAL_BATCH], emotions[start:start + EVAL_BATCH],
                                                    speakers[start:start + EVAL_BATCH],
                                                    registers=registers[start:start + EVAL_BATCH])
            spoken_takes.append(generated)
    register_hz, measured = None, None
    if takes > 1:
        say("measuring each take's register")
        every = [[prosody.measure(t[i].wave, t[i].sample_rate) for t in spoken_takes] for i in range(len(data))]
        chosen, register_hz = prosody.choose_takes([[p.f0_hz for p in row] for row in every], emotions)
        generated = [spoken_takes[k][i] for i, k in enumerate(chosen)]
        measured = [every[i][k] for i, k in enumerate(chosen)]  # the prosody step below reuses them
    ratios = [g.frames / (len(c.wave) / MEL.hop_length) for g, c in zip(generated, data, strict=True)]

    say("recognizing speech")
    recognizer = shared_recognizer()
    heard = [recognizer.transcribe(g.wave, g.sample_rate) for g in generated]
    teacher_heard, teacher_mos, teacher_prosody, teacher_ripple = _teacher_scores(*key)
    voices = [c.voice for c in data]
    metrics = {
        "held_out_clips": len(data),
        "emotion_strength": strength,
        "takes": takes,
        "prosody_guide": guide,
        "mel_postfilter": synthesizer.postfilter,
        "mel_refiner": generated[0].refiner or None,
        "register_hz": _rounded(register_hz) if register_hz is not None else None,
        "mel_l1": forced.get("mel_l1"),
        "gate_bce": forced.get("gate_bce"),
        "diagonality": forced.get("attention_diagonality"),
        "stopped_share": round(float(np.mean([g.stopped for g in generated])), 3),
        "median_length_ratio": round(float(np.median(ratios)), 3),
        "wer": round(word_error_rate(texts, heard), 3),
        "teacher_wer": round(word_error_rate(texts, teacher_heard), 3),
        "wer_by_voice": wer_by_voice(texts, heard, voices),
        "teacher_wer_by_voice": wer_by_voice(texts, teacher_heard, voices),
        "mel_ripple_db": _median_ripple([g.mel for g in generated if g.mel is not None]),
        "teacher_mel_ripple_db": teacher_ripple,
        "examples": [{"text": c.text, "emotion": c.emotion, "voice": c.voice, "heard": h, "teacher_heard": th}
                     for c, h, th in zip(data, heard, teacher_heard, strict=True)],
    }
    say("estimating quality (DNSMOS)")
    mos = dnsmos([g.wave for g in generated], MEL.sample_rate)
    metrics["dnsmos"] = round(float(np.mean([m.overall for m in mos])), 3)
    metrics["teacher_dnsmos"] = round(float(np.mean([m.overall for m in teacher_mos])), 3)
    # As many starter clips as held-out ones (DNSMOS takes most of a second a clip on 2 cores).
    metrics["starter_dnsmos"] = starter_mos(starter, min(STARTER_MOS_CLIPS, len(data)))
    for example, m, tm in zip(metrics["examples"], mos, teacher_mos, strict=True):
        example.update(dnsmos=round(m.overall, 2), teacher_dnsmos=round(tm.overall, 2))
    say("measuring prosody")
    measured = measured or [prosody.measure(g.wave, g.sample_rate) for g in generated]
    # a clip's voice for prosody is its speaker's, else the register it was guided about, else the blend
    spoken = [(c.emotion, g.speaker or g.register or "blend", m)
              for c, g, m in zip(data, generated, measured, strict=True)]
    metrics["prosody"] = prosody.compare(spoken, teacher_prosody)
    for example, (_, _, mine), (_, _, theirs) in zip(metrics["examples"], spoken, teacher_prosody, strict=True):
        example.update(f0_hz=_rounded(mine.f0_hz), teacher_f0_hz=_rounded(theirs.f0_hz))  # to read registers
    if classifier is not None:
        say("judging emotions")
        named = classifier.predict([g.wave for g in generated], MEL.sample_rate)
        teacher_named = classifier.predict([c.wave for c in data], MEL.sample_rate)
        hits = np.array([n == e for n, e in zip(named, emotions, strict=True)])
        metrics["emotion_accuracy"] = round(float(hits.mean()), 3)
        metrics["teacher_emotion_accuracy"] = round(
            float(np.mean([n == e for n, e in zip(teacher_named, emotions, strict=True)])), 3)
        metrics["emotion_accuracy_by_emotion"] = {
            e: round(float(hits[[x == e for x in emotions]].mean()), 3) for e in EMOTION_IDS if e in emotions}
        metrics["classifier_cv_accuracy"] = None if classifier.cv_accuracy is None else round(classifier.cv_accuracy, 3)
        for example, n, tn in zip(metrics["examples"], named, teacher_named, strict=True):  # to read confusions
            example.update(named=n, teacher_named=tn)
    return metrics
