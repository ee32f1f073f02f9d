"""The login flow of the demo site, the same as any website's that embeds the widget.

The home page's form holds the widget of the built-in site (sitekey `builtin`, action `login`). The widget
plays the captcha through the HTTP API like on any other site and puts its pass token in the form; the
login then redeems the token with siteverify and the built-in site's secret, as a third-party server would,
and only after a verified token checks the credentials. So every password guess costs one captcha pass, and
a wrong password is told the same way whatever was wrong.

The bot verdict is the captcha engine's: it refuses new challenges to a client that failed too many rounds
lately (the widget shows the wait). The login keeps no lockout of its own, so no account name can be locked,
by anybody. Each sign-in counts against the one rate-limit policy.

A person who signed in gets a signed, expiring session token (insideout.accounts) that the browser keeps:
a page reload restores the session from it, and a logout ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .accounts import Accounts, Session
from .ratelimit import RateLimited, RateLimits

ACTION = "login"  # the widget's data-action on the home page; a token earned for another action is refused
MAX_TOKEN_CHARS = 2048

# Why a sign-in was refused: the web layer says each in the visitor's language.
RATE_LIMITED = "rate_limited"
CAPTCHA_NEEDED = "captcha_needed"  # no pass token came with the form: solve the captcha first
EXPIRED = "expired"  # the token expired or was already used: solve the captcha again
CAPTCHA_REFUSED = "captcha_refused"  # the token did not verify for this site and action
BAD_CREDENTIALS = "bad_credentials"  # the captcha passed but the name or password was wrong


class _Verdict(Protocol):
    success: bool
    error_codes: tuple[str, ...]
    action: str | None


class _Verifier(Protocol):
    def siteverify(self, secret, response, remoteip=None, idempotency_key=None, now=None) -> _Verdict: ...


class _Sites(Protocol):
    def builtin_secret(self) -> str: ...


@dataclass(frozen=True)
class LoginStep:
    """What a sign-in led to: "signed_in" (with the session and the token the browser keeps, None when no
    secret key signs one) or "refused" (with the reason, and wait_s for a rate limit)."""

    status: str
    session: Session | None = None
    session_token: str | None = None
    reason: str | None = None
    wait_s: float = 0.0

    @property
    def signed_in(self) -> bool:
        return self.status == "signed_in"


class LoginFlow:
    def __init__(self, accounts: Accounts, rate_limits: RateLimits, verifier: _Verifier, sites: _Sites):
        self.accounts = accounts
        self.rate_limits = rate_limits
        self.verifier = verifier
        self.sites = sites

    def sign_in(self, username: object, password: object, token: object, client: str,
                now: float | None = None) -> LoginStep:
        """Redeem the widget's pass token with the built-in site's secret; only then check the credentials."""
        try:
            self.rate_limits.request(client)
        except RateLimited as e:
            return LoginStep("refused", reason=RATE_LIMITED, wait_s=e.retry_after)
        token = token.strip() if isinstance(token, str) else ""
        if not token:
            return LoginStep("refused", reason=CAPTCHA_NEEDED)
        if len(token) > MAX_TOKEN_CHARS:
            return LoginStep("refused", reason=CAPTCHA_REFUSED)
        verdict = self.verifier.siteverify(self.sites.builtin_secret(), token, remoteip=client, now=now)
        if not verdict.success:
            expired = "timeout-or-duplicate" in verdict.error_codes
            return LoginStep("refused", reason=EXPIRED if expired else CAPTCHA_REFUSED)
        if verdict.action != ACTION:
            return LoginStep("refused", reason=CAPTCHA_REFUSED)
        session = self.accounts.authenticate(username, password)
        if session is None:
            return LoginStep("refused", reason=BAD_CREDENTIALS)
        return LoginStep("signed_in", session=session, session_token=self.accounts.session_token(session, now))

    def restore(self, session_token: object, now: float | None = None) -> Session | None:
        """The session a token kept by the browser stands for (after a page reload), or None."""
        return self.accounts.restore(session_token, now)

    def sign_out(self, session_token: object, now: float | None = None) -> None:
        """End the kept token's session, so that a copy of it restores nothing."""
        self.accounts.end_session(session_token, now)
