"""FAUCET stacking (``--stacking-interfaces``) and mirroring over the stack
(``--stack-mirror-interface``).

The stacking bridge ``dovesnap<engine>`` (FAUCET DP of the same name) carries the host
interfaces cabled to the operator's DPs as stack links, and one patch per network bridge,
which FAUCET also runs as a stack link. With stack mirroring, each network bridge's ``lbport``
is patched to the loopback bridge ``odslb<engine>``, which sends every packet back where it
came from: FAUCET mirrors labelled ports out of ``lbport`` and, once the stack is up, tunnels
what comes back on the network's ``mirror_tunnel_vid`` to the target DP's port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dovesnap.adapters.faucet_metrics import (
    dps_up,
    parse_stack_states,
    port_acl_tables,
    reload_requests,
)
from dovesnap.blocking import run_blocking
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.errors import DovesnapError, FaucetConfigUnavailable
from dovesnap.fabric_settings import StackFlags
from dovesnap.features.fabric.context import FabricContext
from dovesnap.features.fabric.stack_plan import (
    StackUplink,
    link_network,
    put_stack_dp,
    put_tunnel,
    stack_applied,
    strip_stack,
    tunnel_path_up,
    unlink_network,
)
from dovesnap.features.fabric.tunnel import StackWatch
from dovesnap.plan.daemon_bridges import (
    NETWORK_STACK_OFPORT,
    ROLE_LOOPBACK_BRIDGE,
    ROLE_LOOPBACK_PATCH,
    ROLE_STACK_BRIDGE,
    ROLE_STACK_PATCH,
    PatchLink,
    daemon_bridge_plan,
    loopback_bridge_name,
    loopback_dpid,
    stack_bridge_name,
    stack_dpid,
)
from dovesnap.plan.faucet_dp import DpInputs
from dovesnap.plan.mirror import loopback_flows

log = logging.getLogger(__name__)


class StackHooks(Hooks):
    name = "stacking"

    def __init__(self, flags: StackFlags, ctx: FabricContext,
                 watch: StackWatch | None = None) -> None:
        self.flags = flags
        self.ctx = ctx
        self.watch = watch or StackWatch(ctx)
        self.uplinks: tuple[StackUplink, ...] = ()
        self.links: dict[str, PatchLink] = {}  # network id -> stack patch
        self.loops: dict[str, PatchLink] = {}  # network id -> loopback patch
        self.tunnel_ready: dict[str, float] = {}  # network id -> seconds waited for the stack
        self.waiters: dict[str, asyncio.Task[None]] = {}
        # FAUCET's reload count before the stacking DP was last written (None: that write
        # changed nothing, or FAUCET's page could not be read then).
        self.requests_before: float | None = None
        self._lock = asyncio.Lock()

    @property
    def stack_dp(self) -> str:
        """The stacking bridge's name, which is also its FAUCET DP's name."""
        return stack_bridge_name(self.ctx.engine())

    @property
    def loopback(self) -> str:
        return loopback_bridge_name(self.ctx.engine())

    # -- the daemon's bridges ---------------------------------------------------------------

    async def daemon_started(self) -> None:
        engine, drv = self.ctx.engine(), self.ctx.driver
        name, dp_id = self.stack_dp, stack_dpid(engine)
        plan = daemon_bridge_plan(name, dp_id, ROLE_STACK_BRIDGE, self.ctx.userspace,
                                  drv.settings.driver_name, self.flags.controllers)
        requests = [(link.ifname, n) for n, link in enumerate(self.flags.links, start=1)]
        ports = await self.ctx.build_bridge(plan, requests)
        self.uplinks = tuple(
            StackUplink(port, link.remote_dp, link.remote_port)
            for port, link in zip(ports, self.flags.links, strict=True)
        )
        uplinks, priority1 = self.uplinks, self.flags.priority1
        description = f"dovesnap stacking bridge on {self.ctx.hostname}"
        mirror = self.flags.mirror
        tunnel_to = (mirror.dp, mirror.port) if mirror is not None else None

        async def publish() -> None:
            before = reload_requests(await self.watch.page())
            if await drv.faucet.update(lambda cfg: put_stack_dp(
                    cfg, name, dp_id, description, uplinks, priority1, tunnel_to)):
                self.requests_before = before

        try:
            try:
                await publish()
            except FaucetConfigUnavailable as err:
                # A remote FAUCET's config out of reach: the bridge waits (FAUCET does not
                # know it, so it forwards nothing) and the DP is written once it answers.
                log.error("stacking DP %s waits for FAUCET's config: %s", name, err.what)
                self.waiters[""] = asyncio.get_running_loop().create_task(self._retry(publish))
            if self.flags.mirror is not None:
                lb_plan = daemon_bridge_plan(self.loopback, loopback_dpid(engine),
                                             ROLE_LOOPBACK_BRIDGE, self.ctx.userspace,
                                             drv.settings.driver_name)
                await self.ctx.build_bridge(lb_plan, [])
                await run_blocking(self.ctx.openflow.replace_flows, self.loopback, loopback_flows())
        except DovesnapError:
            await self.ctx.remove_bridge(self.loopback)
            await self.ctx.remove_bridge(name)
            raise

    async def _retry(self, publish: Callable[[], Awaitable[None]]) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await publish()
                log.info("stacking DP %s written to FAUCET's config", self.stack_dp)
                return
            except FaucetConfigUnavailable as err:
                log.debug("stacking DP still waits: %s", err.what)
                delay = min(delay * 2, 30.0)

    async def daemon_stopping(self) -> None:
        try:
            for task in self.waiters.values():
                task.cancel()
            await asyncio.gather(*self.waiters.values(), return_exceptions=True)
            async with self._lock:
                for network_id in list(self.links):
                    await self._unpatch_locked(network_id)
            await self.ctx.remove_bridge(self.loopback)
            await self.ctx.remove_bridge(self.stack_dp)
            name = self.stack_dp
            await self.ctx.driver.faucet.update(lambda cfg: strip_stack(cfg, name))
        except Exception:  # stopping goes on whatever happens here
            log.exception("removing the stacking bridge failed")

    # -- per network ------------------------------------------------------------------------

    async def _patch(self, net: Network) -> None:
        patcher = self.ctx.patcher
        async with self._lock:
            free = await run_blocking(patcher.free_port, self.stack_dp, len(self.uplinks) + 1)
            self.links[net.network_id] = await run_blocking(
                patcher.connect, net.bridge, NETWORK_STACK_OFPORT, self.stack_dp, free,
                net.spec.mtu, ROLE_STACK_PATCH,
            )
            if self.flags.mirror is None:
                return
            try:
                free = await run_blocking(patcher.free_port, self.loopback)
                self.loops[net.network_id] = await run_blocking(
                    patcher.connect, net.bridge, net.spec.lbport, self.loopback, free,
                    net.spec.mtu, ROLE_LOOPBACK_PATCH,
                )
            except DovesnapError:
                await self._unpatch_locked(net.network_id)
                raise

    async def _unpatch_locked(self, network_id: str) -> None:
        self.tunnel_ready.pop(network_id, None)
        for links in (self.loops, self.links):
            link = links.pop(network_id, None)
            if link is not None:
                await run_blocking(self.ctx.patcher.disconnect, link.local_bridge,
                                   link.remote_bridge)

    async def network_created(self, net: Network) -> None:
        await self._patch(net)

    async def network_named(self, net: Network) -> None:
        self._start_waiter(net)

    async def restored(self, net: Network) -> None:
        await self._patch(net)
        if net.name is not None:
            async with net.lock:
                await self.ctx.driver.sync_dp(net)  # the stacking bridge's ports are new
            self._start_waiter(net)

    async def network_deleted(self, net: Network) -> None:
        task = self.waiters.pop(net.network_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._lock:
            await self._unpatch_locked(net.network_id)

    # -- waiting for the stack before asking for the tunnel --------------------------------

    def _start_waiter(self, net: Network) -> None:
        running = self.waiters.get(net.network_id)
        if self.flags.mirror is None or net.network_id in self.tunnel_ready:
            return
        if running is not None and not running.done():
            return
        task = asyncio.get_running_loop().create_task(self._tunnel_when_stack_up(net))
        self.waiters[net.network_id] = task

    async def _tunnel_when_stack_up(self, net: Network) -> None:
        target = self.flags.mirror
        assert target is not None and net.name is not None
        network_id = net.network_id

        def path_up(text: str) -> bool | None:
            link = self.links.get(network_id)
            if link is None or net.name is None:
                return None  # the network is going away
            if not self._stack_applied(text):
                return False
            ends = ((net.name, link.local_port), (self.stack_dp, link.remote_port))
            return tunnel_path_up(parse_stack_states(text), ends, self.uplinks, self.stack_dp,
                                  target.dp)

        async def write_tunnel() -> bool:
            async with net.lock:
                if network_id not in self.links:
                    return False
                self.tunnel_ready[network_id] = loop.time() - started
                await self.ctx.driver.sync_dp(net)
                if net.error:
                    log.error("network %s: FAUCET refused the mirror tunnel: %s", net.name,
                              net.error)
                return True

        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self.watch.bring_in_tunnel(net.name, path_up, write_tunnel)
        except Exception:  # a background task: say what went wrong, nobody else will
            log.exception("network %s: setting up the mirror tunnel failed", net.name)

    def _stack_applied(self, text: str) -> bool:
        """FAUCET runs the stacking DP as written, and its DPs are connected. A tunnel asked
        for sooner comes in the same reload as the uplinks' port ACL tables, which cold-starts
        those DPs: the tunnel's rules for them are lost with the reconnection, and FAUCET
        computes them again only when a stack link changes state."""
        dps = {self.stack_dp, *(u.remote_dp for u in self.uplinks)}
        if not stack_applied(dps, dps_up(text), port_acl_tables(text),
                             reload_requests(text), self.requests_before):
            return False
        self.requests_before = None  # seen applied; FAUCET's count restarts if FAUCET does
        return True

    # -- FAUCET config ----------------------------------------------------------------------

    def adjust_dp(self, net: Network, inputs: DpInputs) -> DpInputs:
        if self.flags.mirror is not None and net.network_id not in self.tunnel_ready:
            # Until the tunnel exists the loopback port is a plain output-only mirror port.
            return dataclasses.replace(inputs, mirror_port=True)
        return inputs

    def edit_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        link = self.links.get(net.network_id)
        if link is None or net.name is None:
            return config
        new = link_network(config, net.name, link.local_port, self.stack_dp, link.remote_port)
        target = self.flags.mirror
        if target is not None and net.network_id in self.tunnel_ready:
            ports = [ep.as_port() for ep in net.endpoints.values()]
            mirrored = [p.ofport for p in ports if p.mirror and p.labels_known
                        and not p.fail_closed]
            new = put_tunnel(new, net.name, net.spec.lbport, net.spec.mirror_tunnel_vid,
                             target.dp, target.port, mirrored)
        return new

    def remove_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        if net.name is None:
            return config
        return unlink_network(config, net.name, self.stack_dp)

    def status(self, net: Network) -> Mapping[str, Any]:
        links = [d[net.network_id] for d in (self.links, self.loops) if net.network_id in d]
        ports = {link.local_end: link.status() for link in links}
        return {"DynamicNetworkStates": {"OtherBridgePorts": ports}} if ports else {}
