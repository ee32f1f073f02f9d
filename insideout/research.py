"""The bot lab inside the app: the plain-words statement the admin's Bot lab panel makes from the numbers,
and bot evaluations started from there as background jobs.

The statement is structured facts, not sentences, so the web layer words them in English and Korean and
nothing here knows a language. An evaluation job plays against its own deployment (evaluation.evaluate
starts the real app over a temp data dir), never the live library; only its report lands in this data
dir's metadata store, where `insideout bots evaluate` stores its reports too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .db import Metadata
from .jobs import BOT_EVALUATION, JobContext, JobRefused, JobRunner
from .stats import BotCell, HumanRate, ResearchView

if TYPE_CHECKING:
    from .botlab.evaluation import Cell
    from .captcha import Policy
    from .corpus.starter import StarterConfig

COMMAND = "insideout bots evaluate"  # what the statement names when there is nothing to show yet
QUICK_ATTACKERS = ("random", "memory")  # the panel's default: a minute or two; acoustic renders 512 clips first
QUICK_CHALLENGES = 100
MAX_CHALLENGES = 2000


class EvaluationError(JobRefused):
    """A request the bot lab refuses before anything is queued, said in English; `code` (with `values`) names
    it for a view that words it in its language: "attackers" (choices), "challenges" (most)."""


# -- the statement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """What the latest evaluation says about the policy in force, in facts.

    not_stopped: attackers whose interval's low end is above chance (they beat guessing: the captcha does
    not stop them); stopped: attackers whose interval reaches down to chance or below (no better than
    guessing). covered is False when an evaluation exists but did not play the policy in force."""

    evaluated: bool
    covered: bool
    policy: str
    chance: float
    not_stopped: tuple[str, ...]
    stopped: tuple[str, ...]
    evaluated_policies: tuple[str, ...]
    human: HumanRate | None  # the live pass rate under the policy in force; None before any closed challenge
    command: str = COMMAND


def statement(view: ResearchView) -> Statement:
    """The facts of the view that a reader of the panel needs first, for the policy in force."""
    several = len({c.configuration for c in view.cells}) > 1
    not_stopped, stopped = [], []
    for cell in view.cells:
        if cell.policy != view.policy:
            continue
        name = f"{cell.attacker} ({cell.configuration})" if several else cell.attacker
        (not_stopped if cell.interval[0] > cell.chance else stopped).append(name)
    human = next((h for h in view.humans if h.policy == view.policy and h.passed + h.failed), None)
    return Statement(
        evaluated=view.evaluated, covered=bool(not_stopped or stopped), policy=view.policy, chance=view.chance,
        not_stopped=tuple(not_stopped), stopped=tuple(stopped),
        evaluated_policies=tuple(dict.fromkeys(c.policy for c in view.cells)), human=human,
    )


@dataclass(frozen=True)
class _Plotted:
    """What evaluation.plot reads of a Report (each cell's names, rate, interval and chance; the meta's N), so
    the panel draws the very figure `insideout bots evaluate` writes."""

    cells: tuple[BotCell, ...]
    meta: dict


def plot(view: ResearchView, path: Path) -> Path | None:
    """The latest evaluation's pass rates as a PNG at path; None when there is none."""
    if not view.cells:
        return None
    from .botlab.evaluation import plot as draw

    return draw(_Plotted(view.cells, {"challenges_per_cell": view.challenges_per_cell}), path)


# -- evaluations as jobs -------------------------------------------------------------------------


class Research:
    """Bot evaluations of one data dir as background jobs; their reports go to its metadata store."""

    def __init__(self, db: Metadata, jobs: JobRunner, policy: Policy, cache_dir: Path):
        self.db = db
        self.jobs = jobs
        self.policy = policy
        self.cache_dir = cache_dir  # the starter library, built by the first evaluation and copied after

    def start(self, attackers: Sequence[str] = QUICK_ATTACKERS, challenges: int = QUICK_CHALLENGES,
              policies: Sequence[tuple[int, int]] | None = None, seed: int = 0,
              library: StarterConfig | None = None) -> int:
        """Queue an evaluation (default: the quick one, under the policy in force only); a bad request is
        refused here, before anything is queued. Progress is counted in cells (attacker x policy)."""
        from .botlab.attackers import ATTACKERS
        from .botlab.evaluation import DEFAULT_LIBRARY

        chosen = tuple(dict.fromkeys(attackers))
        unknown = [a for a in chosen if a not in ATTACKERS]
        if not chosen or unknown:
            choices = ", ".join(sorted(ATTACKERS))
            raise EvaluationError(f"choose attackers among {choices}"
                                  + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                                  "attackers", choices=choices)
        if not 1 <= challenges <= MAX_CHALLENGES:
            raise EvaluationError(f"challenges per cell must be from 1 to {MAX_CHALLENGES}", "challenges",
                                  most=MAX_CHALLENGES)
        chosen_policies = tuple(policies or ((self.policy.rounds_to_pass, self.policy.max_rounds),))
        library = library or DEFAULT_LIBRARY
        params = {"attackers": list(chosen), "challenges": challenges, "seed": seed,
                  "policies": [f"{k}/{n}" for k, n in chosen_policies]}

        def work(ctx: JobContext) -> dict:
            return self._run(ctx, chosen, challenges, chosen_policies, seed, library)

        return self.jobs.submit(BOT_EVALUATION, params, work)

    def _run(self, ctx: JobContext, attackers: tuple[str, ...], challenges: int,
             policies: tuple[tuple[int, int], ...], seed: int, library: StarterConfig) -> dict:
        from .botlab.attackers import ATTACKERS
        from .botlab.evaluation import evaluate

        total = len(attackers) * len(policies)
        done = 0
        ctx.progress(0, total, "starting the evaluation's own server", stage="bots_start", force=True)

        def progress(cell: Cell) -> None:
            nonlocal done
            done += 1
            ctx.progress(done, total, f"{cell.attacker} {cell.policy}: {cell.passes}/{cell.n} passed",
                         stage="bots_cell", force=True, attacker=cell.attacker, policy=cell.policy,
                         passes=cell.passes, n=cell.n)
            ctx.check_cancel()  # between cells: a cell's server closes cleanly on the way out

        report = evaluate({a: ATTACKERS[a] for a in attackers}, policies, challenges_per_cell=challenges,
                          seed=seed, library=library, cache_dir=self.cache_dir, progress=progress)
        evaluation_id = self.db.add_bot_evaluation(report.as_dict(), time.time(), ctx.job_id)
        return {"evaluation_id": evaluation_id, "cells": len(report.cells), "wall_s": report.meta["wall_s"]}
