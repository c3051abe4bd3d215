"""The mirror bridge (``--mirror-bridge-out``) and the mirror river (``--mirror-bridge-in``).

Bridge ``odsmir<engine>`` holds the output interface and, for each network, the far end of a
patch from the network bridge's ``lbport``. FAUCET mirrors labelled containers' ports to that
port (output only); the mirror bridge tags each network's copies with its VLAN and sends them
out, passes on whatever arrives from the upstream host's river, and drops everything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from dovesnap.blocking import run_blocking
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.errors import DovesnapError
from dovesnap.fabric_settings import MirrorFlags
from dovesnap.features.fabric.context import FabricContext
from dovesnap.plan.daemon_bridges import (
    ROLE_MIRROR_BRIDGE,
    ROLE_MIRROR_PATCH,
    PatchLink,
    daemon_bridge_plan,
    mirror_bridge_name,
    mirror_dpid,
)
from dovesnap.plan.faucet_dp import DpInputs
from dovesnap.plan.mirror import (
    FIRST_PATCH_OFPORT,
    MIRROR_IN_OFPORT,
    MIRROR_OUT_OFPORT,
    MirrorTap,
    mirror_bridge_flows,
)

log = logging.getLogger(__name__)


class MirrorBridgeHooks(Hooks):
    name = "mirror-bridge"

    def __init__(self, flags: MirrorFlags, ctx: FabricContext) -> None:
        self.flags = flags
        self.ctx = ctx
        self.out_port: int | None = None
        self.in_port: int | None = None
        self.taps: dict[str, tuple[PatchLink, int]] = {}  # network id -> (patch, VLAN)
        self._lock = asyncio.Lock()

    @property
    def bridge(self) -> str:
        return mirror_bridge_name(self.ctx.engine())

    async def daemon_started(self) -> None:
        engine = self.ctx.engine()
        plan = daemon_bridge_plan(
            self.bridge, mirror_dpid(engine), ROLE_MIRROR_BRIDGE, self.ctx.userspace,
            self.ctx.driver.settings.driver_name,
        )
        uplinks = [(self.flags.out_ifname, MIRROR_OUT_OFPORT)]
        if self.flags.in_ifname:
            uplinks.append((self.flags.in_ifname, MIRROR_IN_OFPORT))
        ports = await self.ctx.build_bridge(plan, uplinks)
        self.out_port = ports[0]
        self.in_port = ports[1] if len(ports) > 1 else None
        try:
            await self._apply_flows()
        except DovesnapError:
            await self.ctx.remove_bridge(self.bridge)
            raise

    async def _apply_flows(self) -> None:
        assert self.out_port is not None
        taps = [MirrorTap(link.remote_port, vlan) for link, vlan in self.taps.values()]
        flows = mirror_bridge_flows(self.out_port, taps, self.in_port)
        await run_blocking(self.ctx.openflow.replace_flows, self.bridge, flows)

    async def _tap(self, net: Network) -> None:
        patcher = self.ctx.patcher
        async with self._lock:
            free = await run_blocking(patcher.free_port, self.bridge, FIRST_PATCH_OFPORT)
            link = await run_blocking(
                patcher.connect, net.bridge, net.spec.lbport, self.bridge, free, net.spec.mtu,
                ROLE_MIRROR_PATCH,
            )
            self.taps[net.network_id] = (link, net.spec.vlan)
            try:
                await self._apply_flows()
            except DovesnapError:
                await self._untap_locked(net.network_id)
                raise

    async def _untap_locked(self, network_id: str) -> None:
        tapped = self.taps.pop(network_id, None)
        if tapped is not None:
            link = tapped[0]
            await run_blocking(self.ctx.patcher.disconnect, link.local_bridge, link.remote_bridge)

    async def network_created(self, net: Network) -> None:
        await self._tap(net)

    async def restored(self, net: Network) -> None:
        await self._tap(net)

    async def network_deleted(self, net: Network) -> None:
        async with self._lock:
            await self._untap_locked(net.network_id)
            if self.out_port is not None:
                await self._apply_flows()

    def adjust_dp(self, net: Network, inputs: DpInputs) -> DpInputs:
        return dataclasses.replace(inputs, mirror_port=True)

    def status(self, net: Network) -> Mapping[str, Any]:
        tapped = self.taps.get(net.network_id)
        if tapped is None:
            return {}
        link = tapped[0]
        return {"DynamicNetworkStates": {"OtherBridgePorts": {link.local_end: link.status()}}}

    async def daemon_stopping(self) -> None:
        try:
            async with self._lock:
                for network_id in list(self.taps):
                    await self._untap_locked(network_id)
            await self.ctx.remove_bridge(self.bridge)
        except Exception:  # stopping goes on whatever happens here
            log.exception("removing the mirror bridge failed")
