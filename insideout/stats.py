"""Read-only analytics for the admin dashboard: pools, tallies, agreement, confusion, pass rates, CSV.

Nothing here writes: tallies and verdicts come from the consensus engine, the rest from read-only SQL.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from .captcha import Captcha
from .consensus import Consensus
from .db import POOLS, Database
from .emotions import EMOTION_IDS

STATES = ("open", "consensus", "ambiguous")
SORTS = ("clip", "votes", "share")
HOUR, DAY = 3600, 86400

TALLY_COLUMNS = ("clip", "pool", "state", "label", "intended_emotion", "counted_votes", "top",
                 "top_share", *EMOTION_IDS)
VOTE_COLUMNS = ("id", "clip_id", "voter", "emotion", "counted", "why_not_counted", "source",
                "challenge_id", "round_no", "created_at")


# -- pools and tallies -------------------------------------------------------------------------


def pool_sizes(db: Database) -> dict[str, int]:
    """Active clips per pool, and retired ones (ambiguous) apart."""
    return db.pool_counts()


def tally_table(consensus: Consensus, pool: str | None = None, state: str | None = None,
                sort: str = "clip") -> list[dict]:
    """One flat row per clip with votes or awaiting them (TALLY_COLUMNS), filtered and sorted.
    sort: "clip" (id), "votes" (most counted first) or "share" (highest top share first)."""
    if pool is not None and pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
    if state is not None and state not in STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
    rows = []
    for t in consensus.tallies():
        if (pool and t["pool"] != pool) or (state and t["state"] != state):
            continue
        votes = t["votes"]
        # max() keeps the first of equals: ties go to the earlier emotion, as consensus.judge does.
        top = max(EMOTION_IDS, key=votes.__getitem__) if t["counted_votes"] else None
        rows.append({"clip": t["clip"], "pool": t["pool"], "state": t["state"], "label": t["label"],
                     "intended_emotion": t["intended_emotion"], "counted_votes": t["counted_votes"],
                     "top": top, "top_share": t["top_share"], **votes})
    keys = {"clip": lambda r: r["clip"],
            "votes": lambda r: (-r["counted_votes"], r["clip"]),
            "share": lambda r: (-r["top_share"], -r["counted_votes"], r["clip"])}
    return sorted(rows, key=keys[sort])


def consensus_queue(consensus: Consensus) -> list[dict]:
    """Unverified clips still open, closest to a decision first: votes still needed, then share."""
    rule = consensus.rule
    queue = []
    for row in tally_table(consensus, pool="unverified", state="open"):
        queue.append({"clip": row["clip"], "counted_votes": row["counted_votes"], "top": row["top"],
                      "top_share": row["top_share"],
                      "votes_needed": max(0, rule.min_votes - row["counted_votes"])})
    return sorted(queue, key=lambda r: (r["votes_needed"], -r["top_share"], r["clip"]))


# -- agreement ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    fleiss_kappa: float | None  # None when there are too few ratings to say
    kappa_clips: int  # clips in the kappa: each with at least kappa_raters counted votes
    kappa_raters: int  # the first kappa_raters counted votes of each such clip
    krippendorff_alpha: float | None
    alpha_clips: int  # clips with two or more counted votes (alpha uses all their votes)
    alpha_votes: int


def _counted_votes(db: Database) -> dict[int, list[str]]:
    """clip id -> its counted votes' emotions in the order they were cast."""
    out: dict[int, list[str]] = {}
    with db.read() as conn:
        for clip_id, emotion_id in conn.execute(
            "SELECT clip_id, emotion FROM votes WHERE counted = 1 ORDER BY clip_id, created_at, id"
        ):
            out.setdefault(clip_id, []).append(emotion_id)
    return out


def _counts(emotions: list[str]) -> list[int]:
    return [emotions.count(e) for e in EMOTION_IDS]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def agreement(db: Database) -> Agreement:
    """Fleiss' kappa (statsmodels) and Krippendorff's alpha (nominal, krippendorff) over counted votes.

    Fleiss' kappa needs the same number of raters per clip: it uses the n that keeps the most ratings
    (n times the clips with at least n votes) and each such clip's first n votes. Krippendorff's
    alpha takes any number of votes per clip, so it uses them all."""
    # Imported here: both are heavy and only the dashboard needs them.
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa

    votes = [v for v in _counted_votes(db).values() if len(v) >= 2]
    kappa, kappa_raters, kappa_clips = None, 0, 0
    if votes:
        sizes = sorted({len(v) for v in votes})
        kappa_raters = max(sizes, key=lambda n: (n * sum(len(v) >= n for v in votes), n))
        table = np.array([_counts(v[:kappa_raters]) for v in votes if len(v) >= kappa_raters])
        kappa_clips = len(table)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = _finite(fleiss_kappa(table, method="fleiss"))
    alpha = None
    if votes:
        value_counts = np.array([_counts(v) for v in votes])
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                alpha = _finite(krippendorff.alpha(value_counts=value_counts,
                                                   level_of_measurement="nominal"))
        except (ValueError, ZeroDivisionError):
            alpha = None  # every vote the same emotion: no disagreement to measure against
    return Agreement(kappa, kappa_clips, kappa_raters, alpha, len(votes), sum(len(v) for v in votes))


# -- confusion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """counts[i][j]: how often a clip intended as EMOTION_IDS[i] got crowd label EMOTION_IDS[j]."""

    by: str  # "votes": every counted vote; "consensus": each clip's consensus label
    counts: tuple[tuple[int, ...], ...]

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))


