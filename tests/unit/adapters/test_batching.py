"""The Coalescer: requests arriving together share one flush; each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from dovesnap.adapters.batching import Coalescer


class Recorder:
    """A flush that records its batches; odd numbers are refused (their caller's own error)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def __call__(self, requests: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(requests))
        await asyncio.sleep(self.delay)
        return [ValueError(f"odd {r}") if r % 2 else r * 10 for r in requests]


async def test_requests_arriving_together_share_one_flush() -> None:
    flush = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(flush, window=0.01)
    results = await asyncio.gather(*(coalescer.submit(n) for n in (0, 2, 4, 6)))
    assert results == [0, 20, 40, 60]
    assert flush.batches == [[0, 2, 4, 6]]
    assert (coalescer.batches, coalescer.requests, coalescer.largest) == (1, 4, 4)


async def test_each_caller_gets_its_own_error_and_the_rest_their_results() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder(), window=0.01)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(4)),
                                   return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


async def test_requests_during_a_flush_form_the_next_batch_without_waiting_again() -> None:
    flush = Recorder(delay=0.2)
    coalescer: Coalescer[int, int] = Coalescer(flush, window=0.0)
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0.05)  # the first flush is running
    loop = asyncio.get_running_loop()
    started = loop.time()
    later = await asyncio.gather(*(coalescer.submit(n) for n in (2, 4, 6)))
    assert await first == 0 and later == [20, 40, 60]
    assert flush.batches == [[0], [2, 4, 6]]
    # 0.15 s left of the first flush, 0.2 s for the second: no extra wait in between
    assert loop.time() - started < 0.5


async def test_a_lone_request_waits_only_the_window() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder(), window=0.02)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await coalescer.submit(8) == 80
    assert 0.02 <= loop.time() - started < 0.2


async def test_a_failing_flush_fails_every_request_of_its_batch_only() -> None:
    calls = 0

    async def flush(requests: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        return list(requests)

    coalescer: Coalescer[int, int] = Coalescer(flush, window=0.01)
    results = await asyncio.gather(coalescer.submit(1), coalescer.submit(2),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await coalescer.submit(3) == 3


async def test_a_caller_that_gives_up_does_not_break_the_batch() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder(delay=0.05), window=0.01)
    impatient = asyncio.ensure_future(coalescer.submit(2))
    patient = asyncio.ensure_future(coalescer.submit(4))
    await asyncio.sleep(0.02)
    impatient.cancel()
    assert await patient == 40
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_close_cancels_waiting_requests() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder(delay=5), window=0.0)
    waiting = asyncio.ensure_future(coalescer.submit(2))
    await asyncio.sleep(0.01)
    await coalescer.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
