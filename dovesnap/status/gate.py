"""The status server's door: who gets in, for how long, and how many at once.

It stands in front of aiohttp's protocol and decides each connection the moment it is accepted,
before a byte is read:

- a peer outside ``--status-auth-ips`` is cut off at once (the allow-list used to run only
  after the request headers were read, so anyone could hold connections open);
- past ``max_connections`` open ones, new connections are cut off too;
- a peer has ``header_timeout`` seconds to send its first request's headers (at most
  ``max_header_bytes``); aiohttp's keep-alive timeout (``idle_timeout``) covers the rest.

So the status server holds a bounded number of file descriptors, whatever a flood of
connections does, and the plugin socket in the same process keeps answering Docker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

HEADERS_END = b"\r\n\r\n"
SHED_LOG_EVERY = 60.0  # seconds between log lines about connections cut off at the cap


@dataclass(frozen=True)
class Limits:
    max_connections: int
    header_timeout: float
    idle_timeout: float
    max_header_bytes: int


class Gate:
    """Protocol factory for ``loop.create_server``: a :class:`_Guard` per connection, which
    hands an admitted one to ``inner()`` (aiohttp's handler) once its headers are in."""

    def __init__(
        self,
        inner: Callable[[], asyncio.Protocol],
        allowed: Callable[[str | None], bool],
        limits: Limits,
        served: Callable[[], int],
    ) -> None:
        self.inner = inner
        self.allowed = allowed
        self.limits = limits
        self._served = served  # connections aiohttp has now (handed over, not closed yet)
        self.waiting = 0  # admitted, headers not complete yet
        self.refused = 0  # cut off: not allowed
        self.shed = 0  # cut off: too many connections
        self.timed_out = 0  # cut off: headers too slow or too long
        self._last_shed_log = 0.0

    @property
    def open(self) -> int:
        return self.waiting + self._served()

    def __call__(self) -> asyncio.Protocol:
        return _Guard(self)

    def note_shed(self) -> None:
        self.shed += 1
        now = time.monotonic()
        if now - self._last_shed_log >= SHED_LOG_EVERY:
            self._last_shed_log = now
            log.warning("status server: %d connections open, the most it takes; cutting off new "
                        "ones (%d so far)", self.limits.max_connections, self.shed)


class _Guard(asyncio.Protocol):
    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else None
        gate = self.gate
        if not gate.allowed(host):
            gate.refused += 1
            transport.abort()
            return
        if gate.open >= gate.limits.max_connections:
            gate.note_shed()
            transport.abort()
            return
        gate.waiting += 1
        self.transport = transport
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(gate.limits.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self.gate.timed_out += 1
        self._drop()

    def _drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows, and settles the count

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        self.buffer += data
        if HEADERS_END in self.buffer:
            self._hand_over()
        elif len(self.buffer) > self.gate.limits.max_header_bytes:
            self.gate.timed_out += 1
            self._drop()

    def eof_received(self) -> bool | None:
        self._drop()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle()

    def _settle(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.gate.waiting -= 1
            self.transport = None

    def _hand_over(self) -> None:
        transport, buffered = self.transport, self.buffer
        assert transport is not None
        self._settle()
        self.buffer = b""
        inner = self.gate.inner()
        transport.set_protocol(inner)
        inner.connection_made(transport)
        inner.data_received(buffered)
