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
    def __init__(self, ovs: OvsBackend, netlink: NetlinkBackend) -> None:
        self._ovs = ovs
        self._netlink = netlink

    async def add(self, bridge: str, ports: Iterable[int], mtu: int) -> dict[int, str]:
        """A stand-in on each port number still free on the bridge: {port: host ifname}."""
        made: dict[int, str] = {}
        for port in ports:
            suffix = secrets.token_hex(4)
            host, peer = STAND_IN_PREFIX + suffix, STAND_IN_PEER_PREFIX + suffix
            try:
                await run_blocking(self._netlink.create_veth, host, peer, mtu, None)
                await run_blocking(self._netlink.disable_ipv6, peer)
                await run_blocking(self._netlink.set_up, peer)
                got = await run_blocking(self._ovs.add_port, bridge, host, port,
                                         {EXT_ROLE: ROLE_STAND_IN})
            except DovesnapError as err:
                log.warning("no stand-in for port %d on %s: %s", port, bridge, err)
                await self._delete(bridge, host)
                continue
            made[port] = host
            if got != port:  # a container's veth took the number meanwhile
                await self.remove(bridge, {got: host})
                del made[port]
        return made

    async def remove(self, bridge: str, stand_ins: dict[int, str]) -> None:
        for host in stand_ins.values():
            await self._delete(bridge, host)

    async def remove_left_over(self, bridge: str) -> None:
        """Stand-ins a stopped dovesnap left on the bridge."""
        for port in await run_blocking(self._ovs.ports, bridge):
            if port.external_ids.get(EXT_ROLE) == ROLE_STAND_IN:
                await self._delete(bridge, port.name)

    async def _delete(self, bridge: str, host: str) -> None:
        try:
            await run_blocking(self._ovs.delete_port, bridge, host)
            await run_blocking(self._netlink.delete_link, host)  # the peer goes with it
        except DovesnapError as err:
            log.warning("cannot remove stand-in %s: %s", host, err)
