"""The client of an HTTP request, as the API and the Gradio views both name it (identity.client_address)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..identity import Network, client_address, client_key, is_trusted
from ..settings import Settings


def client_of(request, settings: Settings) -> str:
    """A Starlette request's client: the API's request, or the one inside a gr.Request (its .request), its
    address grouped as identity.client_key says (IPv6 by /64 by default). 'unknown' when there is none (a
    handler called outside a request)."""
    inner = getattr(request, "request", request)  # gr.Request wraps the Starlette request
    if inner is None or not hasattr(inner, "headers"):
        return "unknown"
    peer = inner.client.host if getattr(inner, "client", None) else None
    address = client_address(peer, inner.headers.get("x-forwarded-for"), settings.trusted_proxies)
    return client_key(address, settings.client_ipv4_prefix, settings.client_ipv6_prefix)


def own_hosts(headers, peer: str | None, trusted_proxies: Sequence[Network]) -> tuple[str, ...]:
    """The host[:port] names this app is reached by, for the built-in site's same-origin rule: the Host the
    request was sent to, the X-Forwarded-Host a trusted proxy set (Hugging Face Spaces' proxy rewrites Host),
    and SPACE_HOST, which Spaces sets."""
    hosts = [headers.get("host")]
    if peer is not None and is_trusted(peer, trusted_proxies):
        hosts.append((headers.get("x-forwarded-host") or "").split(",")[0].strip())
    hosts.append(os.environ.get("SPACE_HOST"))
    return tuple(h.lower() for h in hosts if h)
