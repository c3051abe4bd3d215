"""Patch links: veth pairs joining a network bridge to one of the daemon's own bridges.

Blocking (OVS and netlink adapters); callers run these in a worker thread and serialise them
per daemon bridge, because the free-port choice reads the bridge's ports first.
"""

from __future__ import annotations

import logging

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.errors import ConflictError, DovesnapError
from dovesnap.model.names import EXT_DRIVER, EXT_ROLE
from dovesnap.plan.daemon_bridges import PatchLink, patch_end
from dovesnap.plan.ports import lowest_free_ofport

log = logging.getLogger(__name__)


class Patcher:
    def __init__(self, ovs: OvsBackend, netlink: NetlinkBackend, driver_name: str) -> None:
        self.ovs = ovs
        self.netlink = netlink
        self.driver_name = driver_name

    def free_port(self, bridge: str, start: int = 1) -> int:
        used = [p.ofport for p in self.ovs.ports(bridge) if p.ofport is not None]
        return lowest_free_ofport(used, start=start)

    def connect(
        self,
        local_bridge: str,
        local_port: int,
        remote_bridge: str,
        remote_port: int,
        mtu: int,
        role: str,
        exact_local_port: bool = True,
    ) -> PatchLink:
        """Join the bridges; with ``exact_local_port`` the local end must get ``local_port``.

        Starts from a clean slate (a restart may have left stale ports behind); on failure
        nothing of the link is left."""
        local_end, remote_end = patch_end(local_bridge, remote_bridge), patch_end(
            remote_bridge, local_bridge
        )
        ids = {EXT_DRIVER: self.driver_name, EXT_ROLE: role}
        self.disconnect(local_bridge, remote_bridge)
        try:
            self.netlink.create_veth(local_end, remote_end, mtu, None, exist_ok=True)
            self.netlink.set_up(remote_end, mtu)
            got_local = self.ovs.add_port(local_bridge, local_end, local_port, ids)
            if exact_local_port and got_local != local_port:
                raise ConflictError(
                    f"OpenFlow port {local_port} of bridge {local_bridge} is taken, so dovesnap "
                    f"cannot put its {role} there",
                    "free that port (for the mirror port: or choose another ovs.bridge.lbport)",
                )
            got_remote = self.ovs.add_port(remote_bridge, remote_end, remote_port, ids)
        except DovesnapError:
            self.disconnect(local_bridge, remote_bridge)
            raise
        return PatchLink(local_bridge, local_end, got_local, remote_bridge, remote_end, got_remote)

    def disconnect(self, local_bridge: str, remote_bridge: str) -> None:
        """Remove both ends' OVS ports and the veth pair. Idempotent, best effort."""
        local_end, remote_end = patch_end(local_bridge, remote_bridge), patch_end(
            remote_bridge, local_bridge
        )
        for bridge, end in ((local_bridge, local_end), (remote_bridge, remote_end)):
            try:
                self.ovs.delete_port(bridge, end)
            except DovesnapError as err:
                log.warning("removing patch port %s from %s: %s", end, bridge, err.message)
        self.netlink.delete_link(local_end)
        self.netlink.delete_link(remote_end)
