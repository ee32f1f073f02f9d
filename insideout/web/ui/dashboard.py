"""The admin dashboard's words and tables, in the page's language: the summary at the top, agreement with its
reasons, Dawid-Skene's voters and overruled clips, the tally and queue tables, the filters' choices. Drawn from
insideout.stats results (the charts are in plots.py); nothing here computes a statistic."""

from __future__ import annotations

import html
import math

import pandas as pd

from ... import stats
from ...db import POOLS
from ...emotions import EMOTION_IDS
from .texts import emotion_name, number, percent, t

ALL = "all"  # a filter's value for: no filter
# The most rows a table sends: a page with 2,000 rows of tallies took seconds to draw; the filters, the sort and
# the CSV export reach every row.
TABLE_ROWS = 200
COUNTS, SHARES = "counts", "shares"  # the confusion matrix's two views


def pool_name(lang: str, pool: str) -> str:
    return t(lang, f"pool_{pool}")


def pool_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, "all"), ALL), *((pool_name(lang, p), p) for p in POOLS)]


def state_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, "all"), ALL), *((t(lang, f"state_{s}"), s) for s in stats.STATES)]


def sort_choices(lang: str) -> list[tuple[str, str]]:
    keys = {"clip": "col_clip", "votes": "col_counted_votes", "share": "col_top_share"}
    return [(t(lang, keys[s]), s) for s in stats.SORTS]


def confusion_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, "confusion_counts"), COUNTS), (t(lang, "confusion_shares"), SHARES)]


# -- the summary -------------------------------------------------------------------------------


def summary_markdown(s: stats.Summary, lang: str) -> str:
    """One table of six cells an admin reads in two seconds."""
    pools = ", ".join(f"{pool_name(lang, p)} **{n}**" for p, n in s.pools.items())
    votes = t(lang, "sum_votes_value", today=f"**{s.votes_today}**", total=s.votes, counted=s.counted_votes)
    near = t(lang, "sum_near_value", n=f"**{s.near_consensus}**")
    policy = t(lang, "sum_policy_value", need=s.policy.rounds_to_pass, rounds=s.policy.max_rounds,
               chance=f"**{percent(s.policy.chance_pass_probability, lang)}**")
    model = (t(lang, "sum_model_default") if s.model_id is None
             else t(lang, "sum_model_version", id=s.model_id, version=s.model_version or "?"))
    jobs = ", ".join(f"{t(lang, f'job_kind_{kind}')} #{job_id}" for kind, job_id in s.running_jobs)
    heads = [t(lang, k) for k in ("sum_pools", "sum_votes", "sum_near", "sum_policy", "sum_model", "sum_jobs")]
    cells = [pools, votes, near, policy, model, jobs or t(lang, "sum_jobs_none")]
    return "\n".join([t(lang, "summary_title"), "", "| " + " | ".join(heads) + " |",
                      "|" + "---|" * len(heads), "| " + " | ".join(cells) + " |"])


# -- agreement ---------------------------------------------------------------------------------


def _reason(lang: str, reason: str | None) -> str:
    return t(lang, f"reason_{reason}") if reason else ""


def agreement_markdown(a: stats.Agreement, ds: stats.DawidSkeneView, lang: str) -> str:
    """Kappa and alpha each with the clips and votes they use, or why they are missing; then Dawid-Skene's
    comparison with majority vote, or why it is missing."""
    lines = [t(lang, "agreement_counted", votes=a.counted_votes, clips=a.voted_clips)]
    if a.fleiss_kappa is None:
        lines.append(t(lang, "agreement_kappa_missing", reason=_reason(lang, a.kappa_reason)))
    else:
        lines.append(t(lang, "agreement_kappa", kappa=number(a.fleiss_kappa, lang), kclips=a.kappa_clips,
                       kraters=a.kappa_raters))
    if a.krippendorff_alpha is None:
        lines.append(t(lang, "agreement_alpha_missing", reason=_reason(lang, a.alpha_reason)))
    else:
        lines.append(t(lang, "agreement_alpha", alpha=number(a.krippendorff_alpha, lang), aclips=a.alpha_clips,
                       avotes=a.alpha_votes))
    if ds.computed:
        lines.append(t(lang, "ds_summary", votes=ds.votes, clips=ds.clips, voters=ds.voters, agree=ds.agree,
                       ties=ds.ties_resolved, overruled=len(ds.disagreements)))
        if ds.pending:
            lines[-1] += " " + t(lang, "ds_pending", n=ds.pending)
    else:
        lines.append(t(lang, "ds_missing", reason=_reason(lang, ds.reason)))
    return "\n\n".join(lines)


