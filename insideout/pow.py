"""Proof of work before a new challenge: hashcash puzzles, as ALTCHA and mCaptcha ask of a browser.

It owns the rules, and knows nothing of HTTP: how a puzzle is issued (a random salt, a difficulty, an expiry,
and an HMAC signature under the app's secret key, so the server keeps nothing until a solution comes back), what
solves it (a nonce whose SHA-256 of `salt + nonce` starts with `difficulty` zero bits), which solution is
refused and why, that a puzzle is spent once, how the difficulty rises with a client's recent rate of new
challenges, and a solver (the bot lab, the tests and the benchmark use it; web/static/pow.js is the browser's).

Why: a person opens a challenge now and then, and one puzzle costs their browser a fraction of a second; a bot
that opens thousands pays that CPU for each, more the faster it asks from one address. The work does not tell a
person from a bot; it puts a price on volume.

The hashed text is ASCII: the salt's 32 lowercase hex digits, then the nonce's 1 to 16 lowercase hex digits.
Expected work at difficulty d is 2**d hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .constant_time import same

ALGORITHM = "SHA-256"
SALT_BYTES = 16  # 32 hex digits
PUZZLE_TTL_S = 120  # long enough for a slow phone at the highest difficulty a person meets; short for hoarding
FREE_PER_MIN = 3  # challenges a client may open in a minute before its difficulty rises
MAX_DIFFICULTY = 32  # the rise stops here; a client this fast is past the rate limit anyway
MAX_NONCE_DIGITS = 16  # 64 bits: more tries than any difficulty here needs
MAX_EXPIRES_AT = 2**53  # what a JSON number holds exactly

_SALT = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{1,16}")
_FIELDS = frozenset({"algorithm", "salt", "difficulty", "expires_at", "signature", "nonce"})


class PowRefused(Exception):
    """A solution is refused. `code` says why: pow_required (none given), pow_invalid (malformed, tampered, or the
    nonce does not solve it), pow_expired, pow_too_easy (the client's rate rose since it was issued: fetch a new
    one), pow_reused (already spent), pow_busy (too many live puzzles spent to remember one more)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Puzzle:
    """What a client gets: nothing in it names a clip, a label or the client."""

    salt: str  # 32 lowercase hex digits
    difficulty: int  # leading zero bits the digest must have
    expires_at: int  # Unix seconds
    signature: str  # 64 lowercase hex digits: HMAC-SHA256 of the fields above under the app's key
    algorithm: str = ALGORITHM

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "salt": self.salt, "difficulty": self.difficulty,
                "expires_at": self.expires_at, "signature": self.signature}


@dataclass(frozen=True)
class Solution:
    puzzle: Puzzle
    nonce: str  # 1 to 16 lowercase hex digits

    def as_dict(self) -> dict[str, Any]:
        return {**self.puzzle.as_dict(), "nonce": self.nonce}


def _key(secret: str) -> bytes:
    # A key of its own, derived from the app's secret: a pass token's signature can never stand for a puzzle's.
    return hmac.new(secret.encode(), b"insideout proof of work v1", hashlib.sha256).digest()


