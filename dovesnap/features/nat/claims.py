"""Is a host port that ``docker run -p`` asks for free? Pure decisions.

A published port is a DNAT rule on the host's addresses: published over a port the host itself
serves (``-p 22:80``), it takes that service away from remote clients; published twice, the
first rule wins and the second container silently gets nothing. So, as Docker does, a host port
is refused when a socket on the host is bound to it on an address the rule would catch, or when
a dovesnap rule already publishes it (any dovesnap, any network: the rules in iptables are the
record, so this holds across restarts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.config import host_port
from dovesnap.features.nat.plan import PortMapping
from dovesnap.plan.firewall import IPV4, IPV6, TAG_PREFIX, Rule

ALLOCATED = "port is already allocated"  # Docker's words, so scripts that look for them work


@dataclass(frozen=True)
class Published:
    """A port a dovesnap DNAT rule publishes in one address family (``host_ip`` None: every
    local address of that family)."""

    proto: str
    first: int
    last: int
    host_ip: str | None
    tag: str
    family: int = IPV4


def _after(spec: Sequence[str], flag: str) -> str | None:
    for index, word in enumerate(spec[:-1]):
        if word == flag:
            return spec[index + 1]
    return None


def published_ports(rules: Iterable[Rule]) -> list[Published]:
    """The ports dovesnap's PREROUTING DNAT rules publish (as ``publish_rules`` writes them)."""
    found = []
    for rule in rules:
        if (rule.table, rule.chain) != ("nat", "PREROUTING") or not rule.tag.startswith(TAG_PREFIX):
            continue
        spec = rule.spec
        proto, dport = _after(spec, "-p"), _after(spec, "--dport")
        if "DNAT" not in spec or proto is None or dport is None:
            continue
        first, _, last = dport.partition(":")
        destination = _after(spec, "-d")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            continue
        host_ip = destination.split("/")[0] if destination else None
        found.append(Published(proto, low, high, host_ip, rule.tag, rule.family))
    return found


def _mapping_address(mapping: PortMapping, family: int) -> str | None:
    """The one address of ``family`` the mapping publishes on; None for every local one."""
    if mapping.host_ip is None or ipaddress.ip_address(mapping.host_ip).is_unspecified:
        return None
    return mapping.host_ip


def _catches(family: int, mapping_ip: str | None, socket_ip: str) -> bool:
    """Would a ``family`` rule for ``mapping_ip`` (None: every local address but loopback) take
    traffic that a socket bound to ``socket_ip`` serves?"""
    address = ipaddress.ip_address(socket_ip)
    if address.is_unspecified:
        # :: takes IPv4 too (unless IPV6_V6ONLY, which /proc/net does not show)
        return address.version == IPV6 or family == IPV4
    if address.version != family:
        return False
    if mapping_ip is None:
        return not address.is_loopback  # loopback is never DNATed
    return address == ipaddress.ip_address(mapping_ip)


def _in_range(port: int, mapping: PortMapping) -> bool:
    return mapping.host_port <= port <= mapping.host_port_end


def conflict(
    mapping: PortMapping, families: Iterable[int], sockets: Iterable[BoundSocket],
    published: Iterable[Published], own_tag: str,
) -> str | None:
    """Why ``mapping``'s host port cannot be had in ``families`` (those it gets rules in), or
    None when it is free."""
    sockets, published = list(sockets), list(published)
    for family in families:
        where = mapping.describe(family).split("->")[0] + f"/{mapping.proto}"
        mine = _mapping_address(mapping, family)
        for sock in sockets:
            if (sock.proto == mapping.proto and _in_range(sock.port, mapping)
                    and _catches(family, mine, sock.address)):
                return (f"Bind for {where} failed: {ALLOCATED} (a program on this host listens "
                        f"on {host_port(sock.address, sock.port)}/{sock.proto})")
        for other in published:
            if other.tag == own_tag or other.proto != mapping.proto or other.family != family:
                continue
            overlap = other.first <= mapping.host_port_end and mapping.host_port <= other.last
            same_address = None in (other.host_ip, mine) or (
                ipaddress.ip_address(other.host_ip or "::") == ipaddress.ip_address(mine or "::"))
            if overlap and same_address:
                return (f"Bind for {where} failed: {ALLOCATED} (another container publishes it: "
                        f"iptables rule {other.tag})")
    return None
