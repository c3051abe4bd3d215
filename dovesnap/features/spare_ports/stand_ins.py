"""Stand-ins: short-lived veths that hold a new spare port's number while FAUCET loads it.

FAUCET (1.10) installs the flows of a port added to a running DP only if the switch has told it
that port is up; a port written with ``opstatus_reconf: false`` (as placeholders are, so a
container can take one over with a description change) then ignores the link for good. A
placeholder added by a refill, with nothing behind it, would get no flows until the next
reload that touches it: exactly the reload a spare port is there to avoid. So each new
placeholder gets a stand-in, a veth pair with both ends up, on its port number before the DP is
written; once FAUCET has loaded it and the switch has its flows, the stand-in goes and the
flows stay. A container's own veth later takes the number.

Stand-ins carry ``dovesnap-role: spare-stand-in`` in OVS (so no one takes them for a port added
by hand) and are named ``odssp``/``odssq`` + 8 hex; a restart removes any left behind, and so
does ``dovesnap cleanup``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.blocking import run_blocking
from dovesnap.errors import DovesnapError
from dovesnap.model.names import EXT_ROLE, STAND_IN_PEER_PREFIX, STAND_IN_PREFIX

log = logging.getLogger(__name__)

ROLE_STAND_IN = "spare-stand-in"


class StandIns:
    """Blocking work in one worker-thread call per batch (a refill adds dozens at once)."""

    def __init__(self, ovs: OvsBackend, netlink: NetlinkBackend) -> None:
        self._ovs = ovs
        self._netlink = netlink

    async def add(self, bridge: str, ports: Iterable[int], mtu: int) -> dict[int, str]:
        """A stand-in on each port number still free on the bridge: {port: host ifname}."""
        return await run_blocking(self._add, bridge, list(ports), mtu)

    async def remove(self, bridge: str, stand_ins: dict[int, str]) -> None:
        if stand_ins:
            await run_blocking(self._remove, bridge, list(stand_ins.values()))

    async def remove_left_over(self, bridge: str) -> None:
        """Stand-ins a stopped dovesnap left on the bridge."""
        ports = await run_blocking(self._ovs.ports, bridge)
        await run_blocking(self._remove, bridge, [
            p.name for p in ports if p.external_ids.get(EXT_ROLE) == ROLE_STAND_IN])

    def _add(self, bridge: str, ports: list[int], mtu: int) -> dict[int, str]:
        made: dict[int, str] = {}
        for port in ports:
            suffix = secrets.token_hex(4)
            host, peer = STAND_IN_PREFIX + suffix, STAND_IN_PEER_PREFIX + suffix
            try:
                self._netlink.create_veth(host, peer, mtu, None)
                self._netlink.disable_ipv6(peer)
                self._netlink.set_up(peer)
                got = self._ovs.add_port(bridge, host, port, {EXT_ROLE: ROLE_STAND_IN})
            except DovesnapError as err:
                log.warning("no stand-in for port %d on %s: %s", port, bridge, err)
                self._remove(bridge, [host])
                continue
            if got == port:
                made[port] = host
            else:  # a container's veth took the number meanwhile
                self._remove(bridge, [host])
        return made

    def _remove(self, bridge: str, hosts: list[str]) -> None:
        for host in hosts:
            try:
                self._ovs.delete_port(bridge, host)
                self._netlink.delete_link(host)  # the peer goes with it
            except DovesnapError as err:
                log.warning("cannot remove stand-in %s: %s", host, err)
