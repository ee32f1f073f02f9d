"""How often a client may ask: sliding-window limits and the one policy the API and the UI share.

A client is whatever `identity.client_address` names. Every request counts against the request limit;
a new challenge also counts against the (much lower) challenge limit, since each one costs clips.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol


class RateLimited(Exception):
    """The client asked too often; `retry_after` is the seconds until it may again."""

    def __init__(self, retry_after: float, what: str):
        super().__init__(f"too many {what}; retry in {retry_after:.0f} s")
        self.retry_after = retry_after
        self.what = what

    @property
    def retry_after_header(self) -> str:
        return str(int(self.retry_after) + 1)


class Window(Protocol):
    """Counts a key's events and refuses past a limit: RateLimiter in process, or a window every replica shares
    (insideout.db.dynamo_limits.SharedWindow)."""

    def hit(self, key: str, now: float | None = None) -> float: ...

    def count(self, key: str, now: float | None = None) -> int: ...


class RateLimiter:
    """At most `limit` events per key in any sliding window of `window_s` seconds (in process)."""

    def __init__(self, limit: int, window_s: float = 60.0, max_keys: int = 100_000):
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Record an event; returns 0 if allowed, else the seconds until one would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._forget_idle(now)
                events = self._events[key] = deque()
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return max(0.001, events[0] + self.window_s - now)
            events.append(now)
            return 0.0

    def count(self, key: str, now: float | None = None) -> int:
        """Events of `key` in the window ending now. Read-only: records nothing and forgets nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(key)
            return sum(1 for t in events if t > now - self.window_s) if events else 0

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]
        for k in idle:
            del self._events[k]


@dataclass(frozen=True)
class RateLimits:
    """The one rate-limit policy: INSIDEOUT_REQUEST_LIMIT_PER_MIN for every request of a client, and
    INSIDEOUT_RATE_LIMIT_PER_MIN for its new challenges."""

    requests: Window
    challenges: Window

    @classmethod
    def per_minute(cls, requests: int, challenges: int) -> RateLimits:
        return cls(RateLimiter(requests), RateLimiter(challenges))

    def request(self, client: str) -> None:
        """Any request (audio, answer, siteverify, a page action); RateLimited when over the limit."""
        wait = self.requests.hit(client)
        if wait:
            raise RateLimited(wait, "requests")

    def new_challenge(self, client: str) -> None:
        """A request that opens a challenge: counts as a request and as a new challenge."""
        self.request(client)
        wait = self.challenges.hit(client)
        if wait:
            raise RateLimited(wait, "new challenges")

    def recent_challenges(self, client: str) -> int:
        """Challenges the client opened in the last window (a minute), read without counting anything: the
        proof of work's difficulty rises with it (insideout.pow.required_difficulty)."""
        return self.challenges.count(client)
