"""How much of the teacher's emotional prosody a model's clips carry: the measurement behind "why does the
judge not hear the emotion?".

An emotion preset (corpus/presets.py) moves a voice's pitch, pitch range, phrase-final contour, level and
tempo away from its neutral. A judge can only name an emotion the clip carries, so for each held-out clip this
measures the same five things, each relative to the neutral clips of the same voice in the same set (a voice's
own pitch would otherwise swamp every emotion), and compares the medians per emotion of the generated clips with
the teacher's clips of the same sentences.

The summary per measure is the share of the teacher's contrast the model reproduces: the least-squares slope
of the generated per-emotion values on the teacher's, over the seven emotions that are not neutral
(sum g*t / sum t*t). 1 means the model moves each emotion as far as the teacher does, 0 means it speaks them
all alike, a negative share means it moves them the wrong way. F0 tracking (Harvest, corpus/acoustics.py) costs
about 0.2 s per second of audio. The final movement sees phrase-final falls (the teacher's disgust: -3.1 st)
better than the presets' sharp rises in the last frames (the teacher's surprised measures about 0 where its
preset rises 7 st at the very end): a shorter span measured noisier, not better.

A clip's pitch can only be the acoustic model's if its mel spectrogram carries it. Below 1 kHz the mel's bins
are 37 Hz apart (Slaney's scale is linear there), close enough to resolve the harmonics of a voice's F0, which
show as a ripple across those bins; a mel that averages several registers or pitch contours has a flat low end,
and the vocoder then invents a pitch. mel_ripple_db measures that ripple (the teacher's clips: about 3.4 dB).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..corpus import acoustics
from ..emotions import EMOTION_IDS

RIPPLE_BELOW_HZ = 1000.0  # the bins that resolve harmonics: Slaney's linear part, 37 Hz apart
RIPPLE_SMOOTH_BINS = 5  # the envelope a harmonic ripple is measured against: about 190 Hz wide there
RIPPLE_SPEECH_NATS = 4.0  # frames within 35 dB of the loudest frame's loudest bin count as speech
FINAL_S = 0.4  # the span of voicing a preset's final rise or fall moves (presets.py: final_st)
MEASURES = ("f0_st", "f0_range_st", "final_st", "energy_db", "tempo_pct")
LABELS = {  # what each relative measure means, for tables and plots
    "f0_st": "F0 vs neutral (st)",
    "f0_range_st": "F0 range vs neutral (st)",
    "final_st": "final rise vs neutral (st)",
    "energy_db": "level vs neutral (dB)",
    "tempo_pct": "syllable rate vs neutral (%)",
}


@dataclass(frozen=True)
class Prosody:
    """One clip's absolute measures: median F0 (Hz, nan unvoiced), F0 range (10th-90th percentile, st), final
    movement (median F0 of the last FINAL_S s of voicing against the whole clip's, st), level of the speech
    frames (dBFS) and syllable rate (Hz)."""

    f0_hz: float
    f0_range_st: float
    final_st: float
    energy_db: float
    syllable_rate_hz: float


def final_movement_st(f0: np.ndarray) -> float:
    """How far the last FINAL_S seconds of voicing sit above (>0) or below the clip's median F0, semitones."""
    voiced = f0[f0 > 0]
    tail = int(FINAL_S * 1000.0 / acoustics.F0_FRAME_MS)
    if len(voiced) < 2 * tail:
        return 0.0
    return float(12.0 * np.log2(np.median(voiced[-tail:]) / np.median(voiced)))


def measure(wave: np.ndarray, sample_rate: int) -> Prosody:
    f0 = acoustics.f0_track_hz(wave, sample_rate)
    return Prosody(f0_hz=acoustics.median_f0_hz(f0), f0_range_st=acoustics.f0_range_st(f0),
                   final_st=final_movement_st(f0), energy_db=acoustics.energy_db(wave, sample_rate),
                   syllable_rate_hz=acoustics.syllable_rate_hz(wave, sample_rate))


def mel_ripple_db(log_mel: np.ndarray) -> float:
    """How much harmonic detail a log mel (n_mels, frames; mel.py's natural-log magnitude) carries below
    RIPPLE_BELOW_HZ: the median, over speech frames and those bins, of each bin's distance from the frame's
    envelope (a moving mean over RIPPLE_SMOOTH_BINS bins), in dB. nan for a mel without speech frames."""
    from .mel import centre_frequencies, checked_log_mel

    x = checked_log_mel(log_mel)
    low = int(np.searchsorted(centre_frequencies(), RIPPLE_BELOW_HZ))
    loudest = x.max(axis=0)
    speech = x[:low, loudest > loudest.max() - RIPPLE_SPEECH_NATS] if x.shape[1] else x[:low]
    if speech.shape[1] == 0:
        return float("nan")
    return float(20.0 / np.log(10.0) * np.median(np.abs(harmonic_detail(speech))))


def harmonic_detail(log_mel_bins: np.ndarray) -> np.ndarray:
    """Each bin's distance from its envelope (a moving mean over RIPPLE_SMOOTH_BINS neighbouring bins), along the
    first axis: the ripple mel_ripple_db measures, and the comb the prosody guide draws (tts/guide.py)."""
    from scipy.ndimage import uniform_filter1d

    return log_mel_bins - uniform_filter1d(log_mel_bins, RIPPLE_SMOOTH_BINS, axis=0, mode="nearest")


def relative(clips: Sequence[tuple[str, str, Prosody]]) -> list[tuple[str, dict[str, float]]]:
    """(emotion, voice, prosody) of each clip -> (emotion, the five MEASURES against the median of the same
    voice's neutral clips). A voice with no neutral clip gives nan measures."""
    neutral: dict[str, list[Prosody]] = defaultdict(list)
    for emotion_id, voice, p in clips:
        if emotion_id == "neutral":
            neutral[voice].append(p)
    # numpy floats: a silent clip's zero rate or unvoiced nan F0 gives nan, not an exception
    with warnings.catch_warnings():  # a voice whose neutral clips are all unvoiced: its F0 reference is nan
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = {voice: {field: np.float64(np.nanmedian([getattr(p, field) for p in ps]))
                             for field in asdict(ps[0])} for voice, ps in neutral.items()}
    out = []
    for emotion_id, voice, p in clips:
        ref = reference.get(voice)
        if ref is None:
            out.append((emotion_id, dict.fromkeys(MEASURES, float("nan"))))
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append((emotion_id, {
                "f0_st": float(12.0 * np.log2(np.float64(p.f0_hz) / ref["f0_hz"])),
                "f0_range_st": float(p.f0_range_st - ref["f0_range_st"]),
                "final_st": float(p.final_st - ref["final_st"]),
                "energy_db": float(p.energy_db - ref["energy_db"]),
                "tempo_pct": float(100.0 * (np.float64(p.syllable_rate_hz) / ref["syllable_rate_hz"] - 1.0)),
            }))
    return out


def per_emotion(rows: Sequence[tuple[str, dict[str, float]]]) -> dict[str, dict[str, float | None]]:
    """The median of each measure per emotion (None where no clip of it could be measured)."""
    grouped: dict[str, list[dict[str, float]]] = defaultdict(list)
    for emotion_id, values in rows:
        grouped[emotion_id].append(values)
    table = {}
    for emotion_id in EMOTION_IDS:
        if emotion_id not in grouped:
            continue
        table[emotion_id] = {}
        for m in MEASURES:
            values = [v[m] for v in grouped[emotion_id] if np.isfinite(v[m])]
            table[emotion_id][m] = round(float(np.median(values)), 2) if values else None
    return table


def reproduced_share(generated: dict[str, dict[str, float | None]],
                     teacher: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """Per measure, the least-squares slope of the generated per-emotion medians on the teacher's over the
    emotions that are not neutral (None where the teacher's contrast is nil or nothing could be measured)."""
    out: dict[str, float | None] = {}
    for m in MEASURES:
        pairs = [(generated[e][m], teacher[e][m]) for e in EMOTION_IDS[1:]
                 if e in generated and e in teacher and generated[e][m] is not None and teacher[e][m] is not None]
        g, t = np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float)
        denominator = float(np.sum(t * t))
        out[m] = round(float(np.sum(g * t) / denominator), 3) if pairs and denominator > 1e-9 else None
    return out


def compare(generated: Sequence[tuple[str, str, Prosody]], teacher: Sequence[tuple[str, str, Prosody]]) -> dict:
    """The report's "prosody" entry: per emotion, each measure of the generated and the teacher's clips, and the
    share of the teacher's contrast reproduced per measure."""
    mine, theirs = per_emotion(relative(generated)), per_emotion(relative(teacher))
    return {
        "by_emotion": {e: {m: {"generated": mine.get(e, {}).get(m), "teacher": theirs.get(e, {}).get(m)}
                           for m in MEASURES} for e in EMOTION_IDS if e in mine or e in theirs},
        "reproduced": reproduced_share(mine, theirs),
    }


def choose_takes(takes_f0: Sequence[Sequence[float]], emotions: Sequence[str]) -> tuple[list[int], float]:
    """An experiment in anchoring the register (`insideout eval --takes K`): takes_f0[i][k] is the median F0 of
    take k of clip i (nan when unvoiced). The reference register is the median F0 of every take of the neutral
    clips (of every clip, without neutral ones); each clip keeps the take nearest, in semitones, to the
    reference raised by its emotion preset's F0 level (presets.py: pitch_st). Returns the take chosen per clip
    and the reference in Hz. A clip whose takes are all unvoiced keeps its first."""
    from ..corpus.presets import preset_for

    if len(takes_f0) != len(emotions):
        raise ValueError("give the takes of every clip, and one emotion per clip")
    neutral = [f for takes, e in zip(takes_f0, emotions, strict=True) if e == "neutral" for f in takes]
    pool = [f for f in (neutral or [f for takes in takes_f0 for f in takes]) if np.isfinite(f) and f > 0]
    reference = float(np.median(pool)) if pool else float("nan")
    chosen = []
    for takes, emotion_id in zip(takes_f0, emotions, strict=True):
        target = reference * 2 ** (preset_for(emotion_id).pitch_st / 12)
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = [abs(12 * np.log2(f / target)) if np.isfinite(f) and f > 0 else np.inf for f in takes]
        chosen.append(int(np.argmin(distance)) if np.isfinite(min(distance, default=np.inf)) else 0)
    return chosen, reference


def format_table(report: dict) -> str:
    """The prosody entry as a text table: generated / teacher per emotion and measure, then the shares."""
    width = 30
    head = f"{'emotion':<10}" + "".join(f"{LABELS[m]:>{width}}" for m in MEASURES)
    lines = [head, "-" * len(head)]

    def cell(x: float | None) -> str:
        return "-" if x is None else f"{x:+.1f}"

    for emotion_id, row in report["by_emotion"].items():
        cells = "".join(f"{cell(row[m]['generated']) + ' / ' + cell(row[m]['teacher']):>{width}}" for m in MEASURES)
        lines.append(f"{emotion_id:<10}{cells}")
    shares = "".join(f"{'-' if report['reproduced'][m] is None else format(report['reproduced'][m], '.2f'):>{width}}"
                     for m in MEASURES)
    lines.append(f"{'reproduced':<10}{shares}")
    return "\n".join(lines)


def plot(report: dict, path, title: str = "") -> None:
    """One panel per measure: each emotion's median, generated beside teacher, with the share reproduced in
    the panel's title. report: compare()'s result (an eval report's "prosody")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    emotions = list(report["by_emotion"])
    x = np.arange(len(emotions))
    fig, grid = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    axes = list(grid.flat)
    for ax, m in zip(axes, MEASURES, strict=False):
        for offset, side, colour in ((-0.2, "teacher", "#999999"), (0.2, "generated", "#1f77b4")):
            values = [report["by_emotion"][e][m][side] for e in emotions]
            ax.bar(x + offset, [np.nan if v is None else v for v in values], width=0.4, color=colour, label=side)
        share = report["reproduced"].get(m)
        ax.set_title(f"{LABELS[m]}\nreproduced {'-' if share is None else format(share, '+.2f')}", fontsize=9)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(x, emotions, rotation=45, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].axis("off")  # the sixth panel holds the legend
    axes[-1].legend(handles, labels, loc="center", fontsize=11)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=90)
    plt.close(fig)
