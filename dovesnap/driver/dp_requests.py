"""Coalesced DP writes: many callers (20 containers joining at once) share one write.

A caller asks for the network's DP to be written as its state is now, and waits until a write
that began after it asked has finished. While a write runs, new requests pile up and are served
by the next one. A network that is deleted meanwhile gets nothing written back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dovesnap.driver.state import Network

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Requests:
    """The coalesced requests of one network: generations asked for and done."""

    asked: int = 0
    done: int = 0
    runner: asyncio.Task[None] | None = None
    changed: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)


class WriteRequests:
    def __init__(self, sync: Callable[[Network], Awaitable[Any]]) -> None:
        self._sync = sync  # writes the DP; called under the network's lock
        self._requests: dict[str, _Requests] = {}

    def ask(self, net: Network) -> _Requests:
        """Have a write begin after this call, without waiting for it."""
        reqs = self._requests.setdefault(net.network_id, _Requests())
        reqs.asked += 1
        if reqs.runner is None or reqs.runner.done():
            reqs.runner = asyncio.get_running_loop().create_task(self._serve(net, reqs))
        return reqs

    async def request(self, net: Network) -> None:
        """Returns once a write that began after this call has finished. Takes ``net.lock``."""
        reqs = self.ask(net)
        wanted = reqs.asked
        async with reqs.changed:
            await reqs.changed.wait_for(lambda: reqs.done >= wanted or reqs.runner is None
                                        or reqs.runner.done()
                                        or self._requests.get(net.network_id) is not reqs)

    async def _serve(self, net: Network, reqs: _Requests) -> None:
        try:
            while reqs.done < reqs.asked:
                target = reqs.asked
                try:
                    async with net.lock:
                        if self._requests.get(net.network_id) is not reqs:
                            break  # the network was deleted meanwhile: write nothing back
                        await self._sync(net)
                except Exception:  # a caller must never wait for ever
                    log.exception("writing the DP of %s failed", net.name or net.bridge)
                reqs.done = target
                async with reqs.changed:
                    reqs.changed.notify_all()
        finally:
            async with reqs.changed:
                reqs.changed.notify_all()

    async def close(self) -> None:
        """Stop the writes still to run (their callers return)."""
        runners = [r.runner for r in self._requests.values() if r.runner and not r.runner.done()]
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    def forget(self, net: Network) -> None:
        """The network is going: a pending request writes nothing (its callers return)."""
        self._requests.pop(net.network_id, None)
