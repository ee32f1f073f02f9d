"""Database: Metadata kept in one SQLite file.

It owns the connections (schema.Connections) and has one short method per operation: open a read or
a write transaction, hand the connection to the section module that knows the query. Every multi-row
change runs in one BEGIN IMMEDIATE transaction, so a crash leaves either all of it or none; writes
that race (two answers to one round, two uses of one token) are settled by conditional updates, the
same shape a DynamoDB backend would use with condition expressions.

connect, read, transaction and migrate are SQLite internals, not part of Metadata: tests use them to
check storage-level facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlite_utils

from ..identity import network_of
from . import analytics, botlab, challenges, clips, jobs, models, schema
from . import sites as _sites
from . import votes as _votes  # votes is also the operations' parameter name
from .records import Challenge, RoundSlot, Slot, Vote


class Database:
    """The metadata store of one data dir. Thread-safe: nothing is shared between calls."""

    def __init__(self, path: str | Path, votes_per_network: int = 0):
        self.path = Path(path)
        # counted votes one client network may give one clip (INSIDEOUT_VOTES_PER_NETWORK; 0: no cap): enforced
        # where votes are written, inside their transaction, so concurrent answers cannot exceed it
        self.votes_per_network = votes_per_network
        self._conns = schema.Connections(self.path)
        self.migrate()

    # -- connections and transactions (SQLite only) --------------------------------------------

    def connect(self) -> sqlite_utils.Database:
        return self._conns.connect()

    def read(self) -> AbstractContextManager[sqlite_utils.Database]:
        return self._conns.read()

    def transaction(self) -> AbstractContextManager[sqlite_utils.Database]:
        return self._conns.transaction()

    def migrate(self) -> None:
        self._conns.migrate()

    def close(self) -> None:
        self._conns.close()

    def schema_version(self) -> int:
        with self.read() as db:
            return schema.user_version(db)

    # -- clips ---------------------------------------------------------------------------------

    def insert_clip(self, row: dict[str, Any]) -> int:
        with self.transaction() as db:
            return clips.insert(db, row)

    def get_clip(self, clip_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            return clips.get(db, clip_id)

    def clips(
        self, pool: str | None = None, include_retired: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        with self.read() as db:
            return clips.select(db, pool, include_retired, limit)

    def pool_counts(self) -> dict[str, int]:
        with self.read() as db:
            return clips.pool_counts(db)

    def count_pickable(self, pool: str, at_most: int | None = None) -> int:
        with self.read() as db:
            return clips.count_pickable(db, pool, at_most)

    def take_plays(self, excludes: Sequence[Iterable[int]], budget: int, now: float) -> list[int] | None:
        with self.transaction() as db:
            return clips.take_plays(db, excludes, budget, now)

    def return_plays(self, clip_ids: Iterable[int], budget: int, now: float) -> None:
        with self.transaction() as db:
            clips.return_plays(db, clip_ids, budget, now)

    def play_counts(self) -> dict[str, int]:
        with self.read() as db:
            return clips.play_counts(db)

    def pick_unverified(self, exclude: Iterable[int], voter: str) -> int | None:
        with self.read() as db:
            return clips.pick_unverified(db, exclude, voter, network_of(voter), self.votes_per_network)

    def set_pool(
        self,
        clip_id: int,
        from_pool: str,
        to_pool: str,
        now: float,
        label: str | None = None,
        label_source: str | None = None,
    ) -> bool:
        with self.transaction() as db:
            return clips.set_pool(db, clip_id, from_pool, to_pool, now, label, label_source)

    def retire(self, clip_id: int, from_pool: str, reason: str, now: float) -> bool:
        with self.transaction() as db:
            return clips.retire(db, clip_id, from_pool, reason, now)

    def set_store_pool(self, clip_id: int, from_pool: str, to_pool: str) -> bool:
        with self.transaction() as db:
            return clips.set_store_pool(db, clip_id, from_pool, to_pool)

    def clips_in_transit(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return clips.in_transit(db)

    def delete_clip(self, clip_id: int) -> None:
        with self.transaction() as db:
            clips.delete(db, clip_id)

    def delete_clip_in_pool(self, clip_id: int, pool: str) -> bool:
        with self.transaction() as db:
            return clips.delete_in_pool(db, clip_id, pool)

    # -- challenges, rounds, slots and pass tokens ---------------------------------------------

    def create_challenge(self, challenge: dict[str, Any], slots: list[Slot]) -> None:
        with self.transaction() as db:
            challenges.insert(db, challenge, slots)

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        with self.read() as db:  # one connection: the challenge and its slots as of one moment
            return challenges.get(db, challenge_id)

    def challenge_slots(self, challenge_id: str) -> list[RoundSlot]:
        with self.read() as db:
            return challenges.slots_of(db, challenge_id)

    def apply_answer(
        self,
        challenge: Challenge,
        answers: dict[str, str],
        round_passed: bool,
        new_state: str,
        now: float,
        votes: list[Vote],
        next_slots: list[Slot] | None = None,
        token: dict[str, Any] | None = None,
    ) -> None:
        # One transaction: the round's outcome, its votes, the next round and the token, or none.
        with self.transaction() as db:
            challenges.answer_round(db, challenge, answers, round_passed, new_state, now, bool(next_slots))
            _votes.insert(db, votes, now, self.votes_per_network)
            if next_slots:
                challenges.insert_round(db, challenge.id, challenge.round + 1, now, next_slots)
            if token:
                challenges.insert_token(db, token)

    def consume_token(self, jti: str, challenge_id: str, now: float) -> str:
        with self.transaction() as db:
            return challenges.consume_token(db, jti, challenge_id, now)

    def create_passed_challenge(self, challenge: dict[str, Any], token: dict[str, Any]) -> None:
        with self.transaction() as db:
            challenges.insert(db, challenge, [])
            challenges.insert_token(db, token)

    def strikes(self, client: str, since: float) -> tuple[int, float | None]:
        with self.read() as db:
            return challenges.strikes(db, client, since)

    # -- sites ---------------------------------------------------------------------------------

    def insert_site(self, row: dict[str, Any]) -> bool:
        with self.transaction() as db:
            return _sites.insert(db, row)

    def sites(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return _sites.all_sites(db)

    def find_site(self, column: str, value: str) -> dict[str, Any] | None:
        with self.read() as db:
            return _sites.get(db, column, value)

    def set_site_secret(self, sitekey: str, secret_hash: str, now: float) -> bool:
        with self.transaction() as db:
            return _sites.set_secret(db, sitekey, secret_hash, now)

    def delete_site(self, sitekey: str) -> bool:
        with self.transaction() as db:
            return _sites.delete(db, sitekey)

    def remembered_verification(self, site: str, key: str, now: float) -> dict[str, Any] | None:
        with self.read() as db:
            return _sites.remembered(db, site, key, now)

    def remember_verification(self, site: str, key: str, response_hash: str, answer: dict[str, Any],
                              now: float) -> bool:
        with self.transaction() as db:
            return _sites.remember(db, site, key, response_hash, answer, now)

    # -- votes and tallies ---------------------------------------------------------------------

    def insert_votes(self, votes: list[Vote], now: float) -> list[bool]:
        with self.transaction() as db:
            return _votes.insert(db, votes, now, self.votes_per_network)

    def tally(self, clip_id: int) -> dict[str, int]:
        with self.read() as db:
            return _votes.tally(db, clip_id)

    def tallies(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return _votes.tallies(db)

    def voter_has_voted(self, clip_id: int, voter: str) -> bool:
        with self.read() as db:
            return _votes.voter_has_voted(db, clip_id, voter)

    def clips_with_counted_votes(self, pool: str) -> list[int]:
        with self.read() as db:
            return _votes.clips_with_counted_votes(db, pool)

    def counted_votes_on(self, clip_ids: Iterable[int]) -> list[dict[str, Any]]:
        with self.read() as db:
            return _votes.counted_on(db, clip_ids)

    def challenges_voted_in(self, voters: Iterable[str]) -> dict[str, int]:
        with self.read() as db:
            return _votes.challenges_voted_in(db, voters)

    # -- background jobs -----------------------------------------------------------------------

    def create_job(self, kind: str, params: dict, now: float) -> int:
        with self.transaction() as db:
            return jobs.create(db, kind, params, now)

    def update_job(self, job_id: int, **fields: Any) -> None:
        with self.transaction() as db:
            jobs.update(db, job_id, fields)

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            return jobs.get(db, job_id)

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.read() as db:
            return jobs.recent(db, limit)

    def latest_job(self, kind: str) -> dict[str, Any] | None:
        with self.read() as db:
            return jobs.latest(db, kind)

    def active_jobs(self, kind: str) -> list[int]:
        with self.read() as db:
            return jobs.active_ids(db, kind)

    def request_cancel(self, job_id: int) -> bool:
        with self.transaction() as db:
            return jobs.request_cancel(db, job_id)

    def cancel_requested(self, job_id: int) -> bool:
        with self.read() as db:
            return jobs.cancel_requested(db, job_id)

    def fail_interrupted_jobs(self, now: float) -> int:
        with self.transaction() as db:
            return jobs.fail_active(db, "interrupted by a restart", now)

    # -- model versions ------------------------------------------------------------------------

    def create_model(self, parent_version: str | None, trained_on: list[int], job_id: int | None,
                     now: float) -> int:
        with self.transaction() as db:
            return models.create(db, parent_version, trained_on, job_id, now)

    def update_model(self, model_id: int, **fields: Any) -> None:
        with self.transaction() as db:
            models.update(db, model_id, fields)

    def get_model(self, model_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            return models.get(db, model_id)

    def models(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return models.newest_first(db)

    def active_model(self) -> dict[str, Any] | None:
        with self.read() as db:
            return models.active(db)

    def set_active_model(self, model_id: int | None) -> bool:
        with self.transaction() as db:
            return models.set_active(db, model_id)

    def mark_consumed(self, model_id: int, now: float) -> None:
        with self.transaction() as db:
            models.mark_consumed(db, model_id, now)

    # -- analytics (read-only, for the dashboard) ----------------------------------------------

    def counted_vote_sequences(self) -> dict[int, list[str]]:
        with self.read() as db:
            return analytics.counted_vote_sequences(db)

    def counted_votes(self) -> list[tuple[int, str, str]]:
        with self.read() as db:
            return analytics.counted_votes(db)

    def vote_totals(self, since: float) -> tuple[int, int, int]:
        with self.read() as db:
            return analytics.vote_totals(db, since)

    def confusion_counts(self, by: str) -> list[tuple[str, str, int]]:
        with self.read() as db:
            return analytics.confusion_counts(db, by)

    def challenge_counts(self) -> dict[str, int]:
        with self.read() as db:
            return analytics.challenge_counts(db)

    def round_totals(self) -> tuple[int, int]:
        with self.read() as db:
            return analytics.round_totals(db)

    def rounds_by_control_label(self) -> dict[str, tuple[int, int]]:
        with self.read() as db:
            return analytics.rounds_by_control_label(db)

    def rounds_by_number(self) -> list[tuple[int, int, int]]:
        with self.read() as db:
            return analytics.rounds_by_number(db)

    def answered_span(self) -> tuple[float, float] | None:
        with self.read() as db:
            return analytics.answered_span(db)

    def rounds_per_period(self, bucket_s: int) -> list[tuple[float, int, int, int]]:
        with self.read() as db:
            return analytics.rounds_per_period(db, bucket_s)

    def pass_counts_by_policy(self) -> list[tuple[int, int, int, int]]:
        with self.read() as db:
            return analytics.pass_counts_by_policy(db)

    def all_votes(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return analytics.all_votes(db)

    # -- bot lab evaluations -------------------------------------------------------------------

    def add_bot_evaluation(self, report: dict[str, Any], now: float, job_id: int | None = None) -> int:
        with self.transaction() as db:
            return botlab.add(db, report, now, job_id)

    def latest_bot_evaluation(self) -> dict[str, Any] | None:
        with self.read() as db:
            return botlab.latest(db)
