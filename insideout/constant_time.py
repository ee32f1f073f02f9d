"""Comparing a secret with what a client sent, in constant time, for any text the client may send.

hmac.compare_digest raises TypeError on str that is not ASCII, so `{"token": "v1.abc.é"}` once answered 500.
Comparing the UTF-8 bytes (surrogatepass: JSON may carry lone surrogates) refuses such text like any
other wrong value."""

from __future__ import annotations

import hmac


def same(expected: str, given: str) -> bool:
    """Whether given equals expected, in time that does not depend on where they differ."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))
