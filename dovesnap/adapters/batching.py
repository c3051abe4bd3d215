"""Requests that arrive together are served by one flush (group commit).

A request arriving while nothing is pending waits ``window`` seconds for company, then its batch
is flushed; requests arriving while a flush runs form the next batch, flushed as soon as that
one ends (they have waited already). So a lone change pays at most the window, and a burst
costs one flush per flush-time rather than one per request. ``flush`` answers each request on
its own: a result, or the exception that request alone gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[Sequence[T]], Awaitable[Sequence["R | BaseException"]]]


class Coalescer(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], window: float = 0.0) -> None:
        self._flush = flush
        self.window = window
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.requests = 0
        self.largest = 0

    async def submit(self, request: T) -> R:
        """Queue ``request`` and wait for its own answer."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        self._pending.append((request, answer))
        self.requests += 1
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        return await answer

    async def _run(self) -> None:
        if self.window > 0:
            await asyncio.sleep(self.window)
        while self._pending:
            batch, self._pending = self._pending, []
            batch = [(request, answer) for request, answer in batch if not answer.done()]
            if not batch:
                continue
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                outcomes = await self._flush([request for request, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"flush answered {len(outcomes)} of {len(batch)} requests")
            except asyncio.CancelledError:
                for _, answer in batch + self._pending:
                    answer.cancel()
                self._pending = []
                raise
            except Exception as err:  # the flush as a whole failed: every request gets it
                outcomes = [err] * len(batch)
            for (_, answer), outcome in zip(batch, outcomes, strict=True):
                if answer.done():
                    continue  # its caller gave up waiting
                if isinstance(outcome, BaseException):
                    answer.set_exception(outcome)
                else:
                    answer.set_result(outcome)

    async def close(self) -> None:
        """Stop: requests still waiting are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        for _, answer in self._pending:
            answer.cancel()
        self._pending = []