def sign(secret: str, salt: str, difficulty: int, expires_at: int, algorithm: str = ALGORITHM) -> str:
    """The puzzle's signature: HMAC-SHA256 under a key derived from the app's secret."""
    message = f"{algorithm}|{salt}|{difficulty}|{expires_at}".encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def required_difficulty(base: int, recent: int, free: int = FREE_PER_MIN, cap: int = MAX_DIFFICULTY) -> int:
    """The difficulty for a client that opened `recent` challenges in the last minute: `base` up to `free` of
    them, then one bit more per doubling beyond (base + ceil(log2(recent / free))), so each challenge costs twice
    the work when the rate doubles; never below base, never above max(cap, base). 0 stays 0 (off)."""
    if base <= 0:
        return 0
    extra = ((max(recent, 1) - 1) // max(free, 1)).bit_length()  # ceil(log2(recent / free)), in integers
    return min(base + extra, max(cap, base))


def issue(secret: str, difficulty: int, now: float | None = None, ttl_s: int = PUZZLE_TTL_S) -> Puzzle:
    """A new signed puzzle of `difficulty` bits that expires `ttl_s` seconds from `now`."""
    if not 0 <= difficulty <= 256:
        raise ValueError(f"difficulty {difficulty} is not between 0 and 256 bits")
    salt = secrets.token_hex(SALT_BYTES)
    expires_at = int(time.time() if now is None else now) + ttl_s
    return Puzzle(salt, difficulty, expires_at, sign(secret, salt, difficulty, expires_at))


def digest(salt: str, nonce: str) -> bytes:
    """SHA-256 of the ASCII text salt + nonce."""
    return hashlib.sha256(f"{salt}{nonce}".encode("ascii")).digest()


def leading_zero_bits(data: bytes) -> int:
    """How many bits at the start of `data` are zero."""
    value = int.from_bytes(data, "big")
    return len(data) * 8 - value.bit_length()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_solution(data: Any) -> Solution:
    """A solution from what a client sent (a JSON object); PowRefused("pow_invalid") for anything malformed:
    a non-object, unknown or missing fields, wrong types, non-hex or over-long text, numbers out of range."""
    def bad(why: str) -> PowRefused:
        return PowRefused("pow_invalid", f"the proof of work is malformed: {why}")

    if not isinstance(data, Mapping):
        raise bad("expected an object with salt, difficulty, expires_at, signature and nonce")
    unknown = set(map(str, data)) - _FIELDS
    if unknown:
        raise bad(f"unknown fields {', '.join(sorted(unknown))[:100]}")
    missing = sorted(_FIELDS - {"algorithm"} - set(data))
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    algorithm, salt, signature, nonce = (data.get("algorithm", ALGORITHM), data["salt"], data["signature"],
                                         data["nonce"])
    difficulty, expires_at = data["difficulty"], data["expires_at"]
    if algorithm != ALGORITHM:
        raise bad(f"algorithm must be {ALGORITHM}")
    for name, value, pattern in (("salt", salt, _SALT), ("signature", signature, _SIGNATURE),
                                 ("nonce", nonce, _NONCE)):
        # The length first: a huge string is refused without scanning it.
        if not isinstance(value, str) or len(value) > 64 or not pattern.fullmatch(value):
            raise bad(f"{name} must be lowercase hex" + (f" of 1 to {MAX_NONCE_DIGITS} digits" if name == "nonce"
                                                         else ""))
    if not _is_int(difficulty) or not 0 <= difficulty <= 256:
        raise bad("difficulty must be a whole number of bits")
    if not _is_int(expires_at) or not 0 <= expires_at <= MAX_EXPIRES_AT:
        raise bad("expires_at must be whole Unix seconds")
    return Solution(Puzzle(salt, difficulty, expires_at, signature, algorithm), nonce)


def check(solution: Solution, secret: str, required: int, now: float | None = None) -> None:
    """Raise PowRefused unless the solution is of a puzzle this server signed, not expired, at least `required`
    bits (the client's difficulty now), and its nonce solves it. Spending it is SpentPuzzles' business."""
    p = solution.puzzle
    expected = sign(secret, p.salt, p.difficulty, p.expires_at, p.algorithm)
    if not same(expected, p.signature):
        raise PowRefused("pow_invalid", "the puzzle was not issued by this server, or was changed")
    if (time.time() if now is None else now) >= p.expires_at:
        raise PowRefused("pow_expired", "the puzzle has expired: fetch a new one")
    if p.difficulty < required:
        raise PowRefused("pow_too_easy", f"this client now needs {required} bits: fetch a new puzzle")
    if leading_zero_bits(digest(p.salt, solution.nonce)) < p.difficulty:
        raise PowRefused("pow_invalid", "the nonce does not solve the puzzle")


def solve(puzzle: Puzzle, max_tries: int | None = None) -> Solution:
    """The first nonce (counting up from 0, in hex) that solves the puzzle: 2**difficulty tries on average, on
    one core. RuntimeError after max_tries."""
    prefix = hashlib.sha256(puzzle.salt.encode("ascii"))
    whole, rest = divmod(puzzle.difficulty, 8)
    zeros = bytes(whole)
    limit = 256 >> rest  # the next byte must be below this
    tries = itertools.count() if max_tries is None else range(max_tries)
    for n in tries:
        h = prefix.copy()
        h.update(b"%x" % n)
        d = h.digest()
        if d[:whole] == zeros and (rest == 0 or d[whole] < limit):
            return Solution(puzzle, f"{n:x}")
    raise RuntimeError(f"no solution in {max_tries} tries")


class SpentPuzzles:
    """Puzzles already spent, each remembered until it expires, so a solution opens one challenge only.

    In process and bounded: it holds at most `max_entries` live puzzles (at PUZZLE_TTL_S, far more than a server
    opens challenges); when full of live ones it refuses (pow_busy) rather than forget one that could then be
    replayed. Several replicas behind a load balancer each have their own memory: a solution could then be spent
    once per replica. They need the shared metadata backend (a conditional put keyed by the salt) instead.
    """

    def __init__(self, max_entries: int = 200_000):
        self.max_entries = max_entries
        self._spent: OrderedDict[str, int] = OrderedDict()  # salt -> expires_at, in the order spent
        self._lock = threading.Lock()

    def _forget_expired(self, now: float) -> None:
        # Puzzles share one lifetime, so the order spent is nearly the order of expiry; a straggler stays a little
        # longer, which only errs toward refusing.
        while self._spent:
            salt, expires_at = next(iter(self._spent.items()))
            if expires_at > now:
                break
            del self._spent[salt]

    def is_spent(self, puzzle: Puzzle) -> bool:
        with self._lock:
            return puzzle.salt in self._spent

    def spend(self, puzzle: Puzzle, now: float | None = None) -> None:
        """Mark the puzzle spent; PowRefused("pow_reused") if it already was, ("pow_busy") when full."""
        now = time.time() if now is None else now
        with self._lock:
            if puzzle.salt in self._spent:
                raise PowRefused("pow_reused", "this puzzle was already spent: fetch a new one")
            self._forget_expired(now)
            if len(self._spent) >= self.max_entries:
                raise PowRefused("pow_busy", "too many puzzles in flight; try again shortly")
            self._spent[puzzle.salt] = puzzle.expires_at

    def __len__(self) -> int:
        with self._lock:
            return len(self._spent)
