"""Events: one JSON object per thing that happens to a network or a container port.

``EventBus`` fans events out to subscribers, each with its own bounded ``asyncio.Queue``; a
subscriber that falls behind is dropped (its stream ends with a ``subscriber_dropped`` event)
rather than slowing the daemon. ``EventHooks`` turns the driver's hooks into events (published
through ``EventBus.publish``), and ``stream_events`` serves them as newline-delimited JSON at
``GET /events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dovesnap.driver.hooks import Hooks, Notify
from dovesnap.driver.state import Endpoint, Network

log = logging.getLogger("dovesnap.events")

Event = dict[str, Any]

NETWORK_CREATED = "network_created"
NETWORK_DELETED = "network_deleted"
CONTAINER_JOINED = "container_joined"
CONTAINER_LEFT = "container_left"
PORT_FAIL_CLOSED = "port_fail_closed"
RECOVERED = "recovered"
SUBSCRIBER_DROPPED = "subscriber_dropped"


@dataclass(eq=False)  # identity: one subscriber is one entry of the bus's set
class Subscription:
    queue: asyncio.Queue[Event]
    dropped: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, timeout: float) -> Event | None:
        """The next event; None on timeout, or once dropped and drained."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.dropped:
            return None
        getter = asyncio.ensure_future(self.queue.get())
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            done, _ = await asyncio.wait({getter, waker}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        if getter in done and not getter.cancelled():
            return getter.result()
        return None


class EventBus:
    """Publish events to every subscriber; log each one as a JSON line."""

    def __init__(self, queue_size: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.queue_size = queue_size
        self._clock = clock
        self._subscribers: set[Subscription] = set()
        self.published = 0
        self.dropped_subscribers = 0
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        sub = Subscription(asyncio.Queue(self.queue_size))
        if self.closed:
            sub.dropped = True
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def publish(self, kind: str, /, **fields: Any) -> Event:
        event: Event = {"time": round(self._clock(), 3), "event": kind, **fields}
        self.published += 1
        log.info("%s", json.dumps(event, sort_keys=True, default=str))
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(sub)
        return event

    def _drop(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.dropped = True
        sub.wake.set()
        self.dropped_subscribers += 1
        log.warning("an event subscriber fell %d events behind and was dropped", self.queue_size)

    def close(self) -> None:
        """End every stream (the daemon is stopping)."""
        self.closed = True
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            sub.dropped = True
            sub.wake.set()


def _network_fields(net: Network) -> dict[str, Any]:
    return {
        "network_id": net.network_id,
        "network": net.name or "",
        "bridge": net.bridge,
        "dpid": net.spec.dpid_hex,
    }


def _port_fields(net: Network, ep: Endpoint) -> dict[str, Any]:
    fields = _network_fields(net)
    fields.update({
        "endpoint_id": ep.endpoint_id,
        "container": ep.container.name if ep.container else "",
        "container_id": ep.container.id if ep.container else "",
        "port": ep.ofport,
        "mac": ep.mac,
        "ip": (ep.address or "").split("/")[0],
    })
    return fields


class EventHooks(Hooks):
    """Publishes network and container events from the driver's hooks.

    A join is reported once the driver has finished with it (its FAUCET port written, or the
    port failed closed): a task waits for the network's lock, which the driver holds until then.
    """

    name = "events"

    def __init__(self, publish: Notify) -> None:
        self.publish = publish
        self._tasks: set[asyncio.Task[None]] = set()
        self._fail_closed: dict[str, str] = {}
        self._announced: set[str] = set()

    async def network_named(self, net: Network) -> None:
        if net.network_id not in self._announced:  # not for a network restored after a restart
            self._announced.add(net.network_id)
            self.publish(NETWORK_CREATED, **_network_fields(net), mode=net.spec.mode)

    async def network_deleted(self, net: Network) -> None:
        for ep_id in net.endpoints:
            self._fail_closed.pop(ep_id, None)
        if net.network_id in self._announced:  # not for a create that was refused
            self._announced.discard(net.network_id)
            self.publish(NETWORK_DELETED, **_network_fields(net))

    async def endpoint_attached(self, net: Network, ep: Endpoint) -> None:
        attach = ep.attach_task
        if attach is asyncio.current_task() and attach is not None:
            # Reported when the attach is over (its FAUCET write done, fail_closed known), in the
            # same loop turn, before a Leave can change the endpoint.
            attach.add_done_callback(lambda _: self._joined(net, ep))
            return
        task = asyncio.get_running_loop().create_task(self._after_attach(net, ep))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_attach(self, net: Network, ep: Endpoint) -> None:
        async with net.lock:
            self._joined(net, ep)

    def _joined(self, net: Network, ep: Endpoint) -> None:
        if ep.container is None or net.endpoints.get(ep.endpoint_id) is not ep:
            return
        self.publish(CONTAINER_JOINED, **_port_fields(net, ep), fail_closed=ep.fail_closed or "")
        self.report_fail_closed(net)

    def report_fail_closed(self, net: Network) -> None:
        """Publish a fail-closed event for each port newly cut off on ``net``."""
        for ep in net.endpoints.values():
            reason = ep.fail_closed or ""
            if reason and self._fail_closed.get(ep.endpoint_id) != reason:
                self.publish(PORT_FAIL_CLOSED, **_port_fields(net, ep), reason=reason)
            if reason:
                self._fail_closed[ep.endpoint_id] = reason
            else:
                self._fail_closed.pop(ep.endpoint_id, None)

    async def endpoint_left(self, net: Network, ep: Endpoint) -> None:
        self._fail_closed.pop(ep.endpoint_id, None)
        self.publish(CONTAINER_LEFT, **_port_fields(net, ep))

    async def restored(self, net: Network) -> None:
        self._announced.add(net.network_id)
        self.publish(RECOVERED, **_network_fields(net), action="network rebuilt after restart",
                     containers=len(net.endpoints))

    def recovery(self, action: str, /, **fields: Any) -> None:
        """For recovery code: report one action taken (bridge rebuilt, FAUCET restarted ...)."""
        self.publish(RECOVERED, action=action, **fields)

    async def daemon_stopping(self) -> None:
        await self.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def recovery_notifier(publish: Notify) -> Notify:
    """``Recovery``'s ``notify``: each action taken becomes a ``recovered`` event."""

    def notify(action: str, /, **fields: Any) -> None:
        publish(RECOVERED, action=action, **fields)

    return notify


async def stream_events(
    bus: EventBus, request: web.Request, heartbeat: float = 15.0
) -> web.StreamResponse:
    """``GET /events``: newline-delimited JSON, one event a line, until the client goes away.

    A blank line is sent every ``heartbeat`` seconds while nothing happens, so a client that went
    away is noticed; NDJSON readers skip blank lines.
    """
    sub = bus.subscribe()
    response = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson", "Cache-Control": "no-store",
    })
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        while True:
            event = await sub.next(heartbeat)
            if event is not None:
                await response.write(json.dumps(event, default=str).encode() + b"\n")
            elif sub.dropped:
                if not bus.closed:
                    note = {"time": round(time.time(), 3), "event": SUBSCRIBER_DROPPED,
                            "reason": f"more than {bus.queue_size} events behind"}
                    await response.write(json.dumps(note).encode() + b"\n")
                break
            else:
                await response.write(b"\n")
    except ConnectionResetError:
        pass  # the client went away
    finally:
        bus.unsubscribe(sub)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response
