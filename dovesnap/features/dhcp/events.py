"""The FIFO through which the clients' script reports leases, read by the event loop.

dovesnap holds the FIFO open read-write, so it never sees end-of-file when no script is writing
and the loop is woken only when a line arrives (no polling). Lines are shorter than PIPE_BUF, so
reports from several clients never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from dovesnap.features.dhcp.plan import split_lines

log = logging.getLogger(__name__)

MAX_PENDING = 4096


class LeaseReports(Protocol):
    def start(self, fifo: Path, on_line: Callable[[str], None]) -> None: ...
    def stop(self) -> None: ...


class FifoReader:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._pending = b""
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, fifo: Path, on_line: Callable[[str], None]) -> None:
        fifo.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            mode = fifo.lstat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISFIFO(mode):
            fifo.unlink()
            mode = None
        if mode is None:
            os.mkfifo(fifo, 0o600)
        self._fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable, on_line)

    def _readable(self, on_line: Callable[[str], None]) -> None:
        if self._fd is None:
            return
        try:
            chunk = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        lines, self._pending = split_lines(self._pending + chunk)
        if len(self._pending) > MAX_PENDING:
            log.warning("dropping %d bytes of a DHCP report with no end of line", len(self._pending))
            self._pending = b""
        for line in lines:
            try:
                on_line(line)
            except Exception:  # one bad report must not stop the others
                log.exception("handling DHCP report %r failed", line[:200])

    def stop(self) -> None:
        if self._fd is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
