"""What the mirroring and stacking hooks share: the driver's adapters, the engine id, and
building or removing one of the daemon's own bridges."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dovesnap.adapters.openflow import OpenFlowBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.core import Driver
from dovesnap.errors import BackendError, ConflictError, DovesnapError
from dovesnap.features.fabric.patching import Patcher
from dovesnap.model.names import EXT_DRIVER, EXT_ROLE
from dovesnap.plan.bridge import BridgePlan
from dovesnap.plan.daemon_bridges import ROLE_UPLINK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FabricContext:
    driver: Driver
    engine_id: str  # "" if none was found: the daemon's bridges cannot be named then
    openflow: OpenFlowBackend
    metrics: Callable[[], str]
    hostname: str = "this host"

    def engine(self) -> str:
        """The engine id the daemon's bridges are named after."""
        if not self.engine_id:
            raise BackendError("no engine id to name the mirror/stacking bridges after",
                               "start Docker before dovesnap")
        return self.engine_id

    @property
    def patcher(self) -> Patcher:
        drv = self.driver
        return Patcher(drv.ovs, drv.netlink, drv.settings.driver_name)

    @property
    def userspace(self) -> bool:
        """Daemon bridges follow network bridges: netdev without the kernel datapath."""
        return not self.driver.settings.kernel_datapath

    async def build_bridge(self, plan: BridgePlan, uplinks: Sequence[tuple[str, int]]) -> list[int]:
        """Make ``plan``'s bridge afresh with host interfaces ``(ifname, ofport request)``;
        return the ports they got. On failure nothing is left."""
        drv = self.driver
        for ifname, _ in uplinks:
            if not await run_blocking(drv.netlink.link_exists, ifname):
                raise ConflictError(
                    f"interface {ifname} for bridge {plan.name} does not exist",
                    "create it (or fix the flag) before starting dovesnap",
                )
        await run_blocking(drv.ovs.delete_bridge, plan.name)  # stale, from a daemon that crashed
        ids = {EXT_DRIVER: drv.settings.driver_name, EXT_ROLE: ROLE_UPLINK}
        try:
            await run_blocking(drv.ovs.ensure_bridge, plan)
            ports = []
            for ifname, request in uplinks:
                await run_blocking(drv.netlink.set_up, ifname, None)
                ports.append(await run_blocking(drv.ovs.add_port, plan.name, ifname, request, ids))
        except DovesnapError:
            await self.remove_bridge(plan.name)
            raise
        log.info("built bridge %s (%s) with %s", plan.name, plan.datapath_type,
                 ", ".join(f"{i} at port {p}" for (i, _), p in zip(uplinks, ports, strict=True))
                 or "no host interface")
        return ports

    async def remove_bridge(self, name: str) -> None:
        try:
            await run_blocking(self.driver.ovs.delete_bridge, name)
        except DovesnapError as err:
            log.warning("removing bridge %s: %s", name, err.message)
