"""The login mock: demo accounts, the admin account, roles, and the bot verdict's cooldown.

Accounts live in one JSON file in the data dir with scrypt password hashes. The demo accounts share
a public password (they are a mock, shown on the home page); the `admin` account's password is
INSIDEOUT_ADMIN_PASSWORD, or one generated at first start, printed once and kept only as a hash.
"""

from __future__ import annotations

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

from .settings import Settings

ROLES = ("volunteer", "admin")
ADMIN = "admin"
DEMO_USERS = ("alice", "bob", "carol")
DEMO_PASSWORD = "insideout-demo"  # public: shown on the home page
COOLDOWN_S = 60.0
USERNAME = re.compile(r"^[a-z0-9_-]{1,32}$")

# scrypt at n=2**14, r=8 takes 16 MiB and tens of milliseconds: dear for a guesser, cheap for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_CHARS = 256


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


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when the account does not exist, so that a wrong name costs the same
    time as a wrong password and timing does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


class Accounts:
    def __init__(self, data_dir: str | Path, admin_password: str | None = None,
                 cooldown_s: float = COOLDOWN_S, announce: Callable[[str], None] = print):
        self.path = Path(data_dir) / "accounts.json"
        self.cooldown_s = cooldown_s
        self._announce = announce
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}  # cooldown key -> monotonic time it ends
        self._admin_password = admin_password
        self._table: dict[str, dict[str, str]] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs) -> Accounts:
        return cls(settings.data_dir, settings.admin_password, **kwargs)

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

    # -- the bot verdict -----------------------------------------------------------------------

    @staticmethod
    def _keys(username: str | None, session_key: str | None) -> list[str]:
        keys = []
        if username:
            keys.append(f"user:{username}")
        if session_key:
            keys.append(f"session:{session_key}")
        return keys

    def mark_bot(self, username: str | None, session_key: str | None,
                 now: float | None = None) -> float:
        """After a failed captcha: refuse new attempts of this account name and this browser session
        for the cooldown. Returns its length in seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in [k for k, until in self._until.items() if until <= now]:
                del self._until[key]  # keep the table small
            for key in self._keys(username, session_key):
                self._until[key] = now + self.cooldown_s
        return self.cooldown_s

    def cooldown_left(self, username: str | None, session_key: str | None,
                      now: float | None = None) -> float:
        """Seconds until this account name and session may try again; 0 when they may now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            ends = [self._until.get(k, 0.0) for k in self._keys(username, session_key)]
        return max([0.0, *(end - now for end in ends)])
