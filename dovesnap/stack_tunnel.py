"""Asking FAUCET for a network's mirror tunnel only when the stack can carry it.

FAUCET (1.10) computes a tunnel's rules for the DPs along its path when a config change reaches
DPs that are connected, and again whenever a stack link changes state. The first tunnel in a
stack changes every stack DP's pipeline, so FAUCET cold-starts them all: what it computed during
the reload is lost with the reconnection, and the stack links keep their UP state across it, so
no stack change follows to compute it again. Hence, for each network:

1. wait until its stack link, and an uplink toward the tunnel's target, are UP (FAUCET's
   ``port_stack_state`` on its Prometheus page);
2. write the tunnel (the caller does, through the driver);
3. wait until FAUCET has applied that config to the network's DP and the path is UP again;
4. take the network's stack link down and up once, at its end on the stacking bridge (which is
   dovesnap's), so FAUCET sees a stack change while every DP is connected;
5. wait for the path to be UP once more: the tunnel is in place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dovesnap.errors import DovesnapError
from dovesnap.fabric_context import FabricContext
from dovesnap.plan.stack import STACK_STATE_UP, parse_stack_states, reload_count

log = logging.getLogger(__name__)

# What a condition says about FAUCET's page: True (met), False (not yet), None (give up).
Condition = Callable[[str], bool | None]


class StackWatch:
    """Polls FAUCET's Prometheus page."""

    def __init__(self, ctx: FabricContext, poll_interval: float = 0.5, warn_after: float = 60.0,
                 reload_timeout: float = 15.0, down_timeout: float = 10.0) -> None:
        self.ctx = ctx
        self.poll_interval = poll_interval
        self.warn_after = warn_after
        self.reload_timeout = reload_timeout
        self.down_timeout = down_timeout

    async def page(self) -> str:
        try:
            return await self.ctx.io(self.ctx.metrics)
        except OSError as err:
            log.debug("FAUCET metrics not readable: %s", err)
            return ""

    async def wait_for(self, condition: Condition, what: str,
                       timeout: float | None = None) -> bool:
        """True once ``condition`` holds; False if it gives up or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        started, warned = loop.time(), False
        while True:
            met = condition(await self.page())
            if met is None:
                return False
            if met:
                return True
            waited = loop.time() - started
            if timeout is not None and waited > timeout:
                log.info("gave up waiting for %s after %.0f s", what, waited)
                return False
            if timeout is None and not warned and waited > self.warn_after:
                warned = True
                log.warning("still waiting for %s after %.0f s (check the stack links' cabling "
                            "and that FAUCET runs)", what, waited)
            await asyncio.sleep(self.poll_interval)

    async def bring_in_tunnel(
        self,
        dp_name: str,
        path_up: Condition,
        write_tunnel: Callable[[], Awaitable[bool]],
        stack_bridge: str,
        stack_port: Callable[[], int | None],
    ) -> float | None:
        """Steps 1-5 above; seconds until the stack first carried the path, or None if the
        network went away meanwhile."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        what = f"the stack path of {dp_name}"
        if not await self.wait_for(path_up, what):
            return None
        waited = loop.time() - started
        before = reload_count(await self.page(), dp_name)
        log.info("%s: stack up after %.1f s; asking FAUCET for the mirror tunnel",
                 dp_name, waited)
        if not await write_tunnel():
            return None
        await self.wait_for(lambda text: reload_count(text, dp_name) > before,
                            f"FAUCET applying the tunnel to {dp_name}", self.reload_timeout)
        if not await self.wait_for(path_up, what):
            return None
        port = stack_port()
        if port is None:
            return None
        await self._bounce(stack_bridge, port)
        if await self.wait_for(path_up, what):
            log.info("%s: mirror tunnel in place %.1f s after the network was named",
                     dp_name, loop.time() - started)
        return waited

    async def _bounce(self, bridge: str, port: int) -> None:
        openflow = self.ctx.openflow
        await self.ctx.io(openflow.set_port_up, bridge, port, False)
        try:
            await self.wait_for(
                lambda text: parse_stack_states(text).get((bridge, port)) != STACK_STATE_UP,
                f"FAUCET seeing port {port} of {bridge} down", self.down_timeout)
        finally:
            try:
                await self.ctx.io(openflow.set_port_up, bridge, port, True)
            except DovesnapError as err:  # the bridge went away meanwhile
                log.debug("port %d of %s not brought back up: %s", port, bridge, err.message)
