"""How the emotions of a library differ acoustically: per-emotion statistics as a table and a plot."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ..emotions import EMOTION_IDS, emotion
from ..library import Library
from ..wav import SAMPLE_RATE
from .acoustics import measure

COLUMNS = ("clips", "duration_s", "median_f0_hz", "f0_vs_neutral_st", "f0_range_st", "energy_db",
           "syllable_rate_hz")


def measure_library(library: Library, pools: tuple[str, ...] = ("play", "unverified")) -> list[dict]:
    """One row per clip with a known or intended emotion: its emotion, voice and measurements."""
    rows = []
    for pool in pools:
        for clip in library.db.clips(pool=pool):
            label = clip["label"] or clip["intended_emotion"]
            if label is None:
                continue
            pcm = library.pcm(clip["id"]).astype(np.float32) / 32767
            rows.append({"emotion": label, "voice": clip["voice"] or "?", "text": clip["text"],
                         **measure(pcm, SAMPLE_RATE).as_dict()})
    return rows


def neutral_f0_by_voice(rows: list[dict]) -> dict[str, float]:
    """Each voice's median F0 over its neutral clips: the reference its emotions are measured from."""
    out = {}
    for voice in {r["voice"] for r in rows}:
        f0s = [r["median_f0_hz"] for r in rows if r["voice"] == voice and r["emotion"] == "neutral"]
        if f0s and np.isfinite(np.nanmedian(f0s)):
            out[voice] = float(np.nanmedian(f0s))
    return out


def f0_vs_neutral_st(row: dict, neutral_f0: dict[str, float]) -> float:
    """A clip's F0 in semitones above its voice's neutral; nan without a reference."""
    if row["voice"] not in neutral_f0:
        return float("nan")
    return float(12 * np.log2(row["median_f0_hz"] / neutral_f0[row["voice"]]))


def per_emotion(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Medians per emotion. F0 is also given relative to the same voice's neutral clips (in
    semitones), since the voices' own pitch would otherwise swamp the emotions' differences."""
    neutral_f0 = neutral_f0_by_voice(rows)
    grouped: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        grouped[r["emotion"]].append(r)
    table = {}
    for emotion_id in EMOTION_IDS:
        group = grouped.get(emotion_id, [])
        if not group:
            continue
        rel = [st for r in group if np.isfinite(st := f0_vs_neutral_st(r, neutral_f0))]
        table[emotion_id] = {
            "clips": len(group),
            "duration_s": float(np.nanmedian([r["duration_s"] for r in group])),
            "median_f0_hz": float(np.nanmedian([r["median_f0_hz"] for r in group])),
            "f0_vs_neutral_st": float(np.median(rel)) if rel else float("nan"),
            "f0_range_st": float(np.nanmedian([r["f0_range_st"] for r in group])),
            "energy_db": float(np.nanmedian([r["energy_db"] for r in group])),
            "syllable_rate_hz": float(np.nanmedian([r["syllable_rate_hz"] for r in group])),
        }
    return table


def format_table(table: dict[str, dict[str, float]]) -> str:
    head = f"{'emotion':<10}" + "".join(f"{c:>18}" for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for emotion_id, stats in table.items():
        cells = [f"{stats['clips']:>18d}"] + [f"{stats[c]:>18.2f}" for c in COLUMNS[1:]]
        lines.append(f"{emotion_id:<10}" + "".join(cells))
    return "\n".join(lines)


def plot(rows: list[dict], table: dict[str, dict[str, float]], path: Path) -> None:
    """Box plots per emotion of the measures a listener hears: pitch, range, loudness, tempo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neutral = neutral_f0_by_voice(rows)
    emotions = [e for e in EMOTION_IDS if e in table]
    panels = [
        ("F0 vs the voice's neutral (semitones)", lambda r: f0_vs_neutral_st(r, neutral)),
        ("F0 range, 10th-90th percentile (semitones)", lambda r: r["f0_range_st"]),
        ("Energy of speech (dBFS)", lambda r: r["energy_db"]),
        ("Duration of speech (s)", lambda r: r["duration_s"]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    for ax, (title, value) in zip(axes.flat, panels, strict=True):
        data = [[v for r in rows if r["emotion"] == e and np.isfinite(v := value(r))] for e in emotions]
        ax.boxplot(data, tick_labels=[emotion(e).en for e in emotions], showfliers=False)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"How the emotions differ ({len(rows)} clips)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
