"""The engine as a state machine: challenges, audio, answers, votes, siteverify, consensus, crash leftovers and
the library's repair, in any order, from a few clients, keep the engine's invariants.

This file owns the interleavings. The other tests each walk one path (test_captcha.py a challenge, test_sites.py
siteverify, test_consensus.py the rule, test_library.py a repair); here Hypothesis draws the order, the clients,
the policy and the settings, and a model kept beside the engine says what each step must do. The engine is the
real one (a real SQLite file and a local audio store per example, no HTTP, no mocks) on a fake clock, so expiry
is exact. After every step: invariants.check finds exactly the crash leftovers the model planted (none, most of
the time); every vote row, counted or not, is the model's, and votes only grow; each clip is in the pool the model
says (so in one pool); each challenge is at the model's state and round; a token succeeds at most once.

INSIDEOUT_FUZZ_EXAMPLES sets the number of examples: 100 by default (about 10 s), more to hunt for bugs. The same
machine runs on DynamoDB too (moto's server on loopback): INSIDEOUT_FUZZ_DYNAMODB_EXAMPLES, 3 by default (each
step is many HTTP requests there; 3 runs of 15 steps, about 20 s).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from insideout.captcha import BadAnswer, Closed, Expired, NoClips, NotFound
from insideout.db import Slot
from insideout.db.clips import SPENT
from insideout.db.dynamo_tables import TABLES
from insideout.db.sites import KEEP_ANSWERS_S
from insideout.emotions import EMOTION_IDS
from insideout.invariants import IN_TRANSIT, ORPHAN_AUDIO, check
from insideout.pools import POOLS
from insideout.services import Services, build_services
from insideout.sites import TEST_SECRET_FAILS
from insideout.storage import new_audio_name
from tests.conftest import make_settings, stock, tone, wav_bytes
from tests.helpers import answers, stored_rows

EXAMPLES = int(os.environ.get("INSIDEOUT_FUZZ_EXAMPLES", "100"))
# On DynamoDB (moto's server on loopback) a step is many HTTP requests: fewer, shorter runs in CI.
DYNAMODB_EXAMPLES = int(os.environ.get("INSIDEOUT_FUZZ_DYNAMODB_EXAMPLES", "3"))
PLAY, UNVERIFIED = 12, 3
BASE = 1_700_000_000.0  # the fake clock starts on a whole second: expiries fall on exact instants
# Three clients share a /24: under a cap of one counted vote per network per clip, the others' votes on a clip
# one of them counted on are kept uncounted.
CLIENTS = {"198.51.100.7": "198.51.100.0/24", "198.51.100.8": "198.51.100.0/24",
           "198.51.100.9": "198.51.100.0/24", "2001:db8::5": "2001:db8::/48"}
VOTED = ("sad", "calm", "happy")  # few emotions, so that voters both agree and disagree
MIN_SHARE = 0.6
WRONG_SECRET = "io_secret_" + "x" * 43  # shaped like a site secret, of no site
OPEN, PASSED, FAILED = "open", "passed", "failed"
# Steps name "the nth" challenge, token or clip, in the order they came, modulo how many there are, and no rule has
# a precondition (one with nothing to act on does nothing): the engine's random ids and picks then never change
# what Hypothesis draws, so it can replay and shrink a run.
NTH = st.integers(0, 15)
T = TypeVar("T")


@dataclass
class ModelClip:
    pool: str
    label: str | None
    retired: str | None = None  # SPENT (the serve budget's) or "ambiguous"
    served: int = 0


@dataclass
class ModelChallenge:
    client: str
    state: str
    round: int
    rounds_passed: int
    rounds_to_pass: int
    max_rounds: int
    expires_at: float
    used: set[int]  # every clip its rounds showed
    answered: list[dict[str, str]] = field(default_factory=list)  # what each answered round was sent
    closed_at: float | None = None


@dataclass
class ModelToken:
    token: str
    challenge_id: str
    jti: str
    expires_at: float
    closed_at: float
    successes: int = 0  # fresh redemptions that succeeded (an idempotent replay is not one)


@dataclass(frozen=True)
class ModelVote:
    clip_id: int
    voter: str
    emotion: str
    counted: bool


def judge(tally: Counter[str], min_votes: int, ambiguous_after: int) -> tuple[str, str | None]:
    """The consensus rule, written again from its statement: ("consensus", label), ("ambiguous", None) or
    ("open", None)."""
    total = sum(tally.values())
    if total == 0:
        return "open", None
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], EMOTION_IDS.index(kv[0])))
    top, top_n = ranked[0]
    tied = len(ranked) > 1 and ranked[1][1] == top_n
    if total >= min_votes and top_n / total >= MIN_SHARE and not tied:
        return "consensus", top
    return ("ambiguous", None) if total >= ambiguous_after else ("open", None)


def next_state(passed: int, round_no: int, to_pass: int, max_rounds: int, deferred: bool) -> str:
    """The pass policy from its statement: pass to_pass of max_rounds; immediate feedback decides as soon as the
    outcome is certain, deferred only after the last round."""
    if deferred and round_no < max_rounds:
        return OPEN
    if passed >= to_pass:
        return PASSED
    if passed + (max_rounds - round_no) < to_pass:
        return FAILED
    return OPEN


def nth_of(items: list[T], nth: int) -> T | None:
    return items[nth % len(items)] if items else None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CaptchaEngine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="insideout-machine-"))
        self.services: Services
        self.now = BASE
        self.clips: dict[int, ModelClip] = {}
        self.challenges: dict[str, ModelChallenge] = {}
        self.tokens: list[ModelToken] = []
        self.votes: list[ModelVote] = []
        self.kept: dict[str, tuple[str, dict[str, Any], float]] = {}  # idempotency key -> (response, answer, when)
        self.in_transit: set[int] = set()  # clips a simulated crash left half-moved
        self.orphans: set[tuple[str, str]] = set()  # (pool, audio name) a simulated crash left without a row
        self.seen_votes: list[dict[str, Any]] = []

    def teardown(self) -> None:
        if hasattr(self, "services"):
            self.services.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(policy=st.sampled_from([(1, 1), (1, 3), (2, 3), (3, 3)]),
                feedback=st.sampled_from(["immediate", "deferred"]), serve_budget=st.sampled_from([0, 1, 3]),
                votes_per_network=st.sampled_from([0, 1]), consensus=st.sampled_from([(1, 3), (2, 2), (2, 3)]))
    def build(self, policy: tuple[int, int], feedback: str, serve_budget: int, votes_per_network: int,
              consensus: tuple[int, int]) -> None:
        # No bot verdict (fail_cooldown_s=0, conftest's): a client's failed rounds lock nothing here.
        self.settings = make_settings(
            self.tmp / "data", rounds_to_pass=policy[0], max_rounds=policy[1], feedback=feedback,
            serve_budget=serve_budget, votes_per_network=votes_per_network,
            consensus_min_votes=consensus[0], consensus_min_share=MIN_SHARE, ambiguous_after_votes=consensus[1],
            retrain_threshold=10_000)
        self.services = build_services(self.settings, announce=lambda _text: None)
        ids = stock(self.services, play=PLAY, unverified=UNVERIFIED)
        for i, clip_id in enumerate(ids["play"]):
            self.clips[clip_id] = ModelClip("play", EMOTION_IDS[i % len(EMOTION_IDS)])
        for clip_id in ids["unverified"]:
            self.clips[clip_id] = ModelClip("unverified", None)

    # -- the model's reading of the engine's rules ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every row of every table and every audio file: what a refused step must leave as it was."""
        rows = {t: sorted(repr(sorted(r.items())) for r in stored_rows(self.services.db, t)) for t in self.tables()}
        rows["audio"] = {pool: sorted(self.services.store.names(pool)) for pool in POOLS}
        return rows

    def tables(self) -> list[str]:
        if self.settings.metadata == "dynamodb":
            return [t.name for t in TABLES]
        with self.services.db.read() as db:
            return [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def pickable(self) -> set[int]:
        return {i for i, c in self.clips.items() if c.pool == "play" and c.retired is None}

    def tally(self, clip_id: int) -> Counter[str]:
        return Counter(v.emotion for v in self.votes if v.clip_id == clip_id and v.counted)

    def network_counted(self, clip_id: int, network: str) -> int:
        return sum(1 for v in self.votes if v.clip_id == clip_id and v.counted and CLIENTS[v.voter] == network)

    def eligible(self, voter: str, used: set[int]) -> dict[int, int]:
        """The unverified clips a new round may show this voter, with their counted votes: not retired, not
        shown in this challenge, never voted on by the voter, and under its network's cap."""
        cap = self.settings.votes_per_network
        out = {}
        for clip_id, c in self.clips.items():
            if c.pool != "unverified" or c.retired is not None or clip_id in used:
                continue
            if any(v.clip_id == clip_id and v.voter == voter for v in self.votes):
                continue
            if cap > 0 and self.network_counted(clip_id, CLIENTS[voter]) >= cap:
                continue
            out[clip_id] = sum(self.tally(clip_id).values())
        return out

    def round_cannot_be_made(self, voter: str, used: set[int]) -> bool:
        fresh = self.pickable() - used
        return not fresh or (not self.eligible(voter, used) and len(self.pickable()) < 2)

    def check_round(self, slots: tuple[Slot, ...], voter: str, used: set[int], eligible: dict[int, int],
                    pickable: set[int]) -> None:
        """A new round (the model's state before it was made): a fresh control, and the least-voted unverified
        clip this voter may vote on, or a decoy when there is none."""
        assert len(slots) == 2 and len({s.slot for s in slots}) == 2
        controls = [s for s in slots if s.is_control]
        assert len(controls) == 1
        control, other = controls[0], next(s for s in slots if not s.is_control)
        assert control.clip_id in pickable - used
        if eligible:
            assert not other.is_decoy
            assert eligible.get(other.clip_id) == min(eligible.values()), (other.clip_id, eligible)
        else:
            assert other.is_decoy and other.clip_id in pickable and other.clip_id != control.clip_id
            if pickable - used - {control.clip_id}:
                assert other.clip_id not in used  # a fresh decoy while there is one

    def serve(self, slots: tuple[Slot, ...]) -> None:
        budget = self.settings.serve_budget
        for s in slots:
            clip = self.clips[s.clip_id]
            if clip.pool == "play":
                clip.served += 1
                if budget > 0 and clip.served >= budget:
                    clip.retired = SPENT

    def record_vote(self, clip_id: int, voter: str, emotion: str, control_right: bool) -> None:
        cap = self.settings.votes_per_network
        counted = (control_right
                   and not any(v.clip_id == clip_id and v.voter == voter and v.counted for v in self.votes)
                   and not (cap > 0 and self.network_counted(clip_id, CLIENTS[voter]) >= cap))
        self.votes.append(ModelVote(clip_id, voter, emotion, counted))

    def settle(self, clip_id: int) -> None:
        clip = self.clips[clip_id]
        verdict, label = judge(self.tally(clip_id), self.settings.consensus_min_votes,
                               self.settings.ambiguous_after_votes)
        if verdict == "consensus":
            if clip.pool == "unverified" and clip.retired is None:
                clip.pool, clip.label = "learning", label
            self.in_transit.discard(clip_id)  # the move settles the clip's audio, a crashed move's too
        elif verdict == "ambiguous" and clip.pool == "unverified" and clip.retired is None:
            clip.retired = "ambiguous"

    def live(self, m: ModelChallenge) -> bool:
        return m.state == OPEN and m.expires_at > self.now

    def refusal(self, m: ModelChallenge) -> type[Exception]:
        return Closed if m.state != OPEN else Expired

    # -- rules ---------------------------------------------------------------------------------------------------

    @rule(client=st.sampled_from(sorted(CLIENTS)))
    def create(self, client: str) -> None:
        self.new_challenge(client)

    def new_challenge(self, client: str) -> str | None:
        """A new challenge's id; None when the play pool has too few fresh clips (NoClips, nothing changed)."""
        needed = self.settings.max_rounds * (2 if self.settings.serve_budget > 0 else 1)
        pickable, eligible = self.pickable(), self.eligible(client, set())
        if len(pickable) < needed:
            before = self.snapshot()
            with pytest.raises(NoClips):
                self.services.captcha.create(client, now=self.now)
            assert self.snapshot() == before
            return None
        view = self.services.captcha.create(client, now=self.now)
        c = self.services.db.get_challenge(view.challenge_id)
        assert (view.round, view.max_rounds, view.expires_at) == (1, self.settings.max_rounds,
                                                                  self.now + self.settings.challenge_ttl_s)
        assert view.slots == tuple(s.slot for s in c.slots)
        self.check_round(c.slots, client, set(), eligible, pickable)
        self.serve(c.slots)
        self.challenges[view.challenge_id] = ModelChallenge(
            client, OPEN, 1, 0, self.settings.rounds_to_pass, self.settings.max_rounds, view.expires_at,
            {s.clip_id for s in c.slots})
        return view.challenge_id

    @rule(nth=NTH, which=st.sampled_from(["first", "second", "an answered round's", "unknown"]))
    def fetch_audio(self, nth: int, which: str) -> None:
        cid = nth_of(list(self.challenges), nth)
        if cid is None:
            return
        m = self.challenges[cid]
        slots = self.services.db.get_challenge(cid).slots
        slot = {"first": slots[0].slot, "second": slots[1].slot, "unknown": "nope-nope",
                "an answered round's": next(iter(m.answered[0])) if m.answered else "nope-nope"}[which]
        before = self.snapshot()
        if not self.live(m):
            with pytest.raises(self.refusal(m)):
                self.services.captcha.audio(cid, slot, now=self.now)
        elif which in ("first", "second"):
            assert self.services.captcha.audio(cid, slot, now=self.now)[:4] == b"RIFF"
        else:
            with pytest.raises(NotFound):
                self.services.captcha.audio(cid, slot, now=self.now)
        assert self.snapshot() == before  # serving audio writes nothing

    def answer_live(self, nth: int, right: bool, vote: str, answerer: str | None) -> None:
        """Answer the nth live challenge (a new one when none is live) as its client or as `answerer`."""
        cid = nth_of(self.live_ids(), nth) or self.new_challenge(answerer or min(CLIENTS))
        if cid is not None:
            self.answer_round(cid, right, vote, answerer)

    def answer_round(self, cid: str, right: bool, vote: str, answerer: str | None) -> bool:
        """Answer a live challenge's round; False when the next round could not be made (NoClips)."""
        m = self.challenges[cid]
        voter = answerer or m.client
        given = answers(self.services, cid, right, vote)
        slots = self.services.db.get_challenge(cid).slots
        rounds_passed = m.rounds_passed + int(right)
        state = next_state(rounds_passed, m.round, m.rounds_to_pass, m.max_rounds,
                           self.settings.feedback == "deferred")
        pickable, eligible = self.pickable(), self.eligible(voter, m.used)
        if state == OPEN and self.round_cannot_be_made(voter, m.used):
            # The next round needs clips the serve budget spent: the answer is refused whole, to try again.
            before = self.snapshot()
            with pytest.raises(NoClips):
                self.services.captcha.answer(cid, given, voter, now=self.now)
            assert self.snapshot() == before
            return False
        result = self.services.captcha.answer(cid, given, voter, now=self.now)
        for s in slots:
            if not s.is_control and not s.is_decoy:
                self.record_vote(s.clip_id, voter, vote, right)
        for s in slots:
            if not s.is_control and not s.is_decoy and right:
                self.settle(s.clip_id)
        m.answered.append(given)
        m.rounds_passed = rounds_passed
        if state == OPEN:
            assert (result.status, result.round, result.token) == ("retry", m.round + 1, None)
            assert result.revealed == (self.settings.feedback == "immediate")
            new = self.services.db.get_challenge(cid).slots
            assert result.next_round.slots == tuple(s.slot for s in new)
            self.check_round(new, voter, m.used, eligible, pickable)
            self.serve(new)
            m.used |= {s.clip_id for s in new}
            m.round += 1
            return True
        assert (result.status, result.round) == (state, m.round)
        m.state, m.closed_at = state, self.now
        assert (result.token is not None) == (state == PASSED)
        if result.token is not None:
            claims = self.services.captcha.read_token(result.token)
            assert claims is not None and claims.challenge_id == cid
            self.tokens.append(ModelToken(result.token, cid, claims.jti, self.now + self.settings.token_ttl_s,
                                          self.now))
        return True

    def earn_token(self) -> ModelToken | None:
        """A new challenge answered right until it passes; None when the play pool runs out first."""
        cid = self.new_challenge(min(CLIENTS))
        while cid is not None and self.challenges[cid].state == OPEN:
            if not self.answer_round(cid, True, VOTED[0], None):
                return None
        return self.tokens[-1] if cid is not None else None

    def live_ids(self) -> list[str]:
        return [cid for cid, m in self.challenges.items() if self.live(m)]

    @rule(nth=NTH, vote=st.sampled_from(VOTED), answerer=st.sampled_from([None, *sorted(CLIENTS)]))
    def answer_right(self, nth: int, vote: str, answerer: str | None) -> None:
        self.answer_live(nth, True, vote, answerer)

    @rule(nth=NTH, vote=st.sampled_from(VOTED), answerer=st.sampled_from([None, *sorted(CLIENTS)]))
    def answer_wrong(self, nth: int, vote: str, answerer: str | None) -> None:
        self.answer_live(nth, False, vote, answerer)

    @rule(nth=NTH, right=st.booleans(), vote=st.sampled_from(VOTED))
    def answer_a_closed_or_expired_challenge(self, nth: int, right: bool, vote: str) -> None:
        cid = nth_of([c for c, m in self.challenges.items() if not self.live(m)], nth)
        if cid is None:
            return
        m = self.challenges[cid]
        given = answers(self.services, cid, right, vote)
        before = self.snapshot()
        with pytest.raises(self.refusal(m)):
            self.services.captcha.answer(cid, given, m.client, now=self.now)
        assert self.snapshot() == before

    @rule(nth=NTH, round_no=NTH)
    def answer_an_answered_round_again(self, nth: int, round_no: int) -> None:
        cid = nth_of([c for c, m in self.challenges.items() if m.answered], nth)
        if cid is None:
            return
        m = self.challenges[cid]
        given = m.answered[round_no % len(m.answered)]
        before = self.snapshot()
        with pytest.raises(BadAnswer if self.live(m) else self.refusal(m)):
            self.services.captcha.answer(cid, given, m.client, now=self.now)
        assert self.snapshot() == before

    @rule(nth=NTH, secret=st.sampled_from(["the site's", "wrong", "a test secret"]),
          key=st.sampled_from([None, "retry-1", "retry-2"]), times=st.integers(1, 2))
    def siteverify(self, nth: int, secret: str, key: str | None, times: int) -> None:
        """Redeem the nth pass token (one earned now when there is none), once or twice in a row."""
        t = nth_of(self.tokens, nth) or self.earn_token()
        for _ in range(times if t is not None else 0):
            self.redeem(t, secret, key)

    def redeem(self, t: ModelToken, secret: str, key: str | None) -> None:
        given = {"the site's": self.services.sites.builtin_secret(), "wrong": WRONG_SECRET,
                 "a test secret": TEST_SECRET_FAILS}[secret]
        before = self.snapshot()
        verdict = self.services.verifier.siteverify(given, t.token, idempotency_key=key, now=self.now).as_dict()
        if secret != "the site's":
            code = "invalid-input-secret" if secret == "wrong" else "invalid-input-response"
            assert (verdict["success"], verdict["error_codes"]) == (False, [code])
            assert self.snapshot() == before  # refused unspent
            return
        if key is not None and key in self.kept:
            response, first, _when = self.kept[key]
            assert verdict == (first if response == t.token else _refused("bad-request"))
            assert self.snapshot() == before
            return
        if t.successes == 0 and self.now < t.expires_at:
            t.successes += 1
            assert verdict == {"success": True, "error_codes": [], "challenge_ts": iso(t.closed_at),
                               "hostname": None, "sitekey": "builtin", "action": None, "method": "audio"}
        else:
            assert verdict == _refused("timeout-or-duplicate")
        if key is not None:
            self.kept = {k: v for k, v in self.kept.items() if v[2] >= self.now - KEEP_ANSWERS_S}
            self.kept[key] = (t.token, verdict, self.now)

    @rule(seconds=st.sampled_from([1, 10, 60, 121, 301, KEEP_ANSWERS_S + 1]))
    def advance_clock(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def settle_all(self) -> None:
        # Each counted vote was settled as it came: settling again finds the clips and changes nothing.
        waiting = [i for i, c in self.clips.items()
                   if c.pool == "unverified" and c.retired is None and self.tally(i)]
        before = self.snapshot()
        assert self.services.consensus.settle_all() == len(waiting)
        assert self.snapshot() == before

    @rule()
    def repair(self) -> None:
        report = self.services.library.repair(0.0)
        assert report == {"moves_finished": len(self.in_transit), "orphans_removed": len(self.orphans),
                          "partial_removed": 0}
        self.in_transit.clear()
        self.orphans.clear()

    @rule(what=st.sampled_from(["an add, after its audio", "a consensus move, after its row"]),
          pool=st.sampled_from(POOLS), nth=NTH, label=st.sampled_from(VOTED))
    def crash(self, what: str, pool: str, nth: int, label: str) -> None:
        """What a crash leaves (one rule for both, so that crashes stay rare among the steps): an add's audio
        without its row, or a consensus move's row repointed before its audio followed; a repair ends both."""
        movable = sorted(i for i, c in self.clips.items() if c.pool == "unverified" and c.retired is None)
        if what == "an add, after its audio" or not movable:
            name = new_audio_name()
            self.services.store.put(pool, name, wav_bytes(tone(5000 + len(self.orphans))))
            self.orphans.add((pool, name))
            return
        clip_id = nth_of(movable, nth)
        assert self.services.db.set_pool(clip_id, "unverified", "learning", self.now, label, "consensus")
        self.clips[clip_id].pool, self.clips[clip_id].label = "learning", label
        self.in_transit.add(clip_id)

    # -- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def the_engine_invariants_hold(self) -> None:
        violations = check(self.services.db, self.services.store, settled=True, grace_s=0.0)
        if not self.in_transit and not self.orphans:
            assert violations == []
            return
        # Exactly the leftovers of the simulated crashes, until a repair.
        assert Counter(v.kind for v in violations) == Counter(
            [IN_TRANSIT] * len(self.in_transit) + [ORPHAN_AUDIO] * len(self.orphans)), violations
        named = {v.detail.split(":")[0] for v in violations}
        assert named == {f"clip {i}" for i in self.in_transit} | {f"audio {n} in {p}" for p, n in self.orphans}

    @invariant()
    def votes_are_the_models_and_only_grow(self) -> None:
        rows = self.services.db.all_votes()
        assert rows[:len(self.seen_votes)] == self.seen_votes  # kept as they were
        assert [ModelVote(r["clip_id"], r["voter"], r["emotion"], bool(r["counted"])) for r in rows] == self.votes
        counted = [(r["clip_id"], r["voter"]) for r in rows if r["counted"]]
        assert len(counted) == len(set(counted))  # a voter counts once per clip
        for clip_id in self.clips:
            assert self.services.db.tally(clip_id) == dict(self.tally(clip_id))
        self.seen_votes = rows

    @invariant()
    def every_clip_is_in_the_models_one_pool(self) -> None:
        listed = [(r["id"], pool, r) for pool in POOLS for r in self.services.db.clips(pool)]
        rows = {clip_id: (pool, row) for clip_id, pool, row in listed}
        assert len(rows) == len(listed) == len(self.clips)  # each clip listed in one pool
        for clip_id, want in self.clips.items():
            pool, row = rows[clip_id]
            store_pool = "unverified" if clip_id in self.in_transit else want.pool
            assert (pool, row["label"], row["served"], row["store_pool"]) == (
                want.pool, want.label, want.served, store_pool), clip_id
            assert row["retired"] == want.retired, clip_id

    @invariant()
    def challenges_are_at_the_models_state(self) -> None:
        for cid, m in self.challenges.items():
            c = self.services.db.get_challenge(cid)
            assert (c.state, c.round, c.rounds_passed, c.max_rounds, c.closed_at) == (
                m.state, m.round, m.rounds_passed, m.max_rounds, m.closed_at)
            assert set(c.used_clip_ids) == m.used

    @invariant()
    def a_token_verifies_at_most_once(self) -> None:
        used = {r["jti"]: r.get("used_at") for r in stored_rows(self.services.db, "tokens")}
        assert len(used) == len(self.tokens)
        for t in self.tokens:
            assert t.successes <= 1
            assert (used[t.jti] is not None) == (t.successes == 1)


def _refused(code: str) -> dict[str, Any]:
    return {"success": False, "error_codes": [code], "challenge_ts": None, "hostname": None, "sitekey": None,
            "action": None, "method": None}


TestAnyOrderOfCaptchaOperationsKeepsTheInvariants = CaptchaEngine.TestCase
TestAnyOrderOfCaptchaOperationsKeepsTheInvariants.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.usefixtures("on_dynamodb")
class TestAnyOrderOfCaptchaOperationsKeepsTheInvariantsOnDynamoDB(CaptchaEngine.TestCase):
    settings = settings(max_examples=DYNAMODB_EXAMPLES, stateful_step_count=15, deadline=None, derandomize=True,
                        database=None, suppress_health_check=[HealthCheck.too_slow],
                        phases=[Phase.explicit, Phase.generate])  # no shrinking: a run is slow, and a failing
    # one prints its steps whole; DynamoDB's random picks would not replay the same anyway
