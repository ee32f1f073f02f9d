"""Sites: the websites that embed the captcha, each with a public site key, a secret for siteverify and
the origins its pages are served from.

A challenge is created for one site and its pass token verifies only with that site's secret, so a token
earned on one site is worth nothing on another. The browser may call the API only from a site's own
origins (CORS answers those and no others). Secrets are random 256-bit strings shown once and kept as
their SHA-256. The app's own login is the built-in site (`builtin`): same-origin only, its secret derived
from the secret key, so the app redeems its tokens with siteverify like any other site.

Test keys (public, like Cloudflare Turnstile's) let integrators test their own CI without audio: challenges
of TEST_SITEKEY_PASSES pass on any answer, those of TEST_SITEKEY_FAILS never do, and the test secrets
answer success, failure or "already spent" for any response. Tokens from test keys verify with test secrets
only, and real tokens never verify with a test secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .db.protocol import Metadata

BUILTIN_SITEKEY = "builtin"
BUILTIN_NAME = "InsideOut app"
TEST_SITEKEY_PASSES = "io_test_sitekey_always_passes"
TEST_SITEKEY_FAILS = "io_test_sitekey_always_fails"
TEST_SITEKEYS = (TEST_SITEKEY_PASSES, TEST_SITEKEY_FAILS)
TEST_SECRET_PASSES = "io_test_secret_always_passes"
TEST_SECRET_FAILS = "io_test_secret_always_fails"
TEST_SECRET_SPENT = "io_test_secret_already_spent"
TEST_SECRETS = (TEST_SECRET_PASSES, TEST_SECRET_FAILS, TEST_SECRET_SPENT)

SITEKEY = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
NAME = re.compile(r"^[\w .()'&+-]{1,64}$")
MAX_ORIGINS = 32


class SiteError(ValueError):
    """A site request that cannot be done; the message says why, for people."""


@dataclass(frozen=True)
class Site:
    sitekey: str
    name: str
    origins: tuple[str, ...]
    alternative: bool  # offers the proof-of-work route to people who cannot hear
    created_at: float
    secret_rotated_at: float
    policy: tuple[int, int] | None = None  # (rounds to pass, max rounds) for its challenges; None: the app's

    @property
    def policy_text(self) -> str | None:
        return f"{self.policy[0]}/{self.policy[1]}" if self.policy else None

    @property
    def builtin(self) -> bool:
        return self.sitekey == BUILTIN_SITEKEY

    def as_dict(self) -> dict:
        return {"sitekey": self.sitekey, "name": self.name, "origins": list(self.origins),
                "alternative": self.alternative, "policy": self.policy_text, "created_at": self.created_at,
                "secret_rotated_at": self.secret_rotated_at}


MAX_POLICY_ROUNDS = 5


def parse_policy(text: object) -> tuple[int, int] | None:
    """"K/N" (pass K of at most N rounds, 1 <= K <= N <= 5) as (K, N); None for None or ""; SiteError else."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    k, _, n = str(text).strip().partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n) <= MAX_POLICY_ROUNDS):
        raise SiteError(f"{text!r} is not a policy: give K/N, pass K of at most N rounds (1 <= K <= N <= "
                        f"{MAX_POLICY_ROUNDS}), e.g. 2/3")
    return int(k), int(n)


