"""Read-only analytics for the admin dashboard: pools, tallies, agreement, confusion, pass rates, the bot
lab's latest evaluation beside the live pass rates, CSV.

Nothing here writes, and nothing here knows SQL: tallies and verdicts come from the consensus engine,
the rest from the metadata store's read-only analytics operations (counts and rows); this module does
the arithmetic (kappa, alpha, rates) and the shaping (tables, series, CSV).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from .captcha import Captcha, Policy
from .consensus import Consensus
from .db import CHALLENGE_FAILED, CHALLENGE_OPEN, CHALLENGE_PASSED, POOLS, Metadata
from .emotions import EMOTION_IDS
from .identity import pseudonym

STATES = ("open", "consensus", "ambiguous")
SORTS = ("clip", "votes", "share")
HOUR, DAY = 3600, 86400

TALLY_COLUMNS = ("clip", "pool", "state", "label", "intended_emotion", "counted_votes", "top",
                 "top_share", *EMOTION_IDS)
VOTE_COLUMNS = ("id", "clip_id", "voter", "network", "emotion", "counted", "why_not_counted", "source",
                "challenge_id", "round_no", "created_at")


# -- pools and tallies -------------------------------------------------------------------------


def pool_sizes(db: Metadata) -> dict[str, int]:
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


def _counts(emotions: list[str]) -> list[int]:
    return [emotions.count(e) for e in EMOTION_IDS]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def agreement(db: Metadata) -> Agreement:
    """Fleiss' kappa (statsmodels) and Krippendorff's alpha (nominal, krippendorff) over counted votes.

    Fleiss' kappa needs the same number of raters per clip: it uses the n that keeps the most ratings
    (n times the clips with at least n votes) and each such clip's first n votes. Krippendorff's
    alpha takes any number of votes per clip, so it uses them all."""
    # Imported here: both are heavy and only the dashboard needs them.
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa

    votes = [v for v in db.counted_vote_sequences().values() if len(v) >= 2]
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


def confusion_matrix(db: Metadata, by: str = "votes") -> Confusion:
    """Intended emotion (of generated clips) against the crowd's label."""
    if by not in ("votes", "consensus"):
        raise ValueError(f"unknown basis {by!r}; expected 'votes' or 'consensus'")
    counts = [[0] * len(EMOTION_IDS) for _ in EMOTION_IDS]
    for intended, crowd, n in db.confusion_counts(by):
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


def pass_rates(db: Metadata) -> PassRates:
    states = db.challenge_counts()
    answered, passed = db.round_totals()
    won, lost = states.get(CHALLENGE_PASSED, 0), states.get(CHALLENGE_FAILED, 0)
    return PassRates(won, lost, states.get(CHALLENGE_OPEN, 0), _rate(won, won + lost), answered, passed,
                     _rate(passed, answered))


def pass_rate_by_emotion(db: Metadata) -> list[RateRow]:
    """Answered rounds by the label of their control clip, for all eight emotions in order."""
    found = db.rounds_by_control_label()
    rows = []
    for e in EMOTION_IDS:
        n, p = found.get(e, (0, 0))
        rows.append(RateRow(e, n, p, _rate(p, n)))
    return rows


def pass_rate_by_round(db: Metadata) -> list[RateRow]:
    """Answered rounds by their number in the challenge (1 = first try)."""
    return [RateRow(str(r), n, p, _rate(p, n)) for r, n, p in db.rounds_by_number()]


def pass_rate_over_time(db: Metadata, bucket_s: int | None = None) -> list[RatePoint]:
    """Round pass rates per period, per round number and all together. The period is an hour when
    the answers span under two days, a day otherwise (or bucket_s seconds when given)."""
    span = db.answered_span()
    if span is None:
        return []
    if bucket_s is None:
        first, last = span
        bucket_s = HOUR if last - first < 2 * DAY else DAY
    points = [RatePoint(float(t), r, n, p, _rate(p, n)) for t, r, n, p in db.rounds_per_period(bucket_s)]
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


# -- the bot lab beside the humans -------------------------------------------------------------


@dataclass(frozen=True)
class BotCell:
    """One attacker under one configuration and policy of the latest evaluation (its headline numbers)."""

    attacker: str
    configuration: str
    policy: str  # "k/n": pass k of at most n rounds
    passes: int
    n: int
    rate: float
    interval: tuple[float, float]  # Wilson 95 %
    chance: float


@dataclass(frozen=True)
class HumanRate:
    """Challenges people passed and failed under one policy, from the live traffic."""

    policy: str  # "k/n"
    passed: int
    failed: int
    rate: float | None  # None before any challenge under the policy closed
    interval: tuple[float, float]  # Wilson 95 %; (0, 1) before any
    chance: float


