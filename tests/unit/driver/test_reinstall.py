"""A port FAUCET configured without flows (it saw the link-up too late) is taken out of the
config and put back: at Join, and when the periodic check finds it."""

from __future__ import annotations

import dataclasses
from typing import Any

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from dovesnap.driver.reinstall import reinstall_port
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs
from tests.unit.scenario import EP, NET, attach, iface, make_net


async def test_the_port_goes_out_and_comes_back(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    seen: list[dict[str, Any] | None] = []

    async def loaded(timeout: float) -> bool:
        seen.append(iface(store, "net1", 1))
        return True

    async def forwarding(bridge: str, port: int, forward: bool, timeout: float) -> bool:
        seen.append(iface(store, "net1", 1))
        return True

    driver.faucet_loaded, driver.port_forwarding = loaded, forwarding
    net = driver.networks[NET]
    ep = net.endpoints[EP[0]]
    assert await reinstall_port(driver, net, ep, 1.0)
    assert seen[0] is None and seen[1] is not None  # out (FAUCET loaded that), then back in
    assert not ep.withheld and iface(store, "net1", 1) is not None
    assert netlink.bounced == ["odsvee0000"]  # so FAUCET hears the link is up
    ep.fail_closed = "bad"
    assert not await reinstall_port(driver, net, ep, 1.0)  # a closed port stays out


async def test_join_puts_back_a_port_whose_flows_do_not_come(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    docker.starting[NET] = [ContainerInfo("c" * 12, "web")]
    answers = [False, True]  # no flows at first; flows once it was put back
    asked: list[bool] = []

    async def forwarding(bridge: str, port: int, forward: bool, timeout: float) -> bool:
        asked.append(forward)
        return answers.pop(0)

    driver.port_forwarding = forwarding
    driver.settings = dataclasses.replace(driver.settings, join_hold=3.0)
    await driver.create_endpoint(NET, EP[0], None, None)
    await driver.join(NET, EP[0], "/var/run/docker/netns/x")
    assert asked == [True, True] and iface(store, "net1", 1) is not None


async def test_last_resort_reconnects_the_bridge(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, ovs: FakeOvs
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    plans: list[tuple[str, ...]] = []
    answers = [False, True]

    async def forwarding(bridge: str, port: int, forward: bool, timeout: float) -> bool:
        plans.append(ovs.bridges_by_name[bridge].plan.controllers)
        return answers.pop(0)

    driver.port_forwarding = forwarding
    net = driver.networks[NET]
    before = ovs.connects["odsbra1b2c"]
    assert await reinstall_port(driver, net, net.endpoints[EP[0]], 1.0)
    assert ovs.connects["odsbra1b2c"] == before + 1  # FAUCET cold-starts the DP
    assert plans[1] == ovs.bridges_by_name["odsbra1b2c"].plan.controllers != ()