def ds_frames(ds: stats.DawidSkeneView, lang: str) -> tuple[str, str]:
    """The voters with their estimated quality (most votes first), and the clips whose clear majority
    Dawid-Skene overrules."""
    voter_columns = [t(lang, k) for k in ("col_voter", "col_votes", "col_quality", "col_majority_agreement")]
    voters = pd.DataFrame([(q.voter, q.votes, percent(q.quality, lang), percent(q.majority_agreement, lang))
                           for q in ds.voter_quality[:TABLE_ROWS]], columns=voter_columns)
    clip_columns = [t(lang, k) for k in ("col_clip", "col_counted_votes", "col_majority", "col_majority_share",
                                         "col_ds_label", "col_ds_probability")]
    clips = pd.DataFrame([(c.clip, c.votes, emotion_name(lang, c.majority) if c.majority else "",
                           percent(c.majority_share, lang), emotion_name(lang, c.label), percent(c.probability, lang))
                          for c in ds.disagreements[:TABLE_ROWS]], columns=clip_columns)
    return (first_rows(voters, len(ds.voter_quality), lang, "ds_voters"),
            first_rows(clips, len(ds.disagreements), lang, "ds_overruled"))


# -- tables ------------------------------------------------------------------------------------


def _emotion(lang: str, emotion_id: str | None) -> str:
    return emotion_name(lang, emotion_id) if emotion_id else ""


def first_rows(frame: pd.DataFrame, total: int, lang: str, label_key: str) -> str:
    """A table's first TABLE_ROWS rows, its caption saying how many of how many."""
    label = t(lang, label_key)
    if total > len(frame):
        label += " " + t(lang, "rows_shown", shown=len(frame), total=total)
    return table_html(frame, label, t(lang, "table_empty"))


def table_html(frame: pd.DataFrame, caption: str, empty: str) -> str:
    """A plain HTML table for gr.HTML. The dashboard's four tables were gr.Dataframe, and drawing those took half
    of the admin tab's first second; these are read-only, sorted by the filters, and whole in the CSV export.
    Its box scrolls, so it takes the keyboard focus (WCAG 2.1.1) and is named by its caption."""
    esc = html.escape
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f'<th scope="col"{" class=num" if n else ""}>{esc(str(c))}</th>'
                   for c, n in zip(frame.columns, numeric, strict=True))
    rows = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{esc(_cell(v))}</td>'
                                    for v, n in zip(row, numeric, strict=True)) + "</tr>"
                   for row in frame.itertuples(index=False))
    if not rows:
        rows = f'<tr><td colspan="{max(1, len(frame.columns))}">{esc(empty)}</td></tr>'
    return (f'<div class="io-table" role="region" tabindex="0" aria-label="{esc(caption)}"><table>'
            f"<caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def tally_frame(rows: list[dict], lang: str) -> pd.DataFrame:
    """stats.tally_table's rows with headers and values in the page's language (the CSV keeps the ids)."""
    heads = [t(lang, k) for k in ("col_clip", "col_pool", "col_tally_state", "col_label", "col_intended",
                                  "col_counted_votes", "col_top", "col_top_share")]
    heads += [emotion_name(lang, e) for e in EMOTION_IDS]
    out = [(r["clip"], pool_name(lang, r["pool"]), t(lang, f"state_{r['state']}"), _emotion(lang, r["label"]),
            _emotion(lang, r["intended_emotion"]), r["counted_votes"], _emotion(lang, r["top"]), r["top_share"],
            *(r[e] for e in EMOTION_IDS)) for r in rows]
    return pd.DataFrame(out, columns=heads)


def queue_frame(rows: list[dict], lang: str) -> pd.DataFrame:
    heads = [t(lang, k) for k in ("col_clip", "col_counted_votes", "col_top", "col_top_share", "col_votes_needed")]
    out = [(r["clip"], r["counted_votes"], _emotion(lang, r["top"]), r["top_share"],
            t(lang, "never") if r["votes_needed"] is None else r["votes_needed"]) for r in rows]
    return pd.DataFrame(out, columns=heads)
