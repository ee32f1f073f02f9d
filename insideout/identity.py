"""Who the client is: the one function that names a client, for the API and the UI alike (rate limits,
votes and challenges are keyed by it), and the network a client's address belongs to (the per-network cap on
counted votes is keyed by it)."""

from __future__ import annotations

import hashlib
import hmac
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


def client_key(address: str, ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> str:
    """The client an address stands for, for limits, challenges and votes: an IPv4 address masked to ipv4_prefix
    bits (32: the address itself), an IPv6 one to ipv6_prefix bits, written as a network ("2001:db8:1:2::/64"),
    since one host is commonly given a whole /64 and could otherwise be 2^64 clients. An IPv4-mapped IPv6
    address is its IPv4. Anything that is not an address ("unknown") is kept as it is."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except (ValueError, AttributeError):
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    if prefix >= ip.max_prefixlen:
        return str(ip)
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def network_of(voter: str) -> str | None:
    """The network of a voter (an address, or the network client_key names): its IPv4 /24 or IPv6 /48 (an
    IPv4-mapped IPv6 address as its IPv4), e.g. "203.0.113.0/24", "2001:db8:1::/48"; a client network wider
    than that is its own. None when the voter is not an address (a signed-in name, or "unknown" when the
    peer was not known): such a voter has no network."""
    try:
        net = ipaddress.ip_network(voter.strip(), strict=False)
    except (ValueError, AttributeError):
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/32")
    prefix = IPV4_NETWORK_PREFIX if net.version == 4 else IPV6_NETWORK_PREFIX
    return str(net.supernet(new_prefix=min(prefix, net.prefixlen)))


def pseudonym(key: bytes, value: str | None) -> str | None:
    """A keyed hash of a voter or a network for research files: the same value gives the same pseudonym under
    one key, and without the key it cannot be turned back into the address (HMAC-SHA256, 64 bits shown)."""
    if value is None:
        return None
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
