"""Asking FAUCET for a network's mirror tunnel only when the stack can carry it.

FAUCET (1.10) computes a tunnel's rules for the DPs along its path from the stack links it knows
to be UP, when a config change reaches a connected DP, and again whenever a stack link changes
state. Asked before the path is UP, it computes nothing and a later stack change may not come;
asked while a transit or destination DP cold-starts, it computes rules that are lost with the
reconnection, and the stack links keep their UP state across it, so nothing computes them
again. Hence:

- the stacking DP and the DPs its uplinks reach get a port ACL table from the start (see
  ``stack_plan.py``: ``STACK_LINK_ACL``), so adding a tunnel later is a warm change for them;
- for each network, dovesnap waits until FAUCET runs the stacking DP as last written (it has
  reloaded since, the stacking DP and its uplinks' far ends have their port ACL tables and are
  connected), and until the network's stack link and an uplink toward the tunnel's target are
  UP (FAUCET's ``port_stack_state``), then writes the tunnel, then waits until FAUCET has
  applied it to the network's DP. Restarting dovesnap with ``--stack-mirror-interface`` newly
  set is the case the first wait is for: the stack links are UP at once (FAUCET keeps their
  state), but the ACLs that make the tunnel a warm change are not loaded yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dovesnap.adapters.faucet_metrics import reload_count
from dovesnap.blocking import run_blocking
from dovesnap.features.fabric.context import FabricContext

log = logging.getLogger(__name__)

# What a condition says about FAUCET's page: True (met), False (not yet), None (give up).
Condition = Callable[[str], bool | None]


class StackWatch:
    """Polls FAUCET's Prometheus page."""

    def __init__(self, ctx: FabricContext, poll_interval: float = 0.5, warn_after: float = 60.0,
                 reload_timeout: float = 15.0) -> None:
        self.ctx = ctx
        self.poll_interval = poll_interval
        self.warn_after = warn_after
        self.reload_timeout = reload_timeout

    async def page(self) -> str:
        try:
            return await run_blocking(self.ctx.metrics)
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
    ) -> float | None:
        """Seconds until the stack first carried the path, or None if the network went away
        meanwhile."""
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
        applied = await self.wait_for(lambda text: reload_count(text, dp_name) > before,
                                      f"FAUCET applying the tunnel to {dp_name}",
                                      self.reload_timeout)
        if applied:
            log.info("%s: FAUCET applied the mirror tunnel %.1f s after the network was named",
                     dp_name, loop.time() - started)
        return waited