def normalize_origin(text: str) -> str:
    """`scheme://host[:port]` as browsers send it in Origin (lowercase, default port dropped); SiteError if
    the text is not one (a path, query, user or wildcard)."""
    raw = str(text).strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SiteError(f"{raw!r} is not an origin: give scheme://host[:port], e.g. https://shop.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or "*" in raw:
        raise SiteError(f"{raw!r} is not an origin: no path, query, user or wildcard")
    try:
        port = parts.port
    except ValueError:
        raise SiteError(f"{raw!r} has a bad port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def hostname_of(origin: str | None) -> str | None:
    """The host of an Origin header, or None without a usable one."""
    if not origin:
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def origin_allowed(site: Site | None, origin: str | None, own_hosts: Sequence[str] = ()) -> bool:
    """Whether a browser page at `origin` may use this site's challenges. Test keys: any origin. The
    built-in site: only the app's own pages (the origin's host[:port] is one the app is reached by)."""
    if site is None or not origin:
        return False
    if site.sitekey in TEST_SITEKEYS:
        return True
    try:
        given = normalize_origin(origin)
    except SiteError:
        return False
    if site.builtin:
        return urlsplit(given).netloc in own_hosts
    return given in site.origins


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return "io_secret_" + secrets.token_urlsafe(32)


TEST_SITES = {
    key: Site(key, f"test ({key})", (), True, 0.0, 0.0) for key in TEST_SITEKEYS
}


class Sites:
    """The registry, kept in the metadata store."""

    def __init__(self, db: Metadata, secret_key: str):
        self.db = db
        self._builtin_secret = "io_secret_" + base64.urlsafe_b64encode(
            hmac.new(secret_key.encode(), b"insideout builtin site secret", hashlib.sha256).digest()
        ).rstrip(b"=").decode()
        self._ensure_builtin()

    def _ensure_builtin(self) -> None:
        row = self.db.find_site("sitekey", BUILTIN_SITEKEY)
        now = time.time()
        if row is None:
            self.db.insert_site({"sitekey": BUILTIN_SITEKEY, "name": BUILTIN_NAME,
                                 "secret_hash": _hash(self._builtin_secret), "origins": [],
                                 "alternative": True, "created_at": now, "secret_rotated_at": now})
        elif row["secret_hash"] != _hash(self._builtin_secret):  # the secret key changed
            self.db.set_site_secret(BUILTIN_SITEKEY, _hash(self._builtin_secret), now)

    def builtin_secret(self) -> str:
        return self._builtin_secret

    # -- reading -------------------------------------------------------------------------------

    def all(self) -> list[Site]:
        sites = [_site(r) for r in self.db.sites()]
        return sorted(sites, key=lambda s: (not s.builtin, s.created_at))

    def get(self, sitekey_or_name: str | None) -> Site | None:
        """A site by key or name; the test keys too."""
        if not isinstance(sitekey_or_name, str) or not sitekey_or_name:
            return None
        if sitekey_or_name in TEST_SITES:
            return TEST_SITES[sitekey_or_name]
        row = self.db.find_site("sitekey", sitekey_or_name) or self.db.find_site("name", sitekey_or_name)
        return _site(row) if row else None

    def by_secret(self, secret: str) -> Site | None:
        row = self.db.find_site("secret_hash", _hash(secret))
        return _site(row) if row else None

    # -- changing ------------------------------------------------------------------------------

    def add(self, name: str, origins: Sequence[str], alternative: bool = True,
            policy: str | None = None) -> tuple[Site, str]:
        """Register a site; returns it and its secret (shown once: only its hash is kept). policy: "K/N" for
        its challenges (None: the app's INSIDEOUT_ROUNDS_TO_PASS / INSIDEOUT_MAX_ROUNDS)."""
        parsed = parse_policy(policy)
        name = str(name).strip()
        if not NAME.match(name):
            raise SiteError("a site's name is 1 to 64 letters, digits, spaces or . ( ) ' & + - _")
        if self.get(name) is not None:
            raise SiteError(f"a site named {name!r} exists already")
        normalized = list(dict.fromkeys(normalize_origin(o) for o in origins))
        if not normalized:
            raise SiteError("give at least one origin (--origin https://shop.example)")
        if len(normalized) > MAX_ORIGINS:
            raise SiteError(f"at most {MAX_ORIGINS} origins per site")
        now, secret = time.time(), _new_secret()
        row = {"sitekey": "io_sk_" + secrets.token_urlsafe(18), "name": name, "secret_hash": _hash(secret),
               "origins": normalized, "alternative": bool(alternative),
               "policy": f"{parsed[0]}/{parsed[1]}" if parsed else None, "created_at": now,
               "secret_rotated_at": now}
        if not self.db.insert_site(row):
            raise SiteError(f"a site named {name!r} exists already")
        return _site(row), secret

    def _own(self, sitekey_or_name: str) -> Site:
        site = self.get(sitekey_or_name)
        if site is None or site.sitekey in TEST_SITES:
            raise KeyError(f"no site {sitekey_or_name!r}")
        return site

    def rotate_secret(self, sitekey_or_name: str) -> str:
        """A new secret for the site (the old one stops working at once); KeyError if there is no such site."""
        site = self._own(sitekey_or_name)
        if site.builtin:
            raise SiteError("the built-in site's secret comes from INSIDEOUT_SECRET_KEY: change that to rotate it")
        secret = _new_secret()
        self.db.set_site_secret(site.sitekey, _hash(secret), time.time())
        return secret

    def remove(self, sitekey_or_name: str) -> bool:
        site = self.get(sitekey_or_name)
        if site is None or site.sitekey in TEST_SITES:
            return False
        if site.builtin:
            raise SiteError("the built-in site is the app's own login: it cannot be removed")
        return self.db.delete_site(site.sitekey)


def _site(row: dict) -> Site:
    return Site(row["sitekey"], row["name"], tuple(row["origins"]), bool(row["alternative"]),
                row["created_at"], row["secret_rotated_at"], parse_policy(row.get("policy")))
