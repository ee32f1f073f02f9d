"""Do the emotions keep their cues under a defence? F0 level and range, rate and energy against neutral.

A defence that confuses a classifier by making emotions unrecognisable to people too is no win. People
hear an emotion mostly by how its speech departs from neutral speech: higher or lower, wider or
narrower in pitch, faster or slower, louder or softer (presets.py's table). So for each emotion this
measures the difference from neutral, clip by clip, in those four cues:

- F0 level: semitones between the clip's median F0 and the neutral clip's;
- F0 range: the clip's 10th-90th percentile span minus the neutral clip's, in semitones;
- rate: syllable nuclei per second, as a ratio to the neutral clip's, minus 1;
- energy: the level of the speech's loud frames minus the neutral clip's, dB.

The neutral reference is always the clean one: the same sentence and voice in the public recipe,
served without transforms. Each emotion's clip is measured twice, clean (the public recipe, served
unchanged in sound) and defended (the deployment's recipe, then a serving's transforms). The check, per
emotion and cue: the mean defended difference lies within 20 % of the mean clean difference (the
issue's bound), where the clean difference is a cue at all (`CUE_FLOOR`: smaller departures are no cue
to keep). It also reports how often a single defended clip's cue points the other way from its
emotion's (a clip's cost to people), beside the same share of clean clips, since the public recipe's
own per-clip variation flips some.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..corpus import acoustics
from ..emotions import EMOTION_IDS
from ..wav import SAMPLE_RATE

CUES = ("f0_level_st", "f0_range_st", "rate", "energy_db")
# Smaller departures are no cue to keep: below about three times what a run without any defence moves the
# means by (16 sentences: up to 2 rate points from the syllable detector alone, 0.3 dB from a +-1 dB gain).
CUE_FLOOR = {"f0_level_st": 0.5, "f0_range_st": 0.5, "rate": 0.06, "energy_db": 0.75}
NOISE_MARGIN_DB = 10.0  # speech frames stand this far above the noise floor
ENERGY_SPAN_DB = 20.0  # the speech level is taken over the frames this close to the loudest
BOUND = 0.20  # the issue's: each cue within 20 % of the clean preset's


def cue_values(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """The four measurements a difference is taken between (F0 in semitones above 1 Hz).

    acoustics.py's measures, with the speech told from the background by its level above the clip's
    noise floor (its quietest tenth of frames) as well as below its loudest frame. For a clean clip that
    changes nothing; for a served clip with noise it keeps the noise-filled silences out of the speech's
    duration (which a rate is per), its level, and the F0 tracker's frames, so that the check measures the
    speech a listener hears through the noise, not the noise."""
    x = np.asarray(wave, dtype=np.float64)
    levels = acoustics.frame_levels_db(x, sample_rate)
    floor = float(np.percentile(levels, 10))
    gate = levels > max(levels.max() - acoustics.SPEECH_BELOW_PEAK_DB, floor + NOISE_MARGIN_DB,
                        acoustics.SILENCE_FLOOR_DBFS)
    f0 = acoustics.f0_track_hz(x, sample_rate)
    centres = np.arange(len(f0)) * acoustics.F0_FRAME_MS / 1000.0  # 5 ms F0 frames onto 10 ms level frames
    frame = np.clip(np.round((centres - acoustics.FRAME_S / 2) / acoustics.HOP_S).astype(int), 0, len(levels) - 1)
    f0 = np.where(gate[frame], f0, 0.0)
    median = acoustics.median_f0_hz(f0)
    active = np.flatnonzero(gate)
    duration = float((active[-1] - active[0]) * acoustics.HOP_S + acoustics.FRAME_S) if active.size else 0.0
    # the syllable count of acoustics' rate, over the gated duration
    syllables = acoustics.syllable_rate_hz(x, sample_rate) * acoustics.speech_duration_s(x, sample_rate)
    return {"f0_level_st": 12.0 * math.log2(median) if median > 0 else float("nan"),
            "f0_range_st": acoustics.f0_range_st(f0),
            "rate": syllables / duration if duration > 0 else 0.0,
            "energy_db": _speech_level_db(levels, floor)}


def _speech_level_db(levels: np.ndarray, floor: float) -> float:
    """The level of the speech's loud frames (within ENERGY_SPAN_DB of the loudest, and clear of the noise
    floor), with the noise floor's power taken out: soft frames drown in added noise, so counting them in
    clean clips alone would make noise look like a change of loudness."""
    loud = levels > max(levels.max() - ENERGY_SPAN_DB, floor + NOISE_MARGIN_DB)
    if not loud.any():
        return float(acoustics.SILENCE_FLOOR_DBFS)
    power = np.mean(10.0 ** (levels[loud] / 10.0)) - 10.0 ** (floor / 10.0)
    return float(10.0 * np.log10(max(power, 1e-12)))


def difference(clip: dict[str, float], neutral: dict[str, float]) -> dict[str, float]:
    """A clip's cues as departures from a neutral clip's."""
    rate = clip["rate"] / neutral["rate"] - 1.0 if neutral["rate"] > 0 else float("nan")
    return {"f0_level_st": clip["f0_level_st"] - neutral["f0_level_st"],
            "f0_range_st": clip["f0_range_st"] - neutral["f0_range_st"],
            "rate": rate, "energy_db": clip["energy_db"] - neutral["energy_db"]}


@dataclass(frozen=True)
class CueShift:
    """One emotion's one cue: the mean departure from neutral, clean and defended."""

    emotion: str
    cue: str
    clips: int
    clean: float
    defended: float
    flipped_clean: float  # share of clean clips whose departure points against the clean mean's sign
    flipped_defended: float

    @property
    def is_cue(self) -> bool:
        return abs(self.clean) >= CUE_FLOOR[self.cue]

    @property
    def relative_change(self) -> float | None:
        """|defended - clean| / |clean|, where the clean departure is a cue; None otherwise."""
        return abs(self.defended - self.clean) / abs(self.clean) if self.is_cue else None

    @property
    def kept(self) -> bool | None:
        change = self.relative_change
        return None if change is None else change <= BOUND

    def as_dict(self) -> dict:
        return {**asdict(self), "relative_change": self.relative_change, "kept": self.kept}