@dataclass(frozen=True)
class ResearchView:
    """What the Bot lab panel shows: the latest evaluation's cells, the humans' pass rate per policy, and the
    policy in force. The live pass rates count every closed challenge, so a bot in the traffic counts too."""

    policy: str  # the policy in force, "k/n"
    chance: float  # a random guesser's pass probability under it
    cells: tuple[BotCell, ...]  # empty when no evaluation is stored
    humans: tuple[HumanRate, ...]  # by policy
    evaluation_id: int | None = None
    evaluated_at: float | None = None
    challenges_per_cell: int | None = None

    @property
    def evaluated(self) -> bool:
        return self.evaluation_id is not None


def _policy_name(rounds_to_pass: int, max_rounds: int) -> str:
    return f"{rounds_to_pass}/{max_rounds}"


def research(db: Metadata, captcha: Captcha) -> ResearchView:
    """The latest stored evaluation beside the live pass rates per policy."""
    from .botlab.evaluation import wilson  # the bot lab's own interval, so both sides are measured alike

    in_force = captcha.policy
    humans = tuple(
        HumanRate(_policy_name(k, n), passed, failed, _rate(passed, passed + failed),
                  wilson(passed, passed + failed), Policy(k, n).chance_pass_probability())
        for k, n, passed, failed in db.pass_counts_by_policy()
    )
    stored = db.latest_bot_evaluation()
    cells: tuple[BotCell, ...] = ()
    if stored is not None:
        cells = tuple(BotCell(c["attacker"], c["configuration"], c["policy"], c["passes"], c["n"], c["rate"],
                              tuple(c["interval"]), c["chance"]) for c in stored["report"]["cells"])
    view = ResearchView(_policy_name(in_force.rounds_to_pass, in_force.max_rounds),
                        in_force.chance_pass_probability(), cells, humans)
    if stored is None:
        return view
    return replace(view, evaluation_id=stored["id"], evaluated_at=stored["created_at"],
                   challenges_per_cell=stored["report"].get("meta", {}).get("challenges_per_cell"))


# -- CSV export --------------------------------------------------------------------------------


def _iso(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def votes_csv(db: Metadata, pseudonym_key: bytes) -> str:
    """Every vote, counted or not, with why not, oldest first. The voter and its network are pseudonyms
    (identity.pseudonym under the export key): a research file holds no address, yet one voter's votes
    still share one name, in every export made with the same key."""
    rows = [{c: v[c] for c in VOTE_COLUMNS} for v in db.all_votes()]
    for r in rows:
        r["created_at"] = _iso(r["created_at"])
        r["voter"] = pseudonym(pseudonym_key, r["voter"])
        r["network"] = pseudonym(pseudonym_key, r["network"])
    return _csv(VOTE_COLUMNS, rows)


def tallies_csv(consensus: Consensus) -> str:
    return _csv(TALLY_COLUMNS, tally_table(consensus))


# -- the dashboard -----------------------------------------------------------------------------


class Dashboard:
    """Every number of the admin dashboard, from one data dir: what the web layer calls, so that it
    never holds the metadata store itself."""

    def __init__(self, db: Metadata, consensus: Consensus, captcha: Captcha, pseudonym_key: bytes):
        self.db = db
        self.pseudonym_key = pseudonym_key
        self.consensus = consensus
        self.captcha = captcha

    def pool_sizes(self) -> dict[str, int]:
        return pool_sizes(self.db)

    def tally_table(self, pool: str | None = None, state: str | None = None, sort: str = "clip") -> list[dict]:
        return tally_table(self.consensus, pool, state, sort)

    def consensus_queue(self) -> list[dict]:
        return consensus_queue(self.consensus)

    def agreement(self) -> Agreement:
        return agreement(self.db)

    def confusion_matrix(self, by: str = "votes") -> Confusion:
        return confusion_matrix(self.db, by)

    def pass_rates(self) -> PassRates:
        return pass_rates(self.db)

    def pass_rate_by_emotion(self) -> list[RateRow]:
        return pass_rate_by_emotion(self.db)

    def pass_rate_by_round(self) -> list[RateRow]:
        return pass_rate_by_round(self.db)

    def pass_rate_over_time(self, bucket_s: int | None = None) -> list[RatePoint]:
        return pass_rate_over_time(self.db, bucket_s)

    def policy(self) -> PolicySummary:
        return policy_summary(self.captcha)

    def research(self) -> ResearchView:
        return research(self.db, self.captcha)

    def votes_csv(self) -> str:
        return votes_csv(self.db, self.pseudonym_key)

    def tallies_csv(self) -> str:
        return tallies_csv(self.consensus)
