"""Coalesce bursts of change notifications into one run of an async job.

Notifications arrive from other threads (the OVSDB IDL thread, a netlink watch); ``trigger_threadsafe``
hands them to the event loop. The first trigger starts a short timer and later ones join it, so
the job runs at most ``delay`` after the first change; a trigger while the job runs makes it run
once more afterwards, so no change is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Debounced:
    def __init__(
        self, job: Callable[[], Awaitable[None]], delay: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._job = job
        self._delay = delay
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def trigger_threadsafe(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self.trigger)
        except RuntimeError:  # the loop closed meanwhile (shutdown)
            return

    def trigger(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        if self._timer is None:
            self._timer = self._loop.call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._job()
        except Exception:  # keep reacting to later changes
            log.exception("change handler failed")
        if self._again:
            self._again = False
            self._timer = self._loop.call_later(self._delay, self._fire)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
