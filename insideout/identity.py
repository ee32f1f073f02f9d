"""Who the client is: the one function that names a client, for the API and the UI alike (rate limits,
votes and challenges are keyed by it), and the network a client's address belongs to (the per-network cap on
counted votes is keyed by it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# One holder of addresses: an IPv4 /24 is what a home, office or hosting customer is commonly given, an IPv6 /48
# what one site is (RFC 6177), so many addresses inside one of them are most likely one party's.
IPV4_NETWORK_PREFIX = 24
IPV6_NETWORK_PREFIX = 48


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
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
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: fall back to what we know
    return hops[0] if hops else peer


def network_of(voter: str) -> str | None:
    """The network of a voter's address: its IPv4 /24 or IPv6 /48 (an IPv4-mapped IPv6 address as its IPv4),
    e.g. "203.0.113.0/24", "2001:db8:1::/48". None when the voter is not an IP address (a signed-in name, or
    "unknown" when the peer was not known): such a voter has no network."""
    try:
        ip = ipaddress.ip_address(voter.strip())
    except (ValueError, AttributeError):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_NETWORK_PREFIX if ip.version == 4 else IPV6_NETWORK_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
