"""Who the client is: the one function that names a client, for the API and the UI alike (rate limits,
votes and challenges are keyed by it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The socket peer, unless it is a trusted proxy: then the nearest X-Forwarded-For entry that
    is not itself a trusted proxy. Entries left of an untrusted one are the client's own claims and
    are ignored, so a client cannot pick its own address by sending the header."""
    peer = (peer or "unknown").strip()
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to what we know
    return hops[0] if hops else peer
