"""Metadata: the one narrow interface the engine uses to keep its metadata, whatever stores it.

SQLite implements it (insideout.db.sqlite.Database: one process), and so does DynamoDB
(insideout.db.dynamodb.DynamoDBMetadata: several replicas); services.build_metadata picks by
INSIDEOUT_METADATA. So nothing here names SQL or a connection: arguments and results are plain values, dicts
and the records of insideout.db.records. Races are settled by the store (conditional writes): a lost one
answers False, or raises Conflict where the docstring says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from .records import Challenge, RoundSlot, Slot, Vote


class Metadata(Protocol):
    # -- the store ------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version the store is at."""
        ...

    def close(self) -> None:
        """Let go of whatever the store holds open."""
        ...

    # -- clips ----------------------------------------------------------------------------------

    def insert_clip(self, row: dict[str, Any]) -> int:
        """Add a clip's row (provenance a dict); returns its new id."""
        ...

    def get_clip(self, clip_id: int) -> dict[str, Any] | None: ...

    def clips(
        self, pool: str | None = None, include_retired: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Clips by id, optionally of one pool, without retired ones, the first limit."""
        ...

    def pool_counts(self) -> dict[str, int]:
        """Active clips per pool, and retired ones under "retired"."""
        ...

    def count_pickable(self, pool: str, at_most: int | None = None) -> int:
        """Active (unretired) clips in pool; with at_most, counting stops there (a challenge only asks whether
        there are enough, which DynamoDB answers without reading the whole pool)."""
        ...

    def take_plays(self, excludes: Sequence[Iterable[int]], budget: int, now: float) -> list[int] | None:
        """One distinct random active play clip per exclude list (a round's control, then its decoy), each
        counted as served once more; with a budget (> 0), the serving that reaches it retires the clip as
        spent in the same write, so it is never served again. All or none: None when a pick finds no clip,
        and then nothing is counted."""
        ...

    def return_plays(self, clip_ids: Iterable[int], budget: int, now: float) -> None:
        """Undo take_plays for clips no one was shown (their round lost a race): one serving fewer each, and
        a clip the budget retired by that serving is active again."""
        ...

    def play_counts(self) -> dict[str, int]:
        """Active play clips per label (every emotion, 0 when none): what a restock balances."""
        ...

    def pick_unverified(self, exclude: Iterable[int], voter: str) -> int | None:
        """An active unverified clip that needs votes most (fewest counted), random among ties,
        that this voter has not voted on yet and that is not in exclude."""
        ...

    def set_pool(
        self,
        clip_id: int,
        from_pool: str,
        to_pool: str,
        now: float,
        label: str | None = None,
        label_source: str | None = None,
    ) -> bool:
        """Move a clip's record to another pool if it is still in from_pool; False if it was not."""
        ...

    def retire(self, clip_id: int, from_pool: str, reason: str, now: float) -> bool:
        """Retire a clip still active in from_pool; False if it was not."""
        ...

    def set_store_pool(self, clip_id: int, from_pool: str, to_pool: str) -> bool:
        """Record that a clip's audio moved stores; False if it was not recorded in from_pool."""
        ...

    def clips_in_transit(self) -> list[dict[str, Any]]:
        """Clips whose pool differs from the pool their audio is stored in."""
        ...

    def delete_clip(self, clip_id: int) -> None: ...

    def delete_clip_in_pool(self, clip_id: int, pool: str) -> bool:
        """Delete a clip's row only if it is still in pool; False if it was not (moved or gone)."""
        ...

    # -- challenges, rounds, slots and pass tokens ----------------------------------------------

    def create_challenge(self, challenge: dict[str, Any], slots: list[Slot]) -> None:
        """A new challenge and its first round's slots."""
        ...

    def get_challenge(self, challenge_id: str) -> Challenge | None: ...

    def challenge_slots(self, challenge_id: str) -> list[RoundSlot]:
        """Every slot of every round of a challenge, by round then position (empty when unknown). For
        evaluation and audit: which clip each slot held, which was the control, what was answered."""
        ...

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
        """Record one round's answer and everything that follows from it, all or nothing.

        Raises Conflict when the challenge is no longer open at that round (answered meanwhile)."""
        ...

    def consume_token(self, jti: str, challenge_id: str, now: float) -> str:
        """Mark a token used; returns 'ok', 'unknown', 'used' or 'expired'."""
        ...

    def create_passed_challenge(self, challenge: dict[str, Any], token: dict[str, Any]) -> None:
        """A challenge already passed (the proof-of-work route: no rounds) and its token, together."""
        ...

    def strikes(self, client: str, since: float) -> tuple[int, float | None]:
        """(failed rounds of the client's audio challenges created since `since` and after its latest pass,
        abandoned ones included; when the oldest of those challenges was created, None when none)."""
        ...

    # -- sites ----------------------------------------------------------------------------------

    def insert_site(self, row: dict[str, Any]) -> bool:
        """Add a site (sitekey, name, secret_hash, origins list, alternative, policy ("K/N" or None),
        created_at, secret_rotated_at);
        False when its key, name or secret hash is taken."""
        ...

    def sites(self) -> list[dict[str, Any]]:
        """Every site, oldest first."""
        ...

    def find_site(self, column: str, value: str) -> dict[str, Any] | None:
        """The site whose column ("sitekey", "name" or "secret_hash") has this value."""
        ...

    def set_site_secret(self, sitekey: str, secret_hash: str, now: float) -> bool: ...

    def delete_site(self, sitekey: str) -> bool: ...

    def remembered_verification(self, site: str, key: str, now: float) -> dict[str, Any] | None:
        """siteverify's answer kept under this site's idempotency key: {"response_hash", "answer"}; None when
        none, or when it is older than a day (sites.KEEP_ANSWERS_S) at now."""
        ...

    def remember_verification(self, site: str, key: str, response_hash: str, answer: dict[str, Any],
                              now: float) -> bool:
        """Keep an answer under an idempotency key; False when the key already has one (a race: read it)."""
        ...

    # -- votes and tallies ----------------------------------------------------------------------

    def insert_votes(self, votes: list[Vote], now: float) -> list[bool]:
        """Record votes, each with its voter's network; returns for each whether it counted. A vote counts when
        its control was right, its voter has no counted vote on the clip yet and, under the store's cap of votes
        per network, its network has fewer counted votes on the clip than the cap (why_not_counted otherwise:
        'control_wrong', 'repeat_voter' or 'network_cap'). Atomic under concurrent writers."""
        ...

    def tally(self, clip_id: int) -> dict[str, int]:
        """emotion -> counted votes on one clip."""
        ...

    def tallies(self) -> list[dict[str, Any]]:
        """Every clip that has a vote or is unverified, with its counted votes per emotion."""
        ...

    def voter_has_voted(self, clip_id: int, voter: str) -> bool: ...

    def clips_with_counted_votes(self, pool: str) -> list[int]:
        """Active clips of pool with at least one counted vote."""
        ...

    def counted_votes_on(self, clip_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The counted votes on these clips, oldest first: clip_id, voter, emotion, network, challenge_id,
        source, created_at."""
        ...

    def challenges_voted_in(self, voters: Iterable[str]) -> dict[str, int]:
        """voter -> how many distinct challenges it ever voted in (counted or not; 0 for votes outside a
        challenge, such as the labeling view's), for each of voters."""
        ...

    # -- background jobs ------------------------------------------------------------------------

    def create_job(self, kind: str, params: dict, now: float) -> int:
        """A queued job; returns its id."""
        ...

    def update_job(self, job_id: int, **fields: Any) -> None:
        """Set fields of a job (result, params and detail may be given as JSON-able values; detail None
        clears it). A job row gives detail back decoded: {"stage": ..., values...}, or None."""
        ...

    def get_job(self, job_id: int) -> dict[str, Any] | None: ...

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest jobs first."""
        ...

    def latest_job(self, kind: str) -> dict[str, Any] | None: ...

    def active_jobs(self, kind: str) -> list[int]:
        """Ids of the kind's jobs still queued or running, oldest first."""
        ...

    def request_cancel(self, job_id: int) -> bool:
        """Ask a queued or running job to stop; False if it was not active."""
        ...

    def cancel_requested(self, job_id: int) -> bool: ...

    def fail_interrupted_jobs(self, now: float) -> int:
        """At start: jobs a stopped process left queued or running cannot finish; say so."""
        ...

    # -- model versions -------------------------------------------------------------------------

    def create_model(self, parent_version: str | None, trained_on: list[int], job_id: int | None,
                     now: float) -> int:
        """A version in training; returns its id."""
        ...

    def update_model(self, model_id: int, **fields: Any) -> None:
        """Set fields of a version (metrics may be given as a dict)."""
        ...

    def get_model(self, model_id: int) -> dict[str, Any] | None: ...

    def models(self) -> list[dict[str, Any]]:
        """Every version, newest first."""
        ...

    def active_model(self) -> dict[str, Any] | None: ...

    def set_active_model(self, model_id: int | None) -> bool:
        """Make one evaluated version the active one (None: none, the configured default). False if the
        version is not evaluated."""
        ...

    def mark_consumed(self, model_id: int, now: float) -> None:
        """Record when a version's clips were consumed (the first time)."""
        ...

    # -- analytics (read-only, for the dashboard) -----------------------------------------------

    def counted_vote_sequences(self) -> dict[int, list[str]]:
        """clip id -> its counted votes' emotions in the order they were cast."""
        ...

    def counted_votes(self) -> list[tuple[int, str, str]]:
        """(clip id, voter, emotion) of every counted vote, by clip, then in the order they were cast."""
        ...

    def vote_totals(self, since: float) -> tuple[int, int, int]:
        """(votes, counted votes, votes cast at or after `since`, epoch seconds)."""
        ...

    def confusion_counts(self, by: str) -> list[tuple[str, str, int]]:
        """(intended emotion, crowd label, count) for clips with an intended emotion. by "votes":
        every counted vote; "consensus": each clip labelled by consensus. ValueError otherwise."""
        ...

    def challenge_counts(self) -> dict[str, int]:
        """Challenges per state (states with none left out)."""
        ...

    def round_totals(self) -> tuple[int, int]:
        """(answered rounds, passed rounds)."""
        ...

    def rounds_by_control_label(self) -> dict[str, tuple[int, int]]:
        """control clip's label -> (answered rounds, passed rounds)."""
        ...

    def rounds_by_number(self) -> list[tuple[int, int, int]]:
        """(round number, answered rounds, passed rounds), by round number."""
        ...

    def answered_span(self) -> tuple[float, float] | None:
        """(first, last) time a round was answered; None before any answer."""
        ...

    def rounds_per_period(self, bucket_s: int) -> list[tuple[float, int, int, int]]:
        """(period start, round number, answered rounds, passed rounds) per bucket_s-second period
        (periods start at multiples of bucket_s since the epoch), by period then round number."""
        ...

    def pass_counts_by_policy(self) -> list[tuple[int, int, int, int]]:
        """(rounds to pass, max rounds, challenges passed, challenges failed) per policy challenges were
        opened under (each challenge records its own), by policy; open ones are in neither count."""
        ...

    def all_votes(self) -> list[dict[str, Any]]:
        """Every vote, counted or not (with why not), oldest first."""
        ...

    # -- bot lab evaluations --------------------------------------------------------------------

    def add_bot_evaluation(self, report: dict[str, Any], now: float, job_id: int | None = None) -> int:
        """Keep an evaluation's report (JSON-able, as Report.as_dict gives it); returns its id."""
        ...

    def latest_bot_evaluation(self) -> dict[str, Any] | None:
        """The newest stored evaluation (id, created_at, job_id, report decoded); None before any."""
        ...
