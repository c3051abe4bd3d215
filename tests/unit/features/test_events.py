"""Events: the bus (fan-out, slow subscribers dropped) and the hooks on a driver over fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.features import events as ev
from dovesnap.features.events import EventBus, EventHooks
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs
from tests.unit.scenario import EP, NET, attach, make_net


def drain(sub: ev.Subscription) -> list[dict[str, Any]]:
    found = []
    while not sub.queue.empty():
        found.append(sub.queue.get_nowait())
    return found


async def test_every_subscriber_gets_every_event_with_time_and_kind() -> None:
    bus = EventBus(clock=lambda: 1234.5)
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish("thing", x=1)
    assert drain(a) == drain(b) == [{"time": 1234.5, "event": "thing", "x": 1}]
    bus.unsubscribe(a)
    bus.publish("other")
    assert drain(a) == [] and [e["event"] for e in drain(b)] == ["other"]


async def test_slow_subscriber_is_dropped_and_others_keep_going() -> None:
    bus = EventBus(queue_size=3)
    slow, fast = bus.subscribe(), bus.subscribe()
    for i in range(3):
        bus.publish("n", i=i)
        assert (await fast.next(0.1) or {})["i"] == i
    bus.publish("n", i=3)  # slow's queue is full: it is dropped
    assert slow.dropped and not fast.dropped
    assert bus.subscribers == 1 and bus.dropped_subscribers == 1
    assert [e["i"] for e in drain(slow)] == [0, 1, 2]  # what it had is still delivered
    assert await slow.next(0.1) is None
    assert (await fast.next(0.1) or {})["i"] == 3


async def test_next_times_out_then_wakes_on_close() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    assert await sub.next(0.01) is None and not sub.dropped
    waiter = asyncio.ensure_future(sub.next(10))
    await asyncio.sleep(0.01)
    bus.close()
    assert await asyncio.wait_for(waiter, 1) is None
    assert sub.dropped and bus.subscribe().dropped  # a closed bus takes no new subscribers


@pytest.fixture
async def hooked(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore,
    settings: DriverSettings,
) -> AsyncIterator[tuple[Driver, ev.Subscription, EventHooks]]:
    bus = EventBus()
    hooks = EventHooks(bus.publish)
    drv = make_driver(settings, ovs, netlink, docker, store, [hooks])
    sub = bus.subscribe()
    yield drv, sub, hooks
    await hooks.close()
    await drv.close()


async def events_until(sub: ev.Subscription, kind: str, count: int = 1) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while sum(1 for e in seen if e["event"] == kind) < count:
        event = await sub.next(3)
        assert event is not None, f"no {kind} event; saw {seen}"
        seen.append(event)
    return seen


async def test_network_and_container_life_as_events(
    hooked: tuple[Driver, ev.Subscription, EventHooks], docker: FakeDocker
) -> None:
    driver, sub, _ = hooked
    await make_net(driver, docker)
    created = (await events_until(sub, ev.NETWORK_CREATED))[-1]
    assert created["network"] == "net1" and created["network_id"] == NET and created["dpid"] == "0x10"
    await attach(driver, docker, EP[0], "web")
    joined = (await events_until(sub, ev.CONTAINER_JOINED))[-1]
    assert (joined["container"], joined["port"], joined["fail_closed"]) == ("web", 1, "")
    await driver.leave(NET, EP[0])
    left = (await events_until(sub, ev.CONTAINER_LEFT))[-1]
    assert left["container"] == "web" and left["endpoint_id"] == EP[0]
    await driver.delete_endpoint(NET, EP[0])
    await driver.delete_network(NET)
    assert (await events_until(sub, ev.NETWORK_DELETED))[-1]["network"] == "net1"


@pytest.mark.parametrize(("labels", "reason"), [
    ({"dovesnap.faucet.portacl": "no-such-acl"}, "FAUCET refused"),  # found by sync_dp
    ({"dovesnap.faucet.portacl": "bad acl!"}, "label dovesnap.faucet.portacl"),  # by the labels
])
async def test_fail_closed_port_is_an_event_once(
    hooked: tuple[Driver, ev.Subscription, EventHooks], docker: FakeDocker,
    labels: dict[str, str], reason: str,
) -> None:
    driver, sub, hooks = hooked
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "bad", labels)
    seen = await events_until(sub, ev.PORT_FAIL_CLOSED)
    joined = next(e for e in seen if e["event"] == ev.CONTAINER_JOINED)
    assert joined["fail_closed"].startswith(reason)
    failed = seen[-1]
    assert failed["container"] == "bad" and failed["reason"].startswith(reason)
    hooks.report_fail_closed(driver.networks[NET])  # nothing new: no second event
    assert await sub.next(0.05) is None


async def test_refused_create_is_not_an_event(
    hooked: tuple[Driver, ev.Subscription, EventHooks], docker: FakeDocker
) -> None:
    driver, sub, _ = hooked
    with pytest.raises(Exception, match="ACL"):
        await make_net(driver, docker, default_acl="missing-acl")
    assert await sub.next(0.05) is None


async def test_restored_network_is_a_recovery_event(
    hooked: tuple[Driver, ev.Subscription, EventHooks], docker: FakeDocker
) -> None:
    driver, sub, hooks = hooked
    await make_net(driver, docker)
    await events_until(sub, ev.NETWORK_CREATED)
    await hooks.restored(driver.networks[NET])
    hooks.recovery("bridge rebuilt", bridge="odsbra1b2c")
    got = [await sub.next(1), await sub.next(1)]
    assert [e["event"] for e in got if e] == [ev.RECOVERED, ev.RECOVERED]
    assert got[1] is not None and got[1]["action"] == "bridge rebuilt"
