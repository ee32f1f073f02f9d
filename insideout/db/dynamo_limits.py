"""Rate-limit windows in DynamoDB, so that every replica counts a client's requests against one allowance.

A fixed window per client and minute: one item per (what, client, window start), whose counter a conditional
add raises only while it is under the limit, so two replicas racing for a client's last request cannot both
win it. Items expire by TTL soon after their window. A fixed window lets a client spend its allowance at the
end of one minute and again at the start of the next (up to twice the limit in any 60 s straddling the
boundary); the in-process limiter beside SQLite slides instead. The price of sharing: one write per request.
"""

from __future__ import annotations

import math
import time

from .dynamo_client import Dynamo, Update

KEEP_S = 120  # past its window's end, an item lingers this long before TTL may remove it


class SharedWindow:
    """At most `limit` events per key in each fixed window of `window_s` seconds, shared through DynamoDB."""

    def __init__(self, dynamo: Dynamo, what: str, limit: int, window_s: float = 60.0):
        self.d = dynamo
        self.what = what
        self.limit = limit
        self.window_s = window_s

    def _window(self, key: str, now: float) -> tuple[str, float]:
        start = math.floor(now / self.window_s) * self.window_s
        return f"{self.what}#{key}#{int(start)}", start + self.window_s

    def hit(self, key: str, now: float | None = None) -> float:
        """Record an event; returns 0 if allowed, else the seconds until one would be."""
        now = time.time() if now is None else now  # wall clock: replicas on several machines share it
        item_key, end = self._window(key, now)
        allowed = self.d.update("limits", {"key": item_key}, Update(
            adds={"n": 1}, sets={"ttl": int(end) + KEEP_S},
            condition="attribute_not_exists(n) OR n < :limit", values={":limit": self.limit}))
        return 0.0 if allowed else max(0.001, end - now)

    def count(self, key: str, now: float | None = None) -> int:
        """Events of `key` in the current window. Read-only."""
        item_key, _ = self._window(key, time.time() if now is None else now)
        return int((self.d.get("limits", key=item_key) or {}).get("n", 0))
