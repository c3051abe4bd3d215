"""Running blocking calls (OVSDB, netlink, Docker, files, subprocesses) off the event loop.

Every adapter call that may block goes through ``run_blocking``, so the event loop keeps
answering Docker while a worker thread waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` in a worker thread (``asyncio.to_thread``)."""
    return await asyncio.to_thread(func, *args, **kwargs)
