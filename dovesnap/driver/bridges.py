"""A network's OVS bridge: build it, connect it to its controllers, rebuild what OVS lost.

A bridge is built unconnected and connected to FAUCET only once FAUCET has its DP: a switch
that connects first, and ports added during the handshake, can be lost by FAUCET. Creating a
network (``build``, later ``connect``) and repairing one (``repair``: build unconnected, re-add
the container ports, connect) use the same steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.state import Network
from dovesnap.model.names import EXT_ENDPOINT_ID, EXT_NETWORK_ID
from dovesnap.plan.bridge import BridgePlan, plan_bridge


def endpoint_port_ids(network_id: str, endpoint_id: str,
                      policy: Mapping[str, str] | None = None) -> dict[str, str]:
    """The external_ids of a container's OVS port (how a restart finds its endpoint), with
    ``policy``: its endpoint options and the operator's settings (``Endpoint.policy_ids``)."""
    return {EXT_NETWORK_ID: network_id, EXT_ENDPOINT_ID: endpoint_id, **(policy or {})}


class Bridges:
    def __init__(self, ovs: OvsBackend, netlink: NetlinkBackend, driver_name: str) -> None:
        self.ovs = ovs
        self.netlink = netlink
        self.driver_name = driver_name

    def plan(self, net: Network) -> BridgePlan:
        operator = net.operator_dp.encode() if net.operator_dp else None
        return plan_bridge(net.spec, net.userspace, net.name, self.driver_name, operator)

    async def build(self, net: Network) -> None:
        """Make the bridge, without controllers, with its LOCAL port up."""
        unconnected = dataclasses.replace(self.plan(net), controllers=())
        await run_blocking(self.ovs.ensure_bridge, unconnected)
        await run_blocking(self.netlink.set_up, net.bridge, net.spec.mtu)

    async def connect(self, net: Network) -> None:
        """Give the bridge its controllers (and its current external_ids); not while FAUCET's
        config has another DP on the bridge's dp_id (FAUCET would run that DP on it)."""
        plan = self.plan(net)
        if net.dp_refused:
            plan = dataclasses.replace(plan, controllers=())
        await run_blocking(self.ovs.ensure_bridge, plan)

    async def reconnect(self, net: Network) -> None:
        """Drop the bridge's controller connections and make them again: FAUCET cold-starts
        the DP (and installs every port it has configured)."""
        await run_blocking(self.ovs.ensure_bridge,
                           dataclasses.replace(self.plan(net), controllers=()))
        await self.connect(net)

    async def readd_ports(self, net: Network) -> list[str]:
        """Put container veths OVS lost back at their OpenFlow ports; return their names."""
        present = {p.name for p in await run_blocking(self.ovs.ports, net.bridge)}
        reattached = []
        for ep in list(net.endpoints.values()):
            if ep.host_ifname in present:
                continue
            if not await run_blocking(self.netlink.link_exists, ep.host_ifname):
                continue  # the veth itself is gone: only the container's restart can help
            ep.ofport = await run_blocking(
                self.ovs.add_port, net.bridge, ep.host_ifname, ep.ofport,
                endpoint_port_ids(net.network_id, ep.endpoint_id, ep.policy_ids()),
            )
            reattached.append(ep.host_ifname)
        return reattached

    async def repair(self, net: Network) -> tuple[bool, list[str]]:
        """Rebuild a lost bridge and re-add lost ports: (bridge rebuilt, ports re-added)."""
        bridges = {b.name for b in await run_blocking(self.ovs.bridges)}
        lost_bridge = net.bridge not in bridges
        if lost_bridge:
            # Rebuilt unconnected: FAUCET must see every port in its first port list.
            await self.build(net)
        reattached = await self.readd_ports(net)
        if lost_bridge:
            await self.connect(net)
        return lost_bridge, reattached
