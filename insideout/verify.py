"""siteverify: a website's server redeems a visitor's pass token with its own secret.

A token verifies once, before it expires, and only with the secret of the site it was earned for: a token
from another site is refused without being spent, so it stays good where it belongs. The answer names
what the site should check (the hostname of the page that solved it, the action, and the route, `audio` or
`pow`). With an idempotency key, a retry of the same call (same key, same response) gets the first answer
again instead of "already spent". Error codes are Cloudflare Turnstile's where they mean the same.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from .captcha import Captcha
from .db.protocol import Metadata
from .sites import TEST_SECRET_PASSES, TEST_SECRET_SPENT, TEST_SECRETS, TEST_SITEKEY_PASSES, Sites

MISSING_SECRET = "missing-input-secret"
INVALID_SECRET = "invalid-input-secret"
MISSING_RESPONSE = "missing-input-response"
INVALID_RESPONSE = "invalid-input-response"
SPENT = "timeout-or-duplicate"
BAD_REQUEST = "bad-request"
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_SECRET_CHARS = 256


@dataclass(frozen=True)
class Verdict:
    success: bool
    error_codes: tuple[str, ...] = ()
    challenge_ts: str | None = None  # when the challenge was passed, ISO 8601 UTC
    hostname: str | None = None  # the page's host when the challenge was created (None: no Origin was sent)
    sitekey: str | None = None
    action: str | None = None
    method: str | None = None  # "audio" or "pow"

    def as_dict(self) -> dict:
        return {**asdict(self), "error_codes": list(self.error_codes)}


def refused(*codes: str) -> Verdict:
    return Verdict(False, tuple(codes))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Verifier:
    def __init__(self, sites: Sites, captcha: Captcha, db: Metadata):
        self.sites, self.captcha, self.db = sites, captcha, db

    def siteverify(self, secret: object, response: object, remoteip: object = None,
                   idempotency_key: object = None, now: float | None = None) -> Verdict:
        """Redeem `response` (a pass token) for the site whose secret this is. remoteip is accepted for
        Turnstile compatibility and not checked: a visitor's address may change between solving and posting."""
        now = time.time() if now is None else now
        if not isinstance(secret, str) or not secret:
            return refused(MISSING_SECRET)
        if not isinstance(response, str) or not response:
            return refused(MISSING_RESPONSE)
        if secret in TEST_SECRETS:
            return _test_verdict(secret, now)
        # Secrets and tokens are ASCII: other text is refused here, before it is hashed or stored.
        site = self.sites.by_secret(secret) if len(secret) <= MAX_SECRET_CHARS and secret.isascii() else None
        if site is None:
            return refused(INVALID_SECRET)
        if not response.isascii():
            return refused(INVALID_RESPONSE)
        if idempotency_key is not None and not (isinstance(idempotency_key, str)
                                                and IDEMPOTENCY_KEY.match(idempotency_key)):
            return refused(BAD_REQUEST)
        digest = hashlib.sha256(response.encode()).hexdigest()
        if idempotency_key is not None:
            kept = self.db.remembered_verification(site.sitekey, idempotency_key, now)
            if kept is not None:
                # The same call again: its first answer. The key with another response is a caller's mistake.
                return _kept(kept) if kept["response_hash"] == digest else refused(BAD_REQUEST)
        verdict = self._redeem(site.sitekey, response, now)
        if idempotency_key is not None and not self.db.remember_verification(
                site.sitekey, idempotency_key, digest, verdict.as_dict(), now):
            kept = self.db.remembered_verification(site.sitekey, idempotency_key, now)  # a racing call with this key
            if kept is not None and kept["response_hash"] == digest and kept["answer"]["success"]:
                return _kept(kept)
        return verdict

    def _redeem(self, sitekey: str, response: str, now: float) -> Verdict:
        claims = self.captcha.read_token(response)
        if claims is None:
            return refused(INVALID_RESPONSE)
        challenge = self.db.get_challenge(claims.challenge_id)
        if challenge is None or challenge.site != sitekey:
            return refused(INVALID_RESPONSE)  # another site's token: refused, and not spent
        outcome = self.captcha.spend_token(claims, now)
        if outcome in ("used", "expired"):
            return refused(SPENT)
        if outcome != "ok":
            return refused(INVALID_RESPONSE)
        return Verdict(True, (), iso(challenge.closed_at or challenge.created_at), challenge.hostname,
                       challenge.site, challenge.action, challenge.method)


def _kept(kept: dict) -> Verdict:
    return Verdict(**{**kept["answer"], "error_codes": tuple(kept["answer"]["error_codes"])})


def _test_verdict(secret: str, now: float) -> Verdict:
    if secret == TEST_SECRET_PASSES:
        return Verdict(True, (), iso(now), "example.com", TEST_SITEKEY_PASSES, None, "audio")
    if secret == TEST_SECRET_SPENT:
        return refused(SPENT)
    return refused(INVALID_RESPONSE)
