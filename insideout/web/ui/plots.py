"""Charts and tables for the admin dashboard, drawn from insideout.stats results and the models table (no
computing here). The charts are Vega-Lite specs the browser draws: titled, axes named, in the page's language,
every rate with its n and 95 % interval, and no data drawn as missing, never as zero."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd
from gradio.components.plot import PlotData

from ...activation import rendering_of
from ...emotions import EMOTION_IDS
from ...retraining import DefaultModel, ModelMetrics, ModelVersion
from ...stats import Confusion, OverTime, RateRow
from .texts import TEXTS, emotion_name, t

VEGA_LITE = "https://vega.github.io/schema/vega-lite/v5.json"  # a name only: nothing is fetched from it


DAY_S = 86400
GRAY = "#6b7280"  # "no data": a colour apart from any rate's (a gray of WCAG AA contrast on white)


HALF, FULL = 440, 920  # a chart's width in px: half of the dashboard's row, or all of it
# Vega's own look, with the page's text colour and a font stack that has Hangul.
CONFIG = {"font": "system-ui, 'Noto Sans CJK KR', 'Noto Sans KR', sans-serif",
          "axis": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal"},
          "title": {"fontSize": 14, "subtitleFontSize": 11}, "view": {"stroke": "#e5e7eb"}}


def chart(spec: dict, width: int) -> PlotData:
    """A Vega-Lite spec as gr.Plot's value, drawn by the browser (Gradio's own vega-embed), so every word is in
    a font the page has, Hangul included, and the spec's data is what a test reads. Its width is fixed: Gradio's
    fitting to the box could leave a chart 12 px wide when its values came while the tab was being laid out."""
    return PlotData(type="altair", plot=json.dumps({
        "$schema": VEGA_LITE, "width": width, "autosize": {"type": "fit", "contains": "padding"},
        "config": CONFIG, **spec}))


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _rate_values(rows: Sequence[RateRow], lang: str, name: Callable[[str], str]) -> list[dict]:
    """One datum per row: its rate and interval in %, its count, and the label drawn over it (n, or no data)."""
    out = []
    for order, r in enumerate(rows):
        low, high = r.interval if r.interval else (None, None)
        out.append({"key": name(r.key), "order": order, "rate": _pct(r.rate), "low": _pct(low), "high": _pct(high),
                    "passed": r.passed, "n": r.rounds,
                    "label": f"{r.passed}/{r.rounds}" if r.rounds else t(lang, "no_data"),
                    "y_label": _pct(high) if r.rounds else 0})
    return out


def rate_bars(rows: Sequence[RateRow], lang: str, title: str, x_title: str,
              name: Callable[[str], str]) -> PlotData:
    """Pass rates as bars with their 95 % interval and passed/n above; a row with no data has no bar, only
    the words "no data", so 0 % and nothing never look alike."""
    values = _rate_values(rows, lang, name)
    total = sum(r.rounds for r in rows)
    x = {"field": "key", "type": "nominal", "title": x_title, "sort": [v["key"] for v in values],
         "axis": {"labelAngle": -30}}
    y = {"field": "rate", "type": "quantitative", "title": t(lang, "axis_pass_rate"), "scale": {"domain": [0, 100]}}
    tooltip = [{"field": "key", "title": x_title}, {"field": "rate", "title": t(lang, "axis_pass_rate")},
               {"field": "low", "title": t(lang, "ci_low")}, {"field": "high", "title": t(lang, "ci_high")},
               {"field": "passed", "title": t(lang, "col_passed")}, {"field": "n", "title": "n"}]
    return chart({
        "title": {"text": title, "subtitle": t(lang, "chart_n_rounds", n=total)},
        "description": t(lang, "chart_rates_description", title=title, rows="; ".join(
            f"{v['key']}: {v['label']}" for v in values)),
        "data": {"values": values},
        "encoding": {"x": x},
        "layer": [
            {"mark": {"type": "bar", "color": "#2563eb", "opacity": 0.85},
             "transform": [{"filter": "datum.rate !== null"}], "encoding": {"y": y, "tooltip": tooltip}},
            {"mark": {"type": "rule", "color": "#111827", "strokeWidth": 1.5},
             "transform": [{"filter": "datum.rate !== null"}],
             "encoding": {"y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"}}},
            {"mark": {"type": "text", "dy": -8, "fontSize": 11, "strokeWidth": 0},
             "encoding": {"y": {"field": "y_label", "type": "quantitative"}, "text": {"field": "label"},
                          "color": {"condition": {"test": "datum.n === 0", "value": GRAY}, "value": "#111827"}}},
        ],
    }, HALF)


def by_emotion_chart(rows: Sequence[RateRow], lang: str) -> PlotData:
    return rate_bars(rows, lang, t(lang, "pass_by_emotion"), t(lang, "axis_control_emotion"),
                     lambda key: emotion_name(lang, key))


def by_round_chart(rows: Sequence[RateRow], lang: str) -> PlotData:
    return rate_bars(rows, lang, t(lang, "pass_by_round"), t(lang, "col_round"),
                     lambda key: f"{t(lang, 'col_round')} {key}")


def _series(lang: str, round_no: int | None) -> str:
    return t(lang, "all_rounds") if round_no is None else f"{t(lang, 'col_round')} {round_no}"


def bin_name(lang: str, bucket_s: int) -> str:
    return t(lang, f"bin_{bucket_s}") if f"bin_{bucket_s}" in TEXTS else t(lang, "bin_seconds", s=bucket_s)


def over_time_chart(over: OverTime, lang: str) -> PlotData:
    """A series per round number and one for all, every period with answers a point (so a series of one
    period still shows), its 95 % interval a vertical rule, n in the tooltip."""
    series = sorted({p.round for p in over.points}, key=lambda r: (r is None, r or 0))
    names = [_series(lang, r) for r in series]
    values = []
    for p in over.points:
        low, high = p.interval if p.interval else (None, None)
        values.append({"time": datetime.fromtimestamp(p.period_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "series": _series(lang, p.round), "rate": _pct(p.rate), "low": _pct(low), "high": _pct(high),
                       "passed": p.passed, "n": p.rounds})
    # A period without answers in a series is a gap in its line, not a slope to the next point: each run of
    # consecutive periods is a segment of its own.
    starts = sorted({p.period_start for p in over.points})
    last: dict[int | None, tuple[float, int]] = {}
    for p, v in zip(over.points, values, strict=True):
        start, segment = last.get(p.round, (None, 0))
        segment += start is not None and p.period_start - start > over.bucket_s
        last[p.round] = (p.period_start, segment)
        v["segment"] = f"{v['series']} {segment}"
    title = t(lang, "pass_over_time")
    period = bin_name(lang, over.bucket_s)
    # UTC as the title says (a browser would shift to its own zone), in numbers (no month or day names in
    # English on a Korean page).
    x = {"field": "time", "type": "temporal", "title": t(lang, "axis_time", period=period), "scale": {"type": "utc"},
         "axis": {"labelExpr": f"utcFormat(datum.value, '{'%Y-%m-%d' if over.bucket_s >= DAY_S else '%m-%d %H:%M'}')",
                  "labelAngle": -30}}
    color = {"field": "series", "type": "nominal", "title": t(lang, "col_round"),
             "scale": {"domain": names}, "sort": names}
    y = {"field": "rate", "type": "quantitative", "title": t(lang, "axis_pass_rate"), "scale": {"domain": [0, 100]}}
    tooltip = [{"field": "time", "type": "temporal", "title": t(lang, "axis_time", period=period),
                "format": "%Y-%m-%d %H:%M", "formatType": "utc"}, {"field": "series", "title": t(lang, "col_round")},
               {"field": "rate", "title": t(lang, "axis_pass_rate")}, {"field": "low", "title": t(lang, "ci_low")},
               {"field": "high", "title": t(lang, "ci_high")}, {"field": "passed", "title": t(lang, "col_passed")},
               {"field": "n", "title": "n"}]
    total = sum(p.rounds for p in over.points if p.round is None)
    spec: dict = {"title": {"text": title, "subtitle": t(lang, "chart_n_rounds_per", n=total, period=period)},
                  "description": t(lang, "chart_over_time_description", title=title, n=total, periods=len(starts),
                                   series=", ".join(names) or "-"),
                  "data": {"values": values}}
    if not values:
        return chart({**spec, "mark": {"type": "text", "color": GRAY, "fontSize": 14, "strokeWidth": 0},
                      "data": {"values": [{"label": t(lang, "no_data")}]}, "encoding": {"text": {"field": "label"}}},
                     FULL)
    return chart({**spec, "encoding": {"x": x, "color": color}, "layer": [
        {"mark": {"type": "rule", "opacity": 0.45, "strokeWidth": 2},
         "encoding": {"y": {"field": "low", "type": "quantitative", "scale": {"domain": [0, 100]}},
                      "y2": {"field": "high"}}},
        {"mark": {"type": "line", "point": {"filled": True, "size": 70}},
         "encoding": {"y": y, "tooltip": tooltip, "detail": {"field": "segment", "type": "nominal"},
                      "strokeDash": {"field": "series", "type": "nominal", "legend": None, "sort": names}}},
    ]}, FULL)


def confusion_chart(confusion: Confusion, lang: str, normalized: bool) -> PlotData:
    """Intended emotion (rows, each with its n) against the crowd's label: counts, or each row's shares (where an
    intended emotion's votes went). A row with no votes is gray and says so, rather than a row of zeros."""
    shares = confusion.shares
    rows = []
    for i, (counts, row_shares) in enumerate(zip(confusion.counts, shares, strict=True)):
        n = sum(counts)
        intended = t(lang, "row_with_n", name=emotion_name(lang, EMOTION_IDS[i]), n=n)
        for j, count in enumerate(counts):
            share = row_shares[j]
            shown = (f"{round(100 * share)}%" if share is not None else "") if normalized else (str(count) if n else "")
            rows.append({"intended": intended, "crowd": emotion_name(lang, EMOTION_IDS[j]), "count": count,
                         "share": None if share is None else round(100 * share, 1), "text": shown,
                         "value": (None if share is None else round(100 * share, 1)) if normalized else
                         (count if n else None), "dark": bool(share is not None and share > 0.5)})
    order_rows = list(dict.fromkeys(r["intended"] for r in rows))
    order_cols = [emotion_name(lang, e) for e in EMOTION_IDS]
    basis = t(lang, "basis_votes" if confusion.by == "votes" else "basis_consensus")
    title = t(lang, "confusion")
    return chart({
        "title": {"text": title, "subtitle": t(lang, "confusion_subtitle", n=confusion.total, basis=basis,
                                               view=t(lang, "confusion_shares" if normalized else "confusion_counts"))},
        "description": t(lang, "confusion_description", title=title, n=confusion.total),
        "data": {"values": rows}, "height": 320,
        "encoding": {"x": {"field": "crowd", "type": "nominal", "sort": order_cols,
                           "title": t(lang, "axis_crowd_label"), "axis": {"labelAngle": -30}},
                     "y": {"field": "intended", "type": "nominal", "sort": order_rows,
                           "title": t(lang, "axis_intended")}},
        "layer": [
            {"mark": {"type": "rect", "stroke": "#ffffff"},
             "encoding": {"color": {"condition": {"test": "datum.value === null", "value": "#e5e7eb"},
                                    "field": "value", "type": "quantitative", "scale": {"scheme": "blues"},
                                    "title": "%" if normalized else "n"},
                          "tooltip": [{"field": "intended", "title": t(lang, "axis_intended")},
                                      {"field": "crowd", "title": t(lang, "axis_crowd_label")},
                                      {"field": "count", "title": "n"}, {"field": "share", "title": "%"}]}},
            {"mark": {"type": "text", "fontSize": 11, "strokeWidth": 0},
             "encoding": {"text": {"field": "text"},
                          "color": {"condition": {"test": "datum.dark", "value": "#ffffff"}, "value": "#111827"}}},
        ],
    }, FULL)


# -- training ----------------------------------------------------------------------------------------

MODEL_COLUMNS = ("col_model", "col_version", "col_parent", "col_state", "col_clips", "col_steps", "col_loss",
                 "col_wer", "col_emotion_acc", "col_dnsmos", "col_prosody", "col_ripple", "col_diagonality",
                 "col_active", "col_finished", "col_note")


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


def _number_beside_teacher(value: float | None, teacher: float | None, lang: str, form: str) -> str:
    """A number in `form` (a DNSMOS estimate "{:.2f}", a ripple "{:.1f} dB"), the teacher clips' beside it when
    known; blank when the run has none."""
    if value is None:
        return ""
    if teacher is None:
        return form.format(value)
    return t(lang, "with_teacher", value=form.format(value), teacher=form.format(teacher))


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


def _prosody_cell(m: ModelMetrics, lang: str) -> str:
    """Per measure of tts.prosody, the share of the teacher's contrast between emotions the version's clips
    reproduce (1: as far as the teacher, 0: every emotion alike, below 0: the wrong way); blank for versions
    measured before it. Not averaged: a model can carry loudness and move pitch the wrong way."""
    shares = m.prosody.get("reproduced") or {}
    return ", ".join(f"{t(lang, 'prosody_' + name)} {share:+.2f}" for name, share in shares.items()
                     if share is not None)


def _evaluation_cells(m: ModelMetrics, lang: str) -> list[str]:
    """WER, emotion accuracy, DNSMOS, prosody carried, pitch detail in the mels and attention diagonality, as the
    table shows them. The emotion names the emotion strength the version spoke at, where it was measured with one,
    and the prosody guide and mel refiner it spoke with, where it had them; the WER names the mel postfilter its
    clips were sharpened with, where they were (activation.rendering_of)."""
    rendering = rendering_of(m)
    emotion = _beside_teacher(m.emotion_accuracy, m.teacher_emotion_accuracy, lang)
    if emotion and m.emotion_strength is not None:
        emotion = t(lang, "at_strength", cell=emotion, strength=f"{m.emotion_strength:g}")
    if emotion and rendering.guide != "off":
        emotion = t(lang, "with_guide", cell=emotion, guide=rendering.guide)
    if emotion and rendering.refiner:
        emotion = t(lang, "with_refiner", cell=emotion, version=rendering.refiner)
    wer = _beside_teacher(m.wer, m.teacher_wer, lang)
    if wer and rendering.postfilter > 0:
        wer = t(lang, "with_postfilter", cell=wer, beta=f"{rendering.postfilter:g}")
    return [wer, emotion,
            _number_beside_teacher(m.dnsmos, m.teacher_dnsmos, lang, "{:.2f}"), _prosody_cell(m, lang),
            _number_beside_teacher(m.mel_ripple_db, m.teacher_mel_ripple_db, lang, "{:.1f} dB"),
            _decimal(m.diagonality)]


def _default_row(default: DefaultModel, lang: str) -> list:
    """The model that generates while no version does (it has no run): its version, its held-out metrics when
    known (the activation guard's, else the eval report beside its file; blank before), and active while it
    generates."""
    m = default.metrics or ModelMetrics()
    note = t(lang, "model_note_default", path=default.path)
    if default.metrics is None:
        note += t(lang, "model_note_unmeasured")
    elif default.measured_by == "eval":
        note += t(lang, "model_note_eval_report")
    return [t(lang, "model_default_row"), default.version or "", "",
            t(lang, "model_state_shipped" if default.shipped else "model_state_configured"), "", "", "",
            *_evaluation_cells(m, lang), t(lang, "active_mark") if default.active else "", "", note]


def models_frame(versions: Sequence[ModelVersion], lang: str, default: DefaultModel | None = None) -> pd.DataFrame:
    """One row per trained version (newest first), with its evaluation; blank where a run has no value. Then
    the default model's row, when given: where every fine-tune's lineage starts."""
    out = []
    for v in versions:
        m = v.metrics
        out.append([
            v.id, v.version or "", v.parent_version or "", v.state, v.clips,
            "" if m.steps is None else str(int(m.steps)), _decimal(m.final_loss), *_evaluation_cells(m, lang),
            t(lang, "active_mark") if v.active else "", _when(v.finished_at), _note(v, lang),
        ])
    if default is not None:
        out.append(_default_row(default, lang))
    return pd.DataFrame(out, columns=[t(lang, c) for c in MODEL_COLUMNS])
