"""The challenge engine: rounds, answers, the pass policy and single-use pass tokens.

All state is on the server. The client sees an opaque challenge id and, per round, opaque slot names
whose order is random; it never sees a clip id, a label or a storage name.

Every round shows two clips: the control (a play clip, scored) and an unverified clip (its answer a vote),
or, when no unverified clip is left for this visitor, an ungraded decoy from the play pool. A round with
the control alone would tell a bot which clip is scored. With a serve budget, each serving of a play clip
(control or decoy) counts, and the serving that spends the budget retires the clip, so a bot that
remembers clips meets each one at most that many times. With deferred feedback every round is played and
only the last answer says passed or failed: a "retry" then means the next round, not a wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from math import comb

import numpy as np

from . import wav
from .consensus import Consensus
from .constant_time import same
from .db import CHALLENGE_FAILED, CHALLENGE_OPEN, CHALLENGE_PASSED, Challenge, Conflict, Slot, Vote
from .emotions import EMOTION_IDS, is_emotion
from .library import Library
from .settings import Settings

CLIPS_PER_ROUND = 2  # one control clip and at most one unverified clip: what a round shows at most
CHALLENGE_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
SLOT_ID = re.compile(r"^[A-Za-z0-9_-]{4,16}$")


class CaptchaError(Exception):
    """A refusal the client caused; `code` is stable, `message` is for people."""

    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(CaptchaError):
    code = "not_found"


class Closed(CaptchaError):
    code = "challenge_closed"


class Expired(CaptchaError):
    code = "challenge_expired"


class BadAnswer(CaptchaError):
    code = "bad_answer"


class NoClips(CaptchaError):
    code = "no_clips"


class CoolingDown(CaptchaError):
    """The bot verdict: this client failed as many rounds lately as fail a challenge."""

    code = "cooldown"

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Policy:
    """Pass rounds_to_pass of at most max_rounds rounds. Defaults: the settings table."""

    rounds_to_pass: int
    max_rounds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.rounds_to_pass, settings.max_rounds)

    def chance_pass_probability(self, n_choices: int = len(EMOTION_IDS)) -> float:
        """P(a random guesser passes): at least rounds_to_pass right controls in max_rounds tries.
        Stopping early changes nothing: it is the binomial tail."""
        p = 1 / n_choices
        n, k = self.max_rounds, self.rounds_to_pass
        return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def serving_of(settings: Settings) -> wav.Serving:
    """How each serving is varied: the SERVE_* settings."""
    return wav.Serving(settings.serve_gain_db, settings.serve_noise_snr_db, settings.serve_crop_s)


def next_state(rounds_passed: int, round_no: int, rounds_to_pass: int, max_rounds: int, deferred: bool) -> str:
    """A challenge's state after round round_no: immediate feedback decides as soon as the outcome is
    certain; deferred feedback plays every round and decides after the last, so no answer but the last
    tells anything (the pass condition is the same: rounds_to_pass of max_rounds)."""
    if deferred and round_no < max_rounds:
        return CHALLENGE_OPEN
    if rounds_passed >= rounds_to_pass:
        return CHALLENGE_PASSED
    if rounds_passed + (max_rounds - round_no) < rounds_to_pass:
        return CHALLENGE_FAILED
    return CHALLENGE_OPEN


@dataclass(frozen=True)
class RoundView:
    challenge_id: str
    expires_at: float
    round: int
    max_rounds: int
    slots: tuple[str, ...]


@dataclass(frozen=True)
class TokenClaims:
    jti: str
    challenge_id: str
    expires_at: float


@dataclass(frozen=True)
class AnswerResult:
    status: str  # "passed", "retry" or "failed"
    round: int
    next_round: RoundView | None = None
    token: str | None = None
    revealed: bool = True  # whether a "retry" says the round was wrong (immediate feedback) or only "go on"


class Captcha:
    def __init__(self, library: Library, consensus: Consensus, settings: Settings):
        self.library = library
        self.consensus = consensus
        self.db = library.db
        self.settings = settings
        self.policy = Policy.from_settings(settings)
        self._key = settings.secret_key.encode()
        self.serving = serving_of(settings)

    # -- creating and reading ------------------------------------------------------------------

    def _strikes(self, client: str, now: float) -> tuple[int, float]:
        """(the client's failed rounds that count, seconds until the verdict they make lifts; 0: none)."""
        window = self.settings.fail_cooldown_s
        if window <= 0:
            return 0, 0.0
        failed, oldest = self.db.strikes(client, now - window)
        if failed < self.policy.max_rounds - self.policy.rounds_to_pass + 1 or oldest is None:
            return failed, 0.0
        return failed, max(1.0, oldest + window - now)

    def cooldown_left(self, client: str, now: float | None = None) -> float:
        """Seconds until this client may play again; 0 when it may now. Its failed rounds since its last pass
        within FAIL_COOLDOWN_S count, answered in abandoned challenges too, so walking away from a losing
        challenge does not escape the verdict. Keyed on the client, never on an account name, so nobody can
        lock anyone else out."""
        return self._strikes(client, time.time() if now is None else now)[1]

    def create(self, client: str, now: float | None = None, *, site: str = "builtin",
               hostname: str | None = None, action: str | None = None, policy: Policy | None = None) -> RoundView:
        """A new challenge for a site's page (hostname: the page's host, action: the site's label for it,
        policy: the site's own, else the app's). Under the bot verdict a client's failed rounds are spent from
        one budget: a new challenge gets only the wrong rounds it has left, so abandoning a losing challenge
        buys no extra tries."""
        now = time.time() if now is None else now
        policy = policy or self.policy
        failed, wait = self._strikes(client, now)
        if wait > 0:
            raise CoolingDown(f"too many wrong answers lately; try again in {math.ceil(wait)} s", wait)
        max_rounds = policy.rounds_to_pass + max(0, policy.max_rounds - policy.rounds_to_pass - failed)
        # Every round needs a fresh control clip, so a challenge needs max_rounds of them; with a serve budget,
        # a decoy too (a spent clip cannot stand in), so that a challenge once opened can run to its end.
        needed = max_rounds * (2 if self.settings.serve_budget > 0 else 1)
        available = self.db.count_pickable("play", at_most=needed)
        if available < needed:
            raise NoClips(
                f"the play pool has {available} fresh clips; a challenge needs at least {needed}. "
                + ("The restock is behind: try again shortly." if self.settings.serve_budget > 0
                   else "Build the starter library or import clips.")
            )
        slots = self._pick_round([], client, now)
        challenge_id = secrets.token_urlsafe(24)
        self.db.create_challenge(
            {
                "id": challenge_id,
                "client": client,
                "state": CHALLENGE_OPEN,
                "round": 1,
                "rounds_passed": 0,
                "rounds_to_pass": policy.rounds_to_pass,
                "max_rounds": max_rounds,
                "created_at": now,
                "expires_at": now + self.settings.challenge_ttl_s,
                "site": site,
                "hostname": hostname,
                "action": action,
            },
            slots,
        )
        return RoundView(challenge_id, now + self.settings.challenge_ttl_s, 1,
                         max_rounds, tuple(s.slot for s in slots))

    def _pick_round(self, used: list[int], voter: str, now: float) -> list[Slot]:
        budget = self.settings.serve_budget
        unverified = self.db.pick_unverified(used, voter)
        if unverified is not None:
            taken = self.db.take_plays([used], budget, now)
            clips = [(taken[0], True, False), (unverified, False, False)] if taken else None
        else:
            # A fresh decoy if there is one, else any play clip but this round's control (small pools).
            taken = self.db.take_plays([used, used], budget, now) or self.db.take_plays([used, []], budget, now)
            clips = [(taken[0], True, False), (taken[1], False, True)] if taken else None
        if clips is None:
            raise NoClips("no fresh clip left in the play pool")
        order = secrets.SystemRandom().sample(clips, len(clips))
        return [
            Slot(slot=secrets.token_urlsafe(6), position=i, clip_id=clip_id, is_control=is_control, is_decoy=is_decoy)
            for i, (clip_id, is_control, is_decoy) in enumerate(order)
        ]

    def _open(self, challenge_id: str, now: float) -> Challenge:
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.match(challenge_id):
            raise NotFound("no such challenge")
        challenge = self.db.get_challenge(challenge_id)
        if challenge is None:
            raise NotFound("no such challenge")
        if challenge.state != CHALLENGE_OPEN:
            raise Closed(f"this challenge is closed ({challenge.state})")
        if challenge.expires_at <= now:
            raise Expired("this challenge has expired; start a new one")
        return challenge

    def site_of(self, challenge_id: str) -> str | None:
        """The site key a challenge was created for; None for no such challenge."""
        if not isinstance(challenge_id, str) or not CHALLENGE_ID.match(challenge_id):
            return None
        challenge = self.db.get_challenge(challenge_id)
        return challenge.site if challenge else None

    def audio(self, challenge_id: str, slot: str, now: float | None = None) -> bytes:
        """The WAV of one slot of the current round, re-encoded and varied for this serving."""
        now = time.time() if now is None else now
        challenge = self._open(challenge_id, now)
        match = [s for s in challenge.slots if s.slot == slot]
        if not isinstance(slot, str) or not SLOT_ID.match(slot) or not match:
            raise NotFound("no such clip in this round")
        pcm = self.library.pcm(match[0].clip_id)
        return wav.encode(wav.vary_for_serving(pcm, np.random.default_rng(), self.serving))

    def pass_by_work(self, client: str, now: float | None = None, *, site: str = "builtin",
                     hostname: str | None = None, action: str | None = None) -> str:
        """The route for people who cannot hear: the caller has checked a solved proof-of-work puzzle of the
        alternative's difficulty; this records a challenge passed by it (method "pow", no rounds, no votes)
        and returns its token, which siteverify reports with method "pow" so the site can decide."""
        now = time.time() if now is None else now
        challenge_id = secrets.token_urlsafe(24)
        token, token_row = self._issue_token(challenge_id, now)
        self.db.create_passed_challenge(
            {"id": challenge_id, "client": client, "state": CHALLENGE_PASSED, "round": 0, "rounds_passed": 0,
             "rounds_to_pass": 0, "max_rounds": 0, "created_at": now, "expires_at": now, "closed_at": now,
             "site": site, "hostname": hostname, "action": action, "method": "pow"},
            token_row,
        )
        return token

    # -- answering -----------------------------------------------------------------------------

    def answer(self, challenge_id: str, answers: dict, client: str,
               now: float | None = None) -> AnswerResult:
        now = time.time() if now is None else now
        challenge = self._open(challenge_id, now)
        self._check_answers(challenge, answers)
        wait = self._strikes(client, now)[1]
        if wait > 0:  # challenges opened side by side share the one budget of failed rounds
            raise CoolingDown(f"too many wrong answers lately; try again in {math.ceil(wait)} s", wait)
        control = next(s for s in challenge.slots if s.is_control)
        passed = answers[control.slot] == self.library.clip(control.clip_id)["label"]
        votes = [
            Vote(s.clip_id, client, answers[s.slot], passed, "challenge", challenge.id,
                 challenge.round)
            for s in challenge.slots
            if not s.is_control and not s.is_decoy
        ]
        rounds_passed = challenge.rounds_passed + int(passed)
        deferred = self.settings.feedback == "deferred"
        state = next_state(rounds_passed, challenge.round, challenge.rounds_to_pass, challenge.max_rounds, deferred)
        next_slots = self._pick_round(list(challenge.used_clip_ids), client, now) if state == CHALLENGE_OPEN else None
        token, token_row = self._issue_token(challenge.id, now) if state == CHALLENGE_PASSED else (None, None)
        try:
            self.db.apply_answer(challenge, answers, passed, state, now, votes, next_slots, token_row)
        except Conflict:
            if next_slots:  # the race's loser: the next round it drew was never shown, so it spent nothing
                self.db.return_plays([s.clip_id for s in next_slots if s.is_control or s.is_decoy],
                                     self.settings.serve_budget, now)
            raise Closed("this round was already answered") from None
        for vote in votes:
            if vote.control_correct:
                self.consensus.settle(vote.clip_id)
        if state == CHALLENGE_OPEN:
            view = RoundView(challenge.id, challenge.expires_at, challenge.round + 1,
                             challenge.max_rounds, tuple(s.slot for s in next_slots))
            return AnswerResult("retry", challenge.round + 1, next_round=view, revealed=not deferred)
        return AnswerResult(state, challenge.round, token=token)

    @staticmethod
    def _check_answers(challenge: Challenge, answers: dict) -> None:
        if not isinstance(answers, dict) or not answers:
            raise BadAnswer("answers must be an object mapping each slot to an emotion id")
        expected = {s.slot for s in challenge.slots}
        unknown = [k for k in answers if k not in expected]
        if unknown:
            raise BadAnswer("an answer names a slot that is not in the current round")
        if set(answers) != expected:
            raise BadAnswer(f"answer every slot of the round ({len(expected)} slots)")
        for value in answers.values():
            if not is_emotion(value):
                raise BadAnswer(f"unknown emotion; expected one of {', '.join(EMOTION_IDS)}")

    # -- pass tokens ---------------------------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def _issue_token(self, challenge_id: str, now: float) -> tuple[str, dict]:
        jti = secrets.token_urlsafe(16)
        expires = now + self.settings.token_ttl_s
        payload = json.dumps({"jti": jti, "cid": challenge_id, "exp": round(expires, 3)},
                             separators=(",", ":")).encode()
        body = _b64(payload)
        token = f"v1.{body}.{self._sign(body.encode())}"
        row = {"jti": jti, "challenge_id": challenge_id, "issued_at": now, "expires_at": expires}
        return token, row

    def read_token(self, token: object) -> TokenClaims | None:
        """The claims of a token this server signed (not yet checked for expiry or use); None otherwise."""
        if not isinstance(token, str) or not token:
            return None
        parts = token.split(".")
        if len(token) > 512 or len(parts) != 3 or parts[0] != "v1":
            return None
        body, signature = parts[1], parts[2]
        if not same(self._sign(body.encode()), signature):
            return None
        try:
            claims = json.loads(_unb64(body))
            return TokenClaims(str(claims["jti"]), str(claims["cid"]), float(claims["exp"]))
        except (ValueError, KeyError, TypeError):
            return None

    def spend_token(self, claims: TokenClaims, now: float | None = None) -> str:
        """Spend a token once: 'ok', 'used', 'expired' or 'unknown'."""
        now = time.time() if now is None else now
        if claims.expires_at <= now:
            return "expired"
        return self.db.consume_token(claims.jti, claims.challenge_id, now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
