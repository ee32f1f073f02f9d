"""The client of an HTTP request, as the API and the Gradio views both name it (identity.client_address)."""

from __future__ import annotations

from collections.abc import Sequence

from ..identity import Network, client_address


def client_of(request, trusted_proxies: Sequence[Network]) -> str:
    """A Starlette request's client: the API's request, or the one inside a gr.Request (its .request).
    'unknown' when there is none (a handler called outside a request)."""
    inner = getattr(request, "request", request)  # gr.Request wraps the Starlette request
    if inner is None or not hasattr(inner, "headers"):
        return "unknown"
    peer = inner.client.host if getattr(inner, "client", None) else None
    return client_address(peer, inner.headers.get("x-forwarded-for"), trusted_proxies)