def _flipped(values: np.ndarray, sign: float) -> float:
    values = values[np.isfinite(values)]
    return float(np.mean(np.sign(values) != sign)) if values.size and sign else 0.0


def shifts(clean: dict[str, list[dict[str, float]]], defended: dict[str, list[dict[str, float]]]) -> list[CueShift]:
    """Per emotion (not neutral) and cue, from per-clip departures keyed by emotion."""
    out = []
    for emotion_id in EMOTION_IDS:
        if emotion_id == "neutral" or emotion_id not in clean:
            continue
        for cue in CUES:
            c = np.array([d[cue] for d in clean[emotion_id]], dtype=float)
            d = np.array([d[cue] for d in defended.get(emotion_id, [])], dtype=float)
            c_mean, d_mean = float(np.nanmean(c)), float(np.nanmean(d)) if d.size else float("nan")
            sign = float(np.sign(c_mean))
            out.append(CueShift(emotion_id, cue, int(c.size), round(c_mean, 4), round(d_mean, 4),
                                round(_flipped(c, sign), 4), round(_flipped(d, sign), 4)))
    return out


Render = Callable[[str, str, str, int], np.ndarray]  # (sentence, emotion, voice, seed) -> float wave


def measure_shifts(sentences: Sequence[str], voices: Sequence[str], seed: int, clean_render: Render,
                   defended_render: Render, progress: Callable[[int, int], None] | None = None) -> list[CueShift]:
    """Render every sentence in every emotion clean and defended (voices rotating), measure, compare."""
    clean: dict[str, list] = {}
    defended: dict[str, list] = {}
    total, done = len(sentences) * len(EMOTION_IDS), 0
    for i, sentence in enumerate(sentences):
        voice = voices[i % len(voices)]
        clip_seed = seed * 1_000_003 + i
        neutral = cue_values(clean_render(sentence, "neutral", voice, clip_seed))
        for emotion_id in EMOTION_IDS:
            if emotion_id != "neutral":
                # another seed for the emotion's clips: the per-clip draws of neutral and emotion are independent
                c = cue_values(clean_render(sentence, emotion_id, voice, clip_seed + 7919))
                d = cue_values(defended_render(sentence, emotion_id, voice, clip_seed + 7919))
                clean.setdefault(emotion_id, []).append(difference(c, neutral))
                defended.setdefault(emotion_id, []).append(difference(d, neutral))
            done += 1
            if progress:
                progress(done, total)
    return shifts(clean, defended)


def table(rows: Sequence[CueShift]) -> str:
    """Markdown: one line per emotion and cue."""
    unit = {"f0_level_st": "st", "f0_range_st": "st", "rate": "", "energy_db": "dB"}
    lines = ["| emotion | cue | clean | defended | change | kept | clips flipped clean / defended |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = (lambda v: f"{v * 100:+.1f} %") if r.cue == "rate" else (lambda v, u=unit[r.cue]: f"{v:+.2f} {u}")
        change = "no cue" if r.relative_change is None else f"{r.relative_change * 100:.0f} %"
        kept = "" if r.kept is None else ("yes" if r.kept else "**no**")
        lines.append(f"| {r.emotion} | {r.cue} | {fmt(r.clean)} | {fmt(r.defended)} | {change} | {kept} | "
                     f"{r.flipped_clean * 100:.0f} % / {r.flipped_defended * 100:.0f} % |")
    return "\n".join(lines)


def summary(rows: Sequence[CueShift]) -> dict[str, float | int]:
    """How many (emotion, cue) pairs are cues, how many kept within the bound, the largest change."""
    cues = [r for r in rows if r.is_cue]
    return {"cues": len(cues), "kept": sum(bool(r.kept) for r in cues),
            "largest_change": max((r.relative_change or 0.0 for r in cues), default=0.0),
            "flipped_clean": float(np.mean([r.flipped_clean for r in cues])) if cues else 0.0,
            "flipped_defended": float(np.mean([r.flipped_defended for r in cues])) if cues else 0.0}
