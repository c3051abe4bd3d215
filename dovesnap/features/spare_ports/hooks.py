"""``dovesnap serve --spare-ports N``: every network keeps N placeholder ports free (``plan.py``).

The count of a network's placeholders lives here; the DP is built with it (``adjust_dp``).
When a new container leaves too few free, a background refill (one at a time per network)
puts stand-ins on the new port numbers (``stand_ins.py``), has the DP written with the new
placeholders, waits for FAUCET to run them and removes the stand-ins. No Join waits for it: each
takes a placeholder FAUCET runs already. A timer, restarted by each new container and gone once
it fires, shrinks the pool back after a quiet spell: an idle network wakes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from dovesnap.driver.core import Driver
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Endpoint, Network
from dovesnap.features.spare_ports.plan import (
    QUIET,
    RECENT,
    after_quiet,
    after_take,
    free_placeholders,
    initial,
    new_placeholders,
)
from dovesnap.features.spare_ports.stand_ins import StandIns
from dovesnap.plan.faucet_dp import DpInputs

log = logging.getLogger(__name__)

LOAD_WAIT = 10.0  # seconds a refill waits for FAUCET to run its new placeholders


@dataclasses.dataclass
class Pool:
    """One network's placeholders: how many, and when its recent containers came."""

    placeholders: int
    takes: deque[float] = dataclasses.field(default_factory=deque)
    shrink: asyncio.TimerHandle | None = None
    growing: bool = False  # a refill runs and FAUCET has not yet run its placeholders
    tasks: set[asyncio.Task[None]] = dataclasses.field(default_factory=set)  # refills, with
    # the removal of their stand-ins (which may outlast ``growing``)
    refills: int = 0


class SparePortsHooks(Hooks):
    name = "spare_ports"

    def __init__(self, spare: int, driver: Driver, quiet: float = QUIET,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spare = spare
        self._driver = driver
        self._stand_ins = StandIns(driver.ovs, driver.netlink)
        self._quiet = quiet
        self._clock = clock
        self._pools: dict[str, Pool] = {}

    def _pool(self, net: Network, inputs: DpInputs | None = None) -> Pool:
        pool = self._pools.get(net.network_id)
        if pool is None:
            count = initial(inputs or net.dp_inputs(), self.spare)
            pool = self._pools[net.network_id] = Pool(count)
        return pool

    def _inputs(self, net: Network, pool: Pool) -> DpInputs:
        return dataclasses.replace(net.dp_inputs(), placeholders=pool.placeholders)

    async def network_created(self, net: Network) -> None:
        if self.spare > 0:
            self._pool(net)  # a new DP: FAUCET cold-starts it and runs every placeholder

    async def restored(self, net: Network) -> None:
        """FAUCET may run the DP since before the restart, with other placeholders: start
        from the preallocated ones and refill with stand-ins, as for a burst."""
        if self.spare <= 0:
            return
        await self._stand_ins.remove_left_over(net.bridge)
        pool = self._pools[net.network_id] = Pool(net.spec.preallocate_ports)
        self._start_refill(net, pool)

    def adjust_dp(self, net: Network, inputs: DpInputs) -> DpInputs:
        if self.spare <= 0:
            return inputs
        return dataclasses.replace(inputs, placeholders=self._pool(net, inputs).placeholders)

    async def endpoint_created(self, net: Network, ep: Endpoint,
                               options: Mapping[str, Any]) -> None:
        if self.spare <= 0:
            return
        pool = self._pool(net)
        now = self._clock()
        pool.takes.append(now)
        while pool.takes and pool.takes[0] < now - RECENT:
            pool.takes.popleft()
        self._start_refill(net, pool)
        if pool.shrink is not None:
            pool.shrink.cancel()
        pool.shrink = asyncio.get_running_loop().call_later(self._quiet, self._shrink, net)

    def _start_refill(self, net: Network, pool: Pool) -> None:
        if pool.growing:
            return  # the running one sees this container when it counts
        grown = after_take(self._inputs(net, pool), pool.placeholders, self.spare,
                           len(pool.takes))
        if grown is not None:
            pool.growing = True
            task = asyncio.get_running_loop().create_task(self._refill(net, pool, grown))
            pool.tasks.add(task)
            task.add_done_callback(pool.tasks.discard)

    async def _refill(self, net: Network, pool: Pool, grown: int) -> None:
        """Stand-ins, the DP written, FAUCET's flows for every new placeholder; then the next
        refill may start while this one takes its stand-ins away."""
        inputs = self._inputs(net, pool)
        log.debug("network %s: %d placeholders, %d free: refilling to %d", net.name,
                  pool.placeholders, free_placeholders(inputs), grown)
        ports = new_placeholders(inputs, grown)
        stand_ins: dict[int, str] = {}
        try:
            stand_ins = await self._stand_ins.add(net.bridge, ports, net.spec.mtu)
            pool.placeholders = max(pool.placeholders, grown)
            pool.refills += 1
            self._driver.dp_sync.request_soon(net)
            await self._flows_for(net, list(stand_ins), LOAD_WAIT)
        except Exception:  # the pool stays usable: a placeholder without flows is reinstalled
            log.exception("refilling the spare ports of %s failed", net.name)
        finally:
            pool.growing = False
            await self._stand_ins.remove(net.bridge, stand_ins)

    async def _flows_for(self, net: Network, ports: list[int], timeout: float) -> None:
        """Until the switch has FAUCET's flows for each port (all within ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for port in ports:
            if not await self._driver.port_forwarding(net.bridge, port, True,
                                                      max(0.0, deadline - loop.time())):
                log.warning("network %s: FAUCET gave spare port %d no flows within %.0fs; "
                            "a container there is put back when it joins", net.name, port,
                            timeout)

    def _shrink(self, net: Network) -> None:
        pool = self._pools.get(net.network_id)
        if pool is None:
            return
        pool.shrink = None
        if pool.growing:
            return  # still growing: not quiet after all
        smaller = after_quiet(self._inputs(net, pool), pool.placeholders, self.spare)
        if smaller is not None:
            log.debug("network %s quiet: %d placeholders down to %d", net.name,
                      pool.placeholders, smaller)
            pool.placeholders = smaller
            self._driver.dp_sync.request_soon(net)

    async def _stop(self, pool: Pool) -> None:
        if pool.shrink is not None:
            pool.shrink.cancel()
        tasks = list(pool.tasks)
        for task in tasks:
            task.cancel()  # each still takes its stand-ins away
        await asyncio.gather(*tasks, return_exceptions=True)

    async def network_deleted(self, net: Network) -> None:
        pool = self._pools.pop(net.network_id, None)
        if pool is not None:
            await self._stop(pool)

    async def daemon_stopping(self) -> None:
        for pool in self._pools.values():
            await self._stop(pool)
        self._pools.clear()

    def status(self, net: Network) -> Mapping[str, Any]:
        pool = self._pools.get(net.network_id)
        if pool is None:
            return {}
        return {"SparePorts": {"Free": free_placeholders(self._inputs(net, pool)),
                               "Placeholders": pool.placeholders, "Refills": pool.refills}}
