"""Keep what dovesnap built alive: rebuild lost bridges and ports, reconcile with Docker.

- OVSDB notifications (``OvsChanges``) say when a bridge or port vanishes; the network is then
  rebuilt within a fraction of a second, and container veths go back at their old OpenFlow
  ports. A slow sweep (``sweep_seconds``) catches anything a notification missed (e.g. OVS
  restarted with an empty database).
- Once Docker answers after a start: networks Docker knows but OVS lost are rebuilt from
  Docker's own record; endpoints whose containers are gone are removed; containers with a
  restart policy that Docker gave up on (the plugin was not up in time) are started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dovesnap.blocking import run_blocking
from dovesnap.driver.core import Driver
from dovesnap.driver.hooks import Notify
from dovesnap.driver.state import Network
from dovesnap.errors import DovesnapError

log = logging.getLogger(__name__)


def _ignore(kind: str, /, **fields: Any) -> None:
    """The default ``notify``: report nothing."""


class ChangeFeed(Protocol):
    def subscribe(self, subscriber: Callable[[str, str, str], None]) -> None: ...


class DockerRecords(Protocol):
    def network_endpoints(self, network_id: str) -> dict[str, str] | None: ...
    def revivable_containers(self, network_ids: list[str]) -> list[str]: ...
    def start_container(self, container_id: str) -> None: ...


def ipam_to_ipv4_data(ipam_config: tuple[Mapping[str, str], ...]) -> list[dict[str, str]]:
    """Docker's stored IPAM config as the IPv4Data a CreateNetwork request would carry."""
    result = []
    for conf in ipam_config:
        subnet = conf.get("Subnet", "")
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            continue
        if net.version != 4:
            continue
        entry = {"Pool": str(net)}
        if conf.get("Gateway"):
            entry["Gateway"] = f"{conf['Gateway']}/{net.prefixlen}"
        result.append(entry)
    return result


class Recovery:
    """Watches OVS and reconciles with Docker on behalf of the driver."""

    def __init__(
        self,
        driver: Driver,
        docker: DockerRecords,
        changes: ChangeFeed,
        notify: Notify | None = None,
        sweep_seconds: float = 30.0,
    ) -> None:
        self.driver = driver
        self.docker = docker
        self.notify: Notify = notify or _ignore
        self.sweep_seconds = sweep_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.rebuilds = 0
        changes.subscribe(self._changed)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks.append(self._loop.create_task(self._sweeper()))
        self._tasks.append(self._loop.create_task(self._reconcile_with_docker()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # -- OVS ------------------------------------------------------------------------------------

    def _changed(self, event: str, table: str, name: str) -> None:
        """IDL thread: a bridge or port went away; schedule a check on the event loop."""
        if event != "delete" or table not in ("Bridge", "Port", "Interface") or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._schedule, name)

    def _schedule(self, name: str) -> None:
        for net in list(self.driver.networks.values()):
            ours = {net.bridge} | {ep.host_ifname for ep in net.endpoints.values()}
            if name in ours and net.network_id not in self._pending:
                self._pending.add(net.network_id)
                self._tasks.append(asyncio.get_running_loop().create_task(self._repair_soon(net)))

    async def _repair_soon(self, net: Network) -> None:
        await asyncio.sleep(0.1)  # let a burst of deletions settle (del-br removes many rows)
        self._pending.discard(net.network_id)
        await self.repair(net)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            for net in list(self.driver.networks.values()):
                try:
                    await self.repair(net)
                except Exception:
                    log.exception("sweep of %s failed", net.bridge)

    async def repair(self, net: Network) -> bool:
        """Rebuild the bridge and re-attach container ports that OVS lost. True if anything was."""
        drv = self.driver
        async with net.lock:
            if drv.networks.get(net.network_id) is not net:
                return False  # deleted meanwhile: its own deletion is what OVS reported
            lost_bridge, reattached = await drv.bridges.repair(net)
            if not lost_bridge and not reattached:
                return False
            await drv.rerun_restored(net, "repairing")
            await drv.sync_dp(net)
        self.rebuilds += 1
        log.warning("repaired %s: bridge rebuilt=%s, ports re-attached=%s",
                    net.bridge, lost_bridge, reattached)
        self.notify("bridge repaired", bridge=net.bridge, network=net.name or "",
                    bridge_rebuilt=lost_bridge, ports=reattached)
        return True

    # -- Docker ---------------------------------------------------------------------------------

    async def _reconcile_with_docker(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.reconcile_with_docker()
                return
            except Exception as err:  # Docker may not answer yet: dovesnap starts before it
                log.debug("Docker not ready for reconciliation: %s", err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def reconcile_with_docker(self) -> None:
        drv = self.driver
        networks = await run_blocking(drv.docker.dovesnap_networks)
        for info in networks:
            if info.id in drv.networks:
                continue
            try:
                await drv.create_network(
                    info.id, dict(info.options), ipam_to_ipv4_data(info.ipam_config), [],
                    info.internal, info.name,
                )
            except DovesnapError as err:
                log.error("cannot rebuild network %s from Docker: %s", info.name, err.message)
                continue
            log.warning("rebuilt network %s from Docker's record (OVS had lost it)", info.name)
            self.notify("network rebuilt from Docker", network=info.name)
        docker_ids = {info.id for info in networks}
        for net in list(drv.networks.values()):
            if net.network_id not in docker_ids:
                # Removed from Docker while dovesnap was away: take its bridge, DP and rules.
                log.warning("network %s is gone from Docker: removing what dovesnap built",
                            net.name or net.network_id[:12])
                await drv.delete_network(net.network_id)
                self.notify("stale network removed", network=net.name or net.network_id)
                continue
            known = await run_blocking(self.docker.network_endpoints, net.network_id)
            if known is None:
                continue
            for ep in list(net.endpoints.values()):
                if ep.endpoint_id not in known:
                    log.warning("removing stale endpoint %s (its container is gone)",
                                ep.endpoint_id[:12])
                    await drv.delete_endpoint(net.network_id, ep.endpoint_id)
        ids = [info.id for info in networks]
        for container_id in await run_blocking(self.docker.revivable_containers, ids):
            try:
                await run_blocking(self.docker.start_container, container_id)
                log.warning("started container %s, which Docker gave up on", container_id[:12])
                self.notify("container started", container=container_id)
            except Exception as err:
                log.error("cannot start container %s: %s", container_id[:12], err)
