"""Read-only analytics for the admin dashboard: the summary, pools, tallies, agreement (Fleiss, Krippendorff,
Dawid-Skene beside majority vote), confusion, pass rates with their 95 % intervals, the bot lab's latest
evaluation beside the live pass rates, CSV.

Every rate carries its count and its Wilson interval, and a rate with no data is None, never 0: the views
draw it as missing. Every statistic that cannot be computed says why (a reason code the view words).

Nothing here writes, and nothing here knows SQL: tallies and verdicts come from the consensus engine,
the rest from the metadata store's read-only analytics operations (counts and rows); this module does
the arithmetic (kappa, alpha, rates) and the shaping (tables, series, CSV).
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from .captcha import Captcha, Policy
from .consensus import Consensus, votes_to_consensus
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
    queue = []
    for row in tally_table(consensus, pool="unverified", state="open"):
        needed = votes_to_consensus({e: row[e] for e in EMOTION_IDS}, consensus.rule)
        queue.append({"clip": row["clip"], "counted_votes": row["counted_votes"], "top": row["top"],
                      "top_share": row["top_share"], "votes_needed": needed})
    # A clip that can no longer reach consensus (None) goes last.
    return sorted(queue, key=lambda r: (r["votes_needed"] is None, r["votes_needed"] or 0, -r["top_share"],
                                        r["clip"]))


# -- agreement ---------------------------------------------------------------------------------


# Why a statistic is missing (the view words each, with the counts beside).
NO_VOTES = "no_votes"  # no counted vote yet
SINGLE_VOTES = "single_votes"  # counted votes, but no clip has two: nothing to agree or disagree on
NO_VARIATION = "no_variation"  # every vote names one emotion: chance agreement is 1, and the ratio 0/0
ONE_VOTER = "one_voter"  # Dawid-Skene: one voter alone has no one to be compared with


@dataclass(frozen=True)
class Agreement:
    fleiss_kappa: float | None  # None when it cannot be computed: kappa_reason says why
    kappa_clips: int  # clips in the kappa: each with at least kappa_raters counted votes
    kappa_raters: int  # the first kappa_raters counted votes of each such clip
    krippendorff_alpha: float | None
    alpha_clips: int  # clips with two or more counted votes (alpha uses all their votes)
    alpha_votes: int
    counted_votes: int = 0  # every counted vote, on any clip
    voted_clips: int = 0  # clips with at least one counted vote
    kappa_reason: str | None = None  # NO_VOTES, SINGLE_VOTES or NO_VARIATION when fleiss_kappa is None
    alpha_reason: str | None = None


def _counts(emotions: list[str]) -> list[int]:
    return [emotions.count(e) for e in EMOTION_IDS]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def agreement(db: Metadata) -> Agreement:
    """Fleiss' kappa (statsmodels) and Krippendorff's alpha (nominal, krippendorff) over counted votes.

    Fleiss' kappa needs the same number of raters per clip: it uses the n that keeps the most ratings
    (n times the clips with at least n votes) and each such clip's first n votes. Krippendorff's
    alpha takes any number of votes per clip, so it uses them all."""
    return agreement_of(db.counted_vote_sequences())


def agreement_of(sequences: dict[int, list[str]]) -> Agreement:
    """agreement's arithmetic, on each clip's counted votes in order."""
    # Imported here: both are heavy and only the dashboard needs them.
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa

    counted = sum(map(len, sequences.values()))
    voted = sum(1 for v in sequences.values() if v)
    votes = [v for v in sequences.values() if len(v) >= 2]
    if not votes:
        reason = NO_VOTES if not counted else SINGLE_VOTES
        return Agreement(None, 0, 0, None, 0, 0, counted, voted, reason, reason)
    sizes = sorted({len(v) for v in votes})
    kappa_raters = max(sizes, key=lambda n: (n * sum(len(v) >= n for v in votes), n))
    table = np.array([_counts(v[:kappa_raters]) for v in votes if len(v) >= kappa_raters])
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = _finite(fleiss_kappa(table, method="fleiss"))
    value_counts = np.array([_counts(v) for v in votes])
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = _finite(krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):
        alpha = None  # every vote the same emotion: no disagreement to measure against
    return Agreement(kappa, len(table), kappa_raters, alpha, len(votes), sum(len(v) for v in votes), counted,
                     voted, None if kappa is not None else NO_VARIATION, None if alpha is not None else NO_VARIATION)


# -- Dawid-Skene beside majority vote ----------------------------------------------------------


@dataclass(frozen=True)
class VoterQuality:
    voter: str  # a research pseudonym (identity.pseudonym), never the address
    votes: int  # counted votes on clips that have two or more
    quality: float  # Dawid-Skene: the chance the voter names a clip's emotion right, over the estimated priors
    majority_agreement: float  # the share of the voter's votes that name their clip's majority emotion


@dataclass(frozen=True)
class ClipPosterior:
    clip: int
    votes: int
    majority: str | None  # None when the top emotions tie
    majority_share: float
    label: str  # Dawid-Skene's most probable emotion
    probability: float  # its posterior probability


@dataclass(frozen=True)
class DawidSkeneView:
    """Dawid-Skene (crowd-kit) over the counted votes of clips with two or more, beside majority vote."""

    clips: int
    votes: int
    voters: int
    reason: str | None = None  # why it was not computed (NO_VOTES, SINGLE_VOTES, ONE_VOTER)
    agree: int = 0  # clips where both name the same emotion
    ties_resolved: int = 0  # clips whose majority ties, that Dawid-Skene decides
    voter_quality: tuple[VoterQuality, ...] = ()  # the most votes first
    disagreements: tuple[ClipPosterior, ...] = ()  # clips whose clear majority Dawid-Skene overrules
    pending: int = 0  # counted votes cast since this estimate (a new one is being made in the background)

    @property
    def computed(self) -> bool:
        return self.reason is None


DS_ITERATIONS = 100  # crowd-kit's default cap
# EM stops when the evidence lower bound per vote moves less than this: at 10,000 votes crowd-kit's 1e-5 takes
# 37 iterations (1.3 s on 2 cores), 1e-4 takes 17 (0.5 s) and names the same label for 99.6 % of the clips.
DS_TOLERANCE = 1e-4


def _majority(emotions: list[str]) -> tuple[str | None, float]:
    counts = _counts(emotions)
    top = max(counts)
    winners = [e for e, n in zip(EMOTION_IDS, counts, strict=True) if n == top]
    return (winners[0] if len(winners) == 1 else None), top / len(emotions)


def dawid_skene(votes: list[tuple[int, str, str]], pseudonym_key: bytes) -> DawidSkeneView:
    """Dawid and Skene's (1979) EM estimate of each voter's confusion and each clip's label posterior, from
    counted votes (clip id, voter, emotion), on the clips with two or more of them."""
    per_clip: dict[int, list[str]] = {}
    for clip, _, emotion in votes:
        per_clip.setdefault(clip, []).append(emotion)
    kept = [v for v in votes if len(per_clip[v[0]]) >= 2]
    voters = {voter for _, voter, _ in kept}
    clips = {clip for clip, _, _ in kept}
    if not kept:
        return DawidSkeneView(0, 0, 0, NO_VOTES if not votes else SINGLE_VOTES)
    if len(voters) < 2:
        return DawidSkeneView(len(clips), len(kept), 1, ONE_VOTER)
    import pandas as pd  # here: the engine's other paths do not need it
    from crowdkit.aggregation import DawidSkene  # here: a heavy import (warm_up loads it in the background)

    frame = pd.DataFrame(kept, columns=["task", "worker", "label"])
    with warnings.catch_warnings():  # crowd-kit's pandas deprecations: its own, nothing a researcher can act on
        warnings.simplefilter("ignore")
        model = DawidSkene(n_iter=DS_ITERATIONS, tol=DS_TOLERANCE).fit(frame)
    posterior = model.probas_
    errors, priors = model.errors_, model.priors_
    # errors_[(worker, observed)][true] = P(observed | true): a voter's quality is its diagonal weighted by
    # the priors (read off as arrays: per-row .loc is seconds at 10,000 votes).
    workers, observed = (np.asarray(errors.index.get_level_values(i)) for i in (0, 1))
    column = {label: i for i, label in enumerate(errors.columns)}
    rows = np.array([column.get(label, -1) for label in observed])
    right = np.where(rows >= 0, errors.to_numpy()[np.arange(len(rows)), np.maximum(rows, 0)], 0.0)
    weights = np.array([priors.get(label, 0.0) for label in observed])
    quality = pd.Series(right * weights).groupby(workers).sum().to_dict()
    majorities = {clip: _majority(emotions) for clip, emotions in per_clip.items() if clip in clips}
    agree = ties = 0
    overruled = []
    for clip in sorted(clips):
        row = posterior.loc[clip]
        label = str(row.idxmax())
        majority, share = majorities[clip]
        if majority is None:
            ties += 1
        elif majority == label:
            agree += 1
        else:
            overruled.append(ClipPosterior(clip, len(per_clip[clip]), majority, share, label, float(row.max())))
    matched: dict[str, list[int]] = {}
    for clip, voter, emotion in kept:
        entry = matched.setdefault(voter, [0, 0])
        entry[0] += 1
        entry[1] += emotion == majorities[clip][0]
    table = sorted((VoterQuality(pseudonym(pseudonym_key, voter), n, quality[voter], hits / n)
                    for voter, (n, hits) in matched.items()), key=lambda q: (-q.votes, q.voter))
    return DawidSkeneView(len(clips), len(kept), len(voters), None, agree, ties, tuple(table), tuple(overruled))


def warm_up() -> None:
    """Import the dashboard's heavy libraries, so that an admin's first look does not wait for them (the web
    layer calls this on a background thread at start)."""
    import crowdkit.aggregation  # noqa: F401
    import krippendorff  # noqa: F401
    from statsmodels.stats import inter_rater  # noqa: F401


# -- confusion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """counts[i][j]: how often a clip intended as EMOTION_IDS[i] got crowd label EMOTION_IDS[j]."""

    by: str  # "votes": every counted vote; "consensus": each clip's consensus label
    counts: tuple[tuple[int, ...], ...]

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))

    @property
    def shares(self) -> tuple[tuple[float | None, ...], ...]:
        """Each row over its own total (where the intended emotion's clips went); None for a row with no data."""
        return tuple(tuple(n / sum(row) if sum(row) else None for n in row) for row in self.counts)


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


def _interval(passed: int, total: int) -> tuple[float, float] | None:
    """Wilson 95 %, the bot lab's own interval, so humans and machines are measured alike; None for no data."""
    from .botlab.evaluation import wilson

    return wilson(passed, total) if total else None


@dataclass(frozen=True)
class RateRow:
    key: str  # an emotion id, a round number, or a period start (ISO, UTC)
    rounds: int
    passed: int
    rate: float | None  # None: no data (drawn as missing, never as 0)
    interval: tuple[float, float] | None = None  # Wilson 95 %; None with the rate


@dataclass(frozen=True)
class RatePoint:
    period_start: float  # epoch seconds, UTC
    round: int | None  # None: all rounds together
    rounds: int
    passed: int
    rate: float | None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class OverTime:
    """Round pass rates per period: bucket_s wide periods, a series per round number and one for all."""

    bucket_s: int
    points: tuple[RatePoint, ...]


def _row(key: str, n: int, p: int) -> RateRow:
    return RateRow(key, n, p, _rate(p, n), _interval(p, n))


def pass_rates(db: Metadata) -> PassRates:
    states = db.challenge_counts()
    answered, passed = db.round_totals()
    won, lost = states.get(CHALLENGE_PASSED, 0), states.get(CHALLENGE_FAILED, 0)
    return PassRates(won, lost, states.get(CHALLENGE_OPEN, 0), _rate(won, won + lost), answered, passed,
                     _rate(passed, answered))


def pass_rate_by_emotion(db: Metadata) -> list[RateRow]:
    """Answered rounds by the label of their control clip, for all eight emotions in order (no data: None)."""
    found = db.rounds_by_control_label()
    return [_row(e, *found.get(e, (0, 0))) for e in EMOTION_IDS]


def pass_rate_by_round(db: Metadata) -> list[RateRow]:
    """Answered rounds by their number in the challenge (1 = first try), every number up to the highest
    answered (one between that nobody reached has no data)."""
    found = {r: (n, p) for r, n, p in db.rounds_by_number()}
    numbers = sorted(set(found) | set(range(1, max(found, default=0) + 1)))
    return [_row(str(r), *found.get(r, (0, 0))) for r in numbers]


# The period of the time chart: the first of these that cuts the span into at most MAX_BINS.
BINS = (60, 300, 900, HOUR, 6 * HOUR, DAY, 7 * DAY)
MAX_BINS = 48


def time_bin(span_s: float) -> int:
    """Seconds per period for answers spanning span_s: a minute for a short test, an hour for a day, a week
    for a year; never more than MAX_BINS periods (but a week at most)."""
    for bucket in BINS:
        if span_s // bucket + 1 <= MAX_BINS:
            return bucket
    return BINS[-1]


def pass_rate_over_time(db: Metadata, bucket_s: int | None = None) -> list[RatePoint]:
    """Round pass rates per period, per round number and all together (time_bin's period unless given)."""
    return list(over_time(db, bucket_s).points)


def over_time(db: Metadata, bucket_s: int | None = None) -> OverTime:
    span = db.answered_span()
    if span is None:
        return OverTime(bucket_s or BINS[0], ())
    if bucket_s is None:
        bucket_s = time_bin(span[1] - span[0])
    points = [RatePoint(float(t), r, n, p, _rate(p, n), _interval(p, n))
              for t, r, n, p in db.rounds_per_period(bucket_s)]
    totals: dict[float, tuple[int, int]] = {}
    for pt in points:
        n, p = totals.get(pt.period_start, (0, 0))
        totals[pt.period_start] = (n + pt.rounds, p + pt.passed)
    points += [RatePoint(t, None, n, p, _rate(p, n), _interval(p, n)) for t, (n, p) in totals.items()]
    return OverTime(bucket_s, tuple(sorted(points, key=lambda pt: (pt.period_start, pt.round or 0))))


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


# -- the summary at the top ---------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What an admin reads first: the library, the votes, what is close, the rules and models in force, work."""

    pools: dict[str, int]
    votes: int  # every vote, counted or not
    counted_votes: int
    votes_today: int  # since midnight UTC
    near_consensus: int  # open unverified clips one more agreeing vote would settle
    policy: PolicySummary
    model_id: int | None  # the trained version that generates; None: the shipped default
    model_version: str | None
    running_jobs: tuple[tuple[str, int], ...]  # (kind, job id) of every queued or running job


def summary(db: Metadata, consensus: Consensus, captcha: Captcha, now: float | None = None,
            queue: list[dict] | None = None) -> Summary:
    """queue: consensus_queue's rows when the caller has them already (they cost a pass over every tally)."""
    from .jobs import BOT_EVALUATION, GENERATE, TRAIN  # the job kinds' home

    now = time.time() if now is None else now
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    votes, counted, today = db.vote_totals(midnight)
    near = sum(1 for row in (consensus_queue(consensus) if queue is None else queue) if row["votes_needed"] == 1)
    active = db.active_model()
    jobs = tuple((kind, job_id) for kind in (GENERATE, TRAIN, BOT_EVALUATION) for job_id in db.active_jobs(kind))
    return Summary(pool_sizes(db), votes, counted, today, near, policy_summary(captcha),
                   active["id"] if active else None, active.get("version") if active else None, jobs)


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
        self._ds: tuple[int, DawidSkeneView, int] | None = None  # the last estimate: its votes' hash, it, their count
        self._ds_lock = threading.Lock()
        self._ds_thread: threading.Thread | None = None
        # The background estimate waits this long first: the page that asked is still drawing, and on two cores
        # EM beside it made the dashboard's first look slower than the estimate is worth.
        self.ds_delay_s = 2.0

    def summary(self, queue: list[dict] | None = None) -> Summary:
        return summary(self.db, self.consensus, self.captcha, queue=queue)

    def warm_up(self) -> None:
        """What an admin's first look would wait for, done ahead (the web layer runs it on a background thread at
        start): the statistics libraries' imports, and Dawid-Skene's estimate over the votes there are."""
        warm_up()
        self.dawid_skene()

    def pool_sizes(self) -> dict[str, int]:
        return pool_sizes(self.db)

    def dawid_skene(self, wait: bool = False) -> DawidSkeneView:
        """dawid_skene over the counted votes. EM takes about half a second at 10,000 votes, so a refresh does not
        wait for it: when votes came since the last estimate, that one is returned with `pending` (how many votes
        it does not cover yet) while a new one is made in the background (after ds_delay_s). The first estimate,
        or any with wait=True, is made at once."""
        votes = self.db.counted_votes()
        key = hash(tuple(votes))
        cached = self._ds
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is None or wait:
            return self._estimate(votes, key)
        with self._ds_lock:
            if self._ds_thread is None or not self._ds_thread.is_alive():
                self._ds_thread = threading.Thread(target=self._estimate, args=(votes, key, self.ds_delay_s),
                                                   daemon=True, name="insideout-dawid-skene")
                self._ds_thread.start()
        return replace(cached[1], pending=max(0, len(votes) - cached[2]))

    def _estimate(self, votes: list[tuple[int, str, str]], key: int, delay_s: float = 0.0) -> DawidSkeneView:
        time.sleep(delay_s)
        view = dawid_skene(votes, self.pseudonym_key)
        with self._ds_lock:
            # Votes only ever come: an estimate over fewer than the one kept (a slower thread's) is not kept.
            if self._ds is None or len(votes) >= self._ds[2]:
                self._ds = (key, view, len(votes))
        return view

    def over_time(self, bucket_s: int | None = None) -> OverTime:
        return over_time(self.db, bucket_s)

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
