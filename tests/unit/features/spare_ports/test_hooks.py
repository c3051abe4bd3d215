"""Spare ports on the driver with fakes and FAUCET's own parser: containers take placeholders
FAUCET runs already (no reload at Join), the pool refills in the background and shrinks back
when the network is quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.features.spare_ports.hooks import SparePortsHooks
from dovesnap.features.spare_ports.stand_ins import ROLE_STAND_IN
from dovesnap.model.names import EXT_ROLE, STAND_IN_PREFIX
from dovesnap.plan.faucet_dp import PREALLOCATED_DESCRIPTION
from tests.unit.factories import make_driver
from tests.unit.fakes import CountingReloader, FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, attach, dps, make_net

QUIET = 0.3
BRIDGE = "odsbra1b2c"


def placeholders(store: FaucetConfigStore) -> list[int]:
    ifaces = dps(store).get("net1", {}).get("interfaces", {})
    return sorted(p for p, i in ifaces.items() if i.get("description") == PREALLOCATED_DESCRIPTION)


@pytest.fixture
async def spare(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> AsyncIterator[tuple[Driver, SparePortsHooks]]:
    hooks: list[SparePortsHooks] = []

    def build(driver: Driver) -> list[SparePortsHooks]:
        hooks.append(SparePortsHooks(4, driver, quiet=QUIET))
        return hooks

    driver = make_driver(settings, ovs, netlink, docker, store, build)
    yield driver, hooks[0]
    await driver.close()
    await hooks[0].daemon_stopping()


async def test_containers_take_ready_ports_and_the_pool_refills_behind_them(
    spare: tuple[Driver, SparePortsHooks], docker: FakeDocker, store: FaucetConfigStore,
    reloader: CountingReloader, ovs: FakeOvs, netlink: FakeNetlink,
) -> None:
    driver, hooks = spare
    hooks._quiet = 60.0  # no shrink in this test
    seen_loading: list[dict[str, int | None]] = []

    async def flows(bridge: str, port: int, forwarding: bool, timeout: float) -> bool:
        seen_loading.append(ovs.ofports(BRIDGE))  # what OVS has while FAUCET loads the refill
        return True

    driver.port_forwarding = flows
    await make_net(driver, docker)
    assert placeholders(store) == [1, 2, 3, 4]  # four ready before any container
    reloads = reloader.calls
    await attach(driver, docker, EP[0], "one")
    await attach(driver, docker, EP[1], "two")
    assert reloader.calls == reloads  # each took a port FAUCET ran already: no reload
    await attach(driver, docker, EP[2], "three")  # one free left: the pool refills
    # Six free: twice the three recent (port 3's new name follows the refill).
    await eventually(lambda: placeholders(store) == [4, 5, 6, 7, 8, 9])
    net = driver.networks[NET]
    assert hooks.status(net) == {"SparePorts": {"Free": 6, "Placeholders": 9, "Refills": 1}}
    # While FAUCET loaded the new placeholders, each had a stand-in up on its number; after,
    # none is left, on the bridge or on the host.
    during = [{name: port for name, port in snap.items() if name.startswith(STAND_IN_PREFIX)}
              for snap in seen_loading]
    assert sorted(next(s for s in during if s).values()) == [5, 6, 7, 8, 9]
    await eventually(lambda: not any(n.startswith(STAND_IN_PREFIX) for n in ovs.ofports(BRIDGE)))
    assert not [link for link in netlink.links if link.startswith("odss")]
    await eventually(lambda: reloader.calls > reloads)
    # One write for the refill and the three new names, taken together or in two steps.
    assert reloader.calls - reloads <= 2


async def test_a_quiet_network_gives_its_extra_ports_back_and_stops_waking(
    spare: tuple[Driver, SparePortsHooks], docker: FakeDocker, store: FaucetConfigStore,
) -> None:
    driver, hooks = spare
    await make_net(driver, docker, preallocate_ports="2")
    assert placeholders(store) == [1, 2, 3, 4]  # the two preallocated count among the four
    for n in range(3):
        await attach(driver, docker, EP[n], f"c{n}")
    await eventually(lambda: len(placeholders(store)) == 6)
    await eventually(lambda: len(placeholders(store)) == 4, timeout=5.0)  # quiet: back to four
    assert placeholders(store) == [4, 5, 6, 7]
    pool = hooks._pools[NET]
    assert pool.shrink is None  # nothing left to wake the loop


async def test_no_spare_ports_means_no_placeholders(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> None:
    driver = make_driver(settings, ovs, netlink, docker, store,
                         lambda d: [SparePortsHooks(0, d)])
    try:
        await make_net(driver, docker)
        await attach(driver, docker, EP[0], "one")
        assert placeholders(store) == []
        assert driver.hooks[0].status(driver.networks[NET]) == {}
    finally:
        await driver.close()


async def test_a_restart_removes_left_over_stand_ins_and_refills(
    spare: tuple[Driver, SparePortsHooks], docker: FakeDocker, ovs: FakeOvs,
    netlink: FakeNetlink, store: FaucetConfigStore,
) -> None:
    driver, hooks = spare
    await make_net(driver, docker)
    netlink.create_veth("odssp00000001", "odssq00000001", 1500, None)
    ovs.add_port(BRIDGE, "odssp00000001", 50, {EXT_ROLE: ROLE_STAND_IN})
    del hooks._pools[NET]
    await hooks.restored(driver.networks[NET])
    assert "odssp00000001" not in ovs.ofports(BRIDGE)
    pool = hooks._pools[NET]
    assert pool.growing  # restarted with no placeholder: refilled to four
    await eventually(lambda: not pool.growing and not pool.tasks)
    assert pool.placeholders == 4


async def test_a_deleted_network_leaves_no_timer(
    spare: tuple[Driver, SparePortsHooks], docker: FakeDocker,
) -> None:
    driver, hooks = spare
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "one")
    assert hooks._pools[NET].shrink is not None
    await driver.delete_network(NET)
    assert NET not in hooks._pools


async def test_stopping_mid_refill_still_takes_the_stand_ins_away(
    spare: tuple[Driver, SparePortsHooks], docker: FakeDocker, ovs: FakeOvs,
    netlink: FakeNetlink,
) -> None:
    driver, hooks = spare
    waiting = asyncio.Event()

    async def never(bridge: str, port: int, forwarding: bool, timeout: float) -> bool:
        waiting.set()
        await asyncio.sleep(3600)  # FAUCET never gets the refill's flows in
        return False

    await make_net(driver, docker)
    driver.port_forwarding = never
    for n in range(3):  # the third leaves one free: a refill starts and waits
        await driver.create_endpoint(NET, EP[n], None, None)
    await asyncio.wait_for(waiting.wait(), 5)
    assert any(n.startswith(STAND_IN_PREFIX) for n in ovs.ofports(BRIDGE))
    await hooks.daemon_stopping()
    assert not any(n.startswith(STAND_IN_PREFIX) for n in ovs.ofports(BRIDGE))
    assert not [link for link in netlink.links if link.startswith("odss")]
