"""The login mock: demo accounts, the admin account, roles, and the signed session tokens that keep a
visitor signed in across page reloads.

Accounts live in one JSON file in the data dir with scrypt password hashes. The demo accounts share
a public password (they are a mock, shown on the home page); the `admin` account's password is
INSIDEOUT_ADMIN_PASSWORD, or one generated at first start, printed once and kept only as a hash.

No bot verdict lives here: the captcha engine refuses new challenges to a client that failed too many rounds
lately, so nothing is ever keyed on an account name that anyone can type.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .constant_time import same
from .settings import Settings

ROLES = ("volunteer", "admin")
ADMIN = "admin"
DEMO_USERS = ("alice", "bob", "carol")
DEMO_PASSWORD = "insideout-demo"  # public: shown on the home page
USERNAME = re.compile(r"^[a-z0-9_-]{1,32}$")

# scrypt at n=2**14, r=8 takes 16 MiB and tens of milliseconds: dear for a guesser, cheap for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_CHARS = 256

# A session token keeps a visitor signed in across reloads (the browser keeps it); it names the account, its
# expiry and a nonce, signed with a key derived from the secret key (never the pass tokens' own key).
SESSION_TTL_S = 12 * 3600
SESSION_VERSION = "s1"
MAX_SESSION_TOKEN_CHARS = 256
_SESSION_CONTEXT = b"insideout: session token v1"


class NotAllowed(PermissionError):
    """The signed-in person (or nobody) lacks the role a handler needs."""


@dataclass(frozen=True)
class Session:
    """A signed-in person."""

    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt$n$r$p$salt$digest, every part needed to check the password later."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                  p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, expected)


def normalize_username(username: object) -> str | None:
    """The account name a person typed, lower-cased; None when it cannot be an account name."""
    if not isinstance(username, str):
        return None
    name = username.strip().lower()
    return name if USERNAME.match(name) else None


def _session_mac(payload: str, secret_key: str) -> str:
    key = hmac.new(secret_key.encode(), _SESSION_CONTEXT, hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_session(username: str, secret_key: str, now: float | None = None, ttl_s: float = SESSION_TTL_S) -> str:
    """A session token for the account: `s1.NAME.EXPIRES.NONCE.MAC`, valid for ttl_s seconds. It carries no
    role: whoever reads it back takes the role from the account file as it is then."""
    name = normalize_username(username)
    if name is None or name != username:
        raise ValueError(f"not an account name: {username!r}")
    if not secret_key:
        raise ValueError("a session token needs the secret key")
    now = time.time() if now is None else now
    payload = f"{SESSION_VERSION}.{name}.{int(now + ttl_s)}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_session_mac(payload, secret_key)}"


@dataclass(frozen=True)
class SessionClaim:
    """What a session token whose signature holds says: the account, when it ends, and its nonce."""

    username: str
    expires_at: int
    nonce: str


def read_session(token: object, secret_key: str, now: float | None = None) -> SessionClaim | None:
    """The claim of a session token signed with secret_key and not expired; None for anything else (a damaged,
    tampered, foreign or expired token, or no key)."""
    if not isinstance(token, str) or not token or len(token) > MAX_SESSION_TOKEN_CHARS or not secret_key:
        return None
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != SESSION_VERSION:
        return None
    payload, mac = ".".join(parts[:4]), parts[4]
    if not same(_session_mac(payload, secret_key), mac):
        return None
    _, name, expires, nonce = parts[:4]
    if normalize_username(name) != name or not expires.isdecimal() or not nonce:
        return None
    now = time.time() if now is None else now
    if int(expires) <= now:
        return None
    return SessionClaim(name, int(expires), nonce)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when the account does not exist, so that a wrong name costs the same
    time as a wrong password and timing does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


class Accounts:
    def __init__(self, data_dir: str | Path, admin_password: str | None = None,
                 announce: Callable[[str], None] = print, secret_key: str = "",
                 session_ttl_s: float = SESSION_TTL_S):
        self.path = Path(data_dir) / "accounts.json"
        self._announce = announce
        self._lock = threading.Lock()
        self._admin_password = admin_password
        self._table: dict[str, dict[str, str]] | None = None
        self._secret_key = secret_key
        self.session_ttl_s = session_ttl_s
        self._ended: dict[str, float] = {}  # nonces of session tokens ended by a logout -> their expiry

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs) -> Accounts:
        return cls(settings.data_dir, settings.admin_password, secret_key=settings.secret_key, **kwargs)

    # -- the account file ----------------------------------------------------------------------

    def load(self) -> None:
        """Read the account file, creating it (and announcing a generated admin password) on first use.
        A server calls this at start; a command that never signs anyone in never creates the file."""
        with self._lock:
            if self._table is None:
                self._table = self._load_or_create(self._admin_password)

    @property
    def _accounts(self) -> dict[str, dict[str, str]]:
        if self._table is None:
            self.load()
        return self._table

    def _load_or_create(self, admin_password: str | None) -> dict[str, dict[str, str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            accounts = {name: {"role": "volunteer", "password": hash_password(DEMO_PASSWORD)}
                        for name in DEMO_USERS}
            generated = None
            if admin_password is None:
                generated = admin_password = secrets.token_urlsafe(12)
            accounts[ADMIN] = {"role": "admin", "password": hash_password(admin_password)}
            if self._create(accounts):
                if generated:
                    self._announce(
                        f"InsideOut: the admin password is {generated} (shown once; kept hashed in "
                        f"{self.path}; set INSIDEOUT_ADMIN_PASSWORD to choose one)"
                    )
                return accounts
            # Another process created the file first: use its accounts.
        accounts = self._read()
        admin = accounts.get(ADMIN)
        if admin_password is not None and (
            admin is None or not verify_password(admin_password, admin["password"])
        ):
            # The setting is the source of truth: a changed INSIDEOUT_ADMIN_PASSWORD takes effect.
            accounts[ADMIN] = {"role": "admin", "password": hash_password(admin_password)}
            self._replace(accounts)
        elif admin is None:
            generated = secrets.token_urlsafe(12)
            accounts[ADMIN] = {"role": "admin", "password": hash_password(generated)}
            self._replace(accounts)
            self._announce(f"InsideOut: the admin password is {generated} (shown once)")
        return accounts

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
            accounts = data["accounts"]
            for name, record in accounts.items():
                if not USERNAME.match(name) or record["role"] not in ROLES or "password" not in record:
                    raise ValueError(name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RuntimeError(f"{self.path} is damaged ({e}); delete it to recreate the accounts") from None
        return accounts

    def _write_tmp(self, accounts: dict) -> Path:
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "accounts": accounts}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def _create(self, accounts: dict) -> bool:
        """Write the file only if none exists (a link never replaces): False if one did."""
        tmp = self._write_tmp(accounts)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _replace(self, accounts: dict) -> None:
        os.replace(self._write_tmp(accounts), self.path)

    # -- signing in ----------------------------------------------------------------------------

    def authenticate(self, username: object, password: object) -> Session | None:
        """The session of the account if the password is right; None otherwise, in like time."""
        name = normalize_username(username)
        record = self._accounts.get(name) if name else None
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            password = ""
        ok = verify_password(password, record["password"] if record else _dummy_hash())
        if record is None or not ok or not password:
            return None
        return Session(name, record["role"])

    def role(self, username: str) -> str | None:
        record = self._accounts.get(username)
        return record["role"] if record else None

    def usernames(self) -> list[str]:
        return sorted(self._accounts)

    def require_admin(self, session: Session | None) -> Session:
        """The session, if it belongs to an account that is an admin now; NotAllowed otherwise."""
        if session is None or not isinstance(session, Session):
            raise NotAllowed("sign in as an administrator")
        if self.role(session.username) != "admin":
            raise NotAllowed("this needs the administrator role")
        return session

    def require_user(self, session: Session | None) -> Session:
        if session is None or not isinstance(session, Session) or self.role(session.username) is None:
            raise NotAllowed("sign in first")
        return session

    # -- sessions that outlive a page reload ---------------------------------------------------------

    def session_token(self, session: Session, now: float | None = None) -> str | None:
        """A signed token the browser keeps so that a reload finds the person still signed in (None without a
        secret key: then a reload signs out, as before)."""
        if not self._secret_key:
            return None
        return sign_session(session.username, self._secret_key, now, self.session_ttl_s)

    def restore(self, token: object, now: float | None = None) -> Session | None:
        """The session a kept token stands for: its signature holds, it has not expired nor been ended by a
        logout, and its account still exists (with the role the account file gives it now)."""
        claim = read_session(token, self._secret_key, now)
        if claim is None:
            return None
        with self._lock:
            if claim.nonce in self._ended:
                return None
        role = self.role(claim.username)
        return Session(claim.username, role) if role else None

    def end_session(self, token: object, now: float | None = None) -> None:
        """A logout: the token no longer restores anything in this process, even if a copy of it was kept."""
        claim = read_session(token, self._secret_key, now)
        if claim is None:
            return
        now = time.time() if now is None else now
        with self._lock:
            for nonce in [n for n, until in self._ended.items() if until <= now]:
                del self._ended[nonce]  # expired tokens are refused anyway: keep the table small
            self._ended[claim.nonce] = claim.expires_at
