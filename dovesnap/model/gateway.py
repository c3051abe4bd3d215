"""Gateway arithmetic, the one place for it: addresses as Docker's IPAM and the status JSON
spell them (``a.b.c.d/len``, a bare address, a dotted netmask) turned into one another. Pure."""

from __future__ import annotations

import ipaddress


def address_of(gateway: str) -> str:
    """``10.1.0.1/24`` -> ``10.1.0.1`` (a bare address stays as it is)."""
    return gateway.split("/")[0]


def address_and_prefix(gateway: str, pool: str | None) -> tuple[str, int]:
    """(address, prefix length) of a gateway: its own length, else its pool's, else a host's."""
    if "/" in gateway:
        iface = ipaddress.ip_interface(gateway)
        return str(iface.ip), iface.network.prefixlen
    address = ipaddress.ip_address(gateway)
    if pool:
        return str(address), ipaddress.ip_network(pool, strict=False).prefixlen
    return str(address), address.max_prefixlen


def ipv4_netmask(prefixlen: int) -> str:
    """``24`` -> ``255.255.255.0``."""
    return str(ipaddress.ip_network(f"0.0.0.0/{prefixlen}").netmask)


def with_netmask(address: str, netmask: str) -> str:
    """``10.1.0.1`` and ``255.255.255.0`` -> ``10.1.0.1/24`` (joined as they are when odd)."""
    try:
        return str(ipaddress.ip_interface(f"{address}/{netmask}"))
    except ValueError:
        return f"{address}/{netmask}"
