"""Figures and tables for the admin dashboard, drawn from insideout.stats results and the models table
(no computing here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from ...emotions import EMOTION_IDS
from ...retraining import ModelVersion
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


# -- training ----------------------------------------------------------------------------------------

MODEL_COLUMNS = ("col_model", "col_version", "col_parent", "col_state", "col_clips", "col_steps", "col_loss",
                 "col_wer", "col_emotion_acc", "col_dnsmos", "col_diagonality", "col_active", "col_finished",
                 "col_note")


def loss_frame(losses: list | None) -> pd.DataFrame:
    """A run's loss curve: ModelMetrics.losses, (step, loss) pairs. Numeric columns even when empty: the
    plot takes an empty frame's object columns for categories, and keeps that axis for later points."""
    frame = pd.DataFrame([{"step": int(step), "loss": round(float(loss), 4)} for step, loss in losses or []],
                         columns=["step", "loss"])
    return frame.astype({"step": "int64", "loss": "float64"})


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _decimal(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _beside_teacher(value: float | None, teacher: float | None, lang: str) -> str:
    """A fraction as a percent, the teacher's beside it when known; blank when the run has none."""
    if value is None:
        return ""
    if teacher is None:
        return _share(value)
    return t(lang, "with_teacher", value=_share(value), teacher=_share(teacher))


def _mos_beside_teacher(value: float | None, teacher: float | None, lang: str) -> str:
    """A DNSMOS estimate (1-5), the teacher clips' beside it when known; blank when the run has none."""
    if value is None:
        return ""
    if teacher is None:
        return f"{value:.2f}"
    return t(lang, "with_teacher", value=f"{value:.2f}", teacher=f"{teacher:.2f}")


def _note(v: ModelVersion, lang: str) -> str:
    """Why a run failed, else what the safe-retraining rule decided (activation.py), else nothing."""
    if v.metrics.error:
        return v.metrics.error
    if v.activated_automatically:
        return t(lang, "model_auto_activated")
    if v.held_back:
        return t(lang, "model_held_back", reasons="; ".join(v.held_back_reasons))
    return ""


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def models_frame(versions: Sequence[ModelVersion], lang: str) -> pd.DataFrame:
    """One row per trained version (newest first), with its evaluation; blank where a run has no value."""
    out = []
    for v in versions:
        m = v.metrics
        out.append([
            v.id, v.version or "", v.parent_version or "", v.state, v.clips,
            "" if m.steps is None else str(int(m.steps)), _decimal(m.final_loss),
            _beside_teacher(m.wer, m.teacher_wer, lang),
            _beside_teacher(m.emotion_accuracy, m.teacher_emotion_accuracy, lang),
            _mos_beside_teacher(m.dnsmos, m.teacher_dnsmos, lang),
            _decimal(m.diagonality), t(lang, "active_mark") if v.active else "", _when(v.finished_at), _note(v, lang),
        ])
    return pd.DataFrame(out, columns=[t(lang, c) for c in MODEL_COLUMNS])
