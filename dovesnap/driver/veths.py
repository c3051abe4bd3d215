"""A container's veth pair: the shortest pair of names that is free, made in one go.

The names carry the endpoint id's first 5 hex digits (``odsve12345``/``ethc12345``). Two live
endpoints share those with a chance of about N/2^20 per new one, and a leftover interface may
hold a name too, so a taken pair is never reused: the next longer one is tried, up to the
kernel's 15 characters. The kernel's EEXIST decides (no check-then-create race between
networks); the names of endpoints dovesnap already knows are skipped without asking it.
"""

from __future__ import annotations

from collections.abc import Container

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.blocking import run_blocking
from dovesnap.errors import ConflictError, NameTakenError
from dovesnap.model.names import veth_pair_names


async def make_veth(
    netlink: NetlinkBackend, endpoint_id: str, mtu: int, mac: str | None, known: Container[str]
) -> tuple[str, str]:
    """Create the endpoint's veth pair; return (host side, container side)."""
    for host, peer in veth_pair_names(endpoint_id):
        if host in known or peer in known:
            continue
        try:
            await run_blocking(netlink.create_veth, host, peer, mtu, mac)
        except NameTakenError:
            continue
        return host, peer
    raise ConflictError(
        f"every veth name for endpoint {endpoint_id[:12]} is taken on this host",
        "remove leftover odsve*/ethc* interfaces (dovesnap cleanup --dry-run lists them)",
    )
