"""The login flow of the demo site: credentials plus a passed captcha sign a person in.

The password is checked before the captcha starts but its verdict is told only after a pass, so every
guess costs one captcha. A failed captcha is a bot verdict: that account name and browser session wait
out a cooldown. The site redeems its own pass token as any website would (siteverify), so the login
proves what a third-party site's would. Every step counts against the one rate-limit policy.

The web layer keeps a LoginAttempt in its per-tab state (on the server) and renders each LoginStep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .accounts import Accounts, Session, normalize_username
from .captcha import Captcha, CaptchaError, NoClips, RoundView
from .ratelimit import RateLimited, RateLimits

# Why a step was refused: the web layer says each in the visitor's language.
COOLDOWN = "cooldown"  # a bot verdict on this name or session is still in force (wait_s)
RATE_LIMITED = "rate_limited"
NO_CLIPS = "no_clips"
EXPIRED = "expired"  # the challenge closed or expired, or its token did not verify
BOT = "bot"  # every round failed: the cooldown starts (wait_s)
BAD_CREDENTIALS = "bad_credentials"  # the captcha passed but the name or password was wrong
PICK_ALL = "pick_all"  # not every clip of the round has an answer


@dataclass(frozen=True)
class LoginAttempt:
    """One login in progress: who it claims to be, who signs in on a pass (None: wrong credentials,
    not told yet), and the captcha's current round."""

    claimed: str | None
    pending: Session | None
    round: RoundView


@dataclass(frozen=True)
class LoginStep:
    """What a login action led to. status: "round" (a round to answer: the first, or the next after a
    missed one when retry is True), "signed_in" or "refused" (with reason; attempt kept when the same
    round can still be answered)."""

    status: str
    attempt: LoginAttempt | None = None
    session: Session | None = None
    reason: str | None = None
    wait_s: float = 0.0
    retry: bool = False


class LoginFlow:
    def __init__(self, accounts: Accounts, captcha: Captcha, rate_limits: RateLimits):
        self.accounts = accounts
        self.captcha = captcha
        self.rate_limits = rate_limits

    def start(self, username: object, password: object, client: str, session_key: str | None) -> LoginStep:
        """Take the credentials and open a captcha, unless a cooldown or the rate limit stands."""
        claimed = normalize_username(username)
        wait = self.accounts.cooldown_left(claimed, session_key)
        if wait > 0:
            return LoginStep("refused", reason=COOLDOWN, wait_s=wait)
        try:
            self.rate_limits.new_challenge(client)
        except RateLimited as e:
            return LoginStep("refused", reason=RATE_LIMITED, wait_s=e.retry_after)
        pending = self.accounts.authenticate(username, password)
        try:
            view = self.captcha.create(client)
        except NoClips:
            return LoginStep("refused", reason=NO_CLIPS)
        return LoginStep("round", LoginAttempt(claimed, pending, view))

    def answer(self, attempt: LoginAttempt | None, picks: Sequence[str | None], client: str,
               session_key: str | None) -> LoginStep:
        """Answer the round, one pick per clip in the order shown. On a pass the token is redeemed and the
        pending account signs in; on a fail the bot verdict starts its cooldown."""
        if attempt is None:
            return LoginStep("refused", reason=EXPIRED)
        slots = attempt.round.slots
        picks = list(picks)[: len(slots)]
        if len(picks) < len(slots) or any(p is None for p in picks):
            return LoginStep("refused", attempt, reason=PICK_ALL)
        try:
            self.rate_limits.request(client)
        except RateLimited as e:
            return LoginStep("refused", attempt, reason=RATE_LIMITED, wait_s=e.retry_after)
        try:
            result = self.captcha.answer(attempt.round.challenge_id, dict(zip(slots, picks, strict=True)), client)
        except CaptchaError:
            return LoginStep("refused", reason=EXPIRED)
        if result.status == "retry":
            # retry: the last round was wrong, when the feedback policy says so (deferred feedback never does)
            return LoginStep("round", LoginAttempt(attempt.claimed, attempt.pending, result.next_round),
                             retry=result.revealed)
        if result.status == "failed":
            return LoginStep("refused", reason=BOT, wait_s=self.accounts.mark_bot(attempt.claimed, session_key))
        verified, _ = self.captcha.verify_token(result.token)
        if not verified:
            return LoginStep("refused", reason=EXPIRED)
        if attempt.pending is None:
            return LoginStep("refused", reason=BAD_CREDENTIALS)
        return LoginStep("signed_in", session=attempt.pending)

    def audio(self, attempt: LoginAttempt, index: int) -> bytes:
        """The index-th clip of the attempt's round, re-encoded and varied as the API serves it."""
        return self.captcha.audio(attempt.round.challenge_id, attempt.round.slots[index])