def confusion_matrix(db: Database, by: str = "votes") -> Confusion:
    """Intended emotion (of generated clips) against the crowd's label."""
    if by == "votes":
        sql = ("SELECT c.intended_emotion, v.emotion, count(*) FROM votes v "
               "JOIN clips c ON c.id = v.clip_id "
               "WHERE v.counted = 1 AND c.intended_emotion IS NOT NULL GROUP BY 1, 2")
    elif by == "consensus":
        sql = ("SELECT intended_emotion, label, count(*) FROM clips "
               "WHERE intended_emotion IS NOT NULL AND label_source = 'consensus' GROUP BY 1, 2")
    else:
        raise ValueError(f"unknown basis {by!r}; expected 'votes' or 'consensus'")
    counts = [[0] * len(EMOTION_IDS) for _ in EMOTION_IDS]
    with db.read() as conn:
        for intended, crowd, n in conn.execute(sql):
            if intended in EMOTION_IDS and crowd in EMOTION_IDS:
                counts[EMOTION_IDS.index(intended)][EMOTION_IDS.index(crowd)] += n
    return Confusion(by, tuple(tuple(row) for row in counts))


# -- pass rates --------------------------------------------------------------------------------


def _rate(passed: int, total: int) -> float | None:
    return passed / total if total else None


@dataclass(frozen=True)
class PassRates:
    challenges_passed: int
    challenges_failed: int
    challenges_open: int  # still open, or abandoned until they expired
    challenge_pass_rate: float | None  # passed / (passed + failed)
    rounds_answered: int
    rounds_passed: int
    round_pass_rate: float | None


@dataclass(frozen=True)
class RateRow:
    key: str  # an emotion id, a round number, or a period start (ISO, UTC)
    rounds: int
    passed: int
    rate: float | None


@dataclass(frozen=True)
class RatePoint:
    period_start: float  # epoch seconds, UTC
    round: int | None  # None: all rounds together
    rounds: int
    passed: int
    rate: float | None


def pass_rates(db: Database) -> PassRates:
    with db.read() as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM challenges GROUP BY state").fetchall())
        answered, passed = conn.execute(
            "SELECT count(*), coalesce(sum(passed), 0) FROM rounds WHERE answered_at IS NOT NULL"
        ).fetchone()
    won, lost = states.get("passed", 0), states.get("failed", 0)
    return PassRates(won, lost, states.get("open", 0), _rate(won, won + lost), answered, passed,
                     _rate(passed, answered))


_CONTROL_ROUNDS = (
    "FROM rounds r JOIN slots s ON s.challenge_id = r.challenge_id AND s.round_no = r.round_no "
    "AND s.is_control = 1 JOIN clips c ON c.id = s.clip_id WHERE r.answered_at IS NOT NULL"
)


def pass_rate_by_emotion(db: Database) -> list[RateRow]:
    """Answered rounds by the label of their control clip, for all eight emotions in order."""
    with db.read() as conn:
        found = {e: (n, p) for e, n, p in conn.execute(
            f"SELECT c.label, count(*), coalesce(sum(r.passed), 0) {_CONTROL_ROUNDS} GROUP BY c.label")}
    rows = []
    for e in EMOTION_IDS:
        n, p = found.get(e, (0, 0))
        rows.append(RateRow(e, n, p, _rate(p, n)))
    return rows


def pass_rate_by_round(db: Database) -> list[RateRow]:
    """Answered rounds by their number in the challenge (1 = first try)."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT round_no, count(*), coalesce(sum(passed), 0) FROM rounds "
            "WHERE answered_at IS NOT NULL GROUP BY round_no ORDER BY round_no").fetchall()
    return [RateRow(str(r), n, p, _rate(p, n)) for r, n, p in rows]


def pass_rate_over_time(db: Database, bucket_s: int | None = None) -> list[RatePoint]:
    """Round pass rates per period, per round number and all together. The period is an hour when
    the answers span under two days, a day otherwise (or bucket_s seconds when given)."""
    with db.read() as conn:
        first, last = conn.execute(
            "SELECT min(answered_at), max(answered_at) FROM rounds WHERE answered_at IS NOT NULL"
        ).fetchone()
        if first is None:
            return []
        if bucket_s is None:
            bucket_s = HOUR if last - first < 2 * DAY else DAY
        rows = conn.execute(
            "SELECT CAST(answered_at / ? AS INTEGER) * ? AS period, round_no, count(*), "
            "coalesce(sum(passed), 0) FROM rounds WHERE answered_at IS NOT NULL "
            "GROUP BY period, round_no ORDER BY period, round_no", [bucket_s, bucket_s]).fetchall()
    points = [RatePoint(float(t), r, n, p, _rate(p, n)) for t, r, n, p in rows]
    totals: dict[float, tuple[int, int]] = {}
    for pt in points:
        n, p = totals.get(pt.period_start, (0, 0))
        totals[pt.period_start] = (n + pt.rounds, p + pt.passed)
    points += [RatePoint(t, None, n, p, _rate(p, n)) for t, (n, p) in totals.items()]
    return sorted(points, key=lambda pt: (pt.period_start, pt.round or 0))


# -- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySummary:
    rounds_to_pass: int
    max_rounds: int
    choices: int
    chance_pass_probability: float


def policy_summary(captcha: Captcha) -> PolicySummary:
    policy = captcha.policy
    return PolicySummary(policy.rounds_to_pass, policy.max_rounds, len(EMOTION_IDS),
                         policy.chance_pass_probability())


# -- CSV export --------------------------------------------------------------------------------


def _iso(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def votes_csv(db: Database) -> str:
    """Every vote, counted or not, with why not, oldest first."""
    with db.read() as conn:
        rows = [dict(r) for r in conn.query(f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes ORDER BY id")]
    for r in rows:
        r["created_at"] = _iso(r["created_at"])
    return _csv(VOTE_COLUMNS, rows)


def tallies_csv(consensus: Consensus) -> str:
    return _csv(TALLY_COLUMNS, tally_table(consensus))
