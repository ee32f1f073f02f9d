"""Figures and tables for the admin dashboard, drawn from insideout.stats results (no computing here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ...emotions import EMOTION_IDS
from ...stats import Confusion, RatePoint, RateRow
from .texts import emotion_name, t

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def confusion_figure(confusion: Confusion) -> Figure:
    """A heatmap with counts in the cells. Axis text stays in English: the default font has no Hangul.
    A bare Figure (not pyplot) holds no global state, so handlers on several threads may draw."""
    from matplotlib.figure import Figure  # here: matplotlib costs ~0.4 s and tens of MiB at start

    fig = Figure(figsize=(6.4, 5.2), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(confusion.counts, cmap="Blues", vmin=0)
    ticks = range(len(EMOTION_IDS))
    ax.set_xticks(ticks, EMOTION_IDS, rotation=45, ha="right")
    ax.set_yticks(ticks, EMOTION_IDS)
    ax.set_xlabel(f"crowd label ({'counted votes' if confusion.by == 'votes' else 'consensus'})")
    ax.set_ylabel("intended emotion")
    peak = max(max(row) for row in confusion.counts) or 1
    for i, row in enumerate(confusion.counts):
        for j, n in enumerate(row):
            if n:
                ax.text(j, i, str(n), ha="center", va="center",
                        color="white" if n > peak / 2 else "black", fontsize=8)
    ax.set_title(f"Intended emotion vs crowd label (n = {confusion.total})")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(100 * rate, 1)


def by_emotion_frame(rows: list[RateRow], lang: str) -> pd.DataFrame:
    """Emotions whose control clips were answered at least once, with their round pass rate in %."""
    return pd.DataFrame(
        [{"emotion": emotion_name(lang, r.key), "pass_rate": _percent(r.rate), "rounds": r.rounds}
         for r in rows if r.rounds],
        columns=["emotion", "pass_rate", "rounds"],
    )


def by_round_frame(rows: list[RateRow], lang: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"round": f"{t(lang, 'col_round')} {r.key}", "pass_rate": _percent(r.rate), "rounds": r.rounds}
         for r in rows],
        columns=["round", "pass_rate", "rounds"],
    )


def over_time_frame(points: list[RatePoint], lang: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        [{"time": pd.Timestamp(p.period_start, unit="s"),
          "pass_rate": _percent(p.rate),
          "round": t(lang, "all_rounds") if p.round is None else f"{t(lang, 'col_round')} {p.round}",
          "rounds": p.rounds}
         for p in points],
        columns=["time", "pass_rate", "round", "rounds"],
    )
    frame["time"] = pd.to_datetime(frame["time"])
    return frame
