"""DpSync when FAUCET's config is behind faucetconfrpc and the server stops answering.

The driver runs on the fakes, with RemoteFaucetConfig over the fake server: a port that joins
while the server is down is shown failed closed with the reason (and FAUCET has no interface for
it, so it drops the port's packets); when the server answers again the port gets its policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_rpc import RemoteFaucetConfig
from dovesnap.driver import dp_sync
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.errors import FaucetConfigUnavailable
from tests.unit.factories import make_driver
from tests.unit.fakes import OPERATOR_YAML, FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.rpc_fakes import FakeConfRpc
from tests.unit.scenario import EP, NET

OPTIONS = {"ovs.bridge.dpid": "0x10"}


def interfaces(server: FakeConfRpc) -> dict[int, Any]:
    found: dict[int, Any] = ((server.config.get("dps") or {}).get("net1") or {}).get("interfaces", {})
    return found


@pytest.fixture
def server() -> FakeConfRpc:
    return FakeConfRpc(yaml.safe_load(OPERATOR_YAML))


@pytest.fixture
async def remote_driver(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    server: FakeConfRpc, faucet_check: FaucetCheckProcess, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Driver]:
    monkeypatch.setattr(dp_sync, "RETRY_SECONDS", (0.05, 0.1))
    drv = make_driver(settings, ovs, netlink, docker, RemoteFaucetConfig(server, faucet_check))
    yield drv
    await drv.close()


async def join(driver: Driver, docker: FakeDocker, ep: str, name: str) -> None:
    docker.add_container(NET, ep, "c" + ep, name, {"dovesnap.faucet.portacl": "allowall"})
    await driver.create_endpoint(NET, ep, None, None)
    await driver.join(NET, ep, "/var/run/docker/netns/x")
    endpoint = driver.networks[NET].endpoints[ep]
    await eventually(lambda: endpoint.attach_task is not None and endpoint.attach_task.done())


async def test_a_port_joining_while_the_server_is_down_waits_closed(
    remote_driver: Driver, docker: FakeDocker, server: FakeConfRpc
) -> None:
    docker.add_network(NET, "net1")
    await remote_driver.create_network(NET, OPTIONS, [], [], False)
    await eventually(lambda: "net1" in (server.config.get("dps") or {}))
    await join(remote_driver, docker, EP[0], "early")
    early = remote_driver.networks[NET].endpoints[EP[0]]
    assert interfaces(server)[early.ofport]["acls_in"] == ["allowall"]

    server.down = True
    await join(remote_driver, docker, EP[1], "late")
    net = remote_driver.networks[NET]
    late = net.endpoints[EP[1]]
    assert late.fail_closed is not None and late.fail_closed.startswith(dp_sync.UNREACHABLE)
    assert "fake:59999" in late.fail_closed
    assert net.error is not None and "fake:59999" in net.error
    assert early.fail_closed is None  # written before: FAUCET still has its policy
    assert late.ofport not in interfaces(server)
    info = remote_driver.endpoint_info(NET, EP[1])
    assert info["FailClosed"] == late.fail_closed

    server.down = False
    await eventually(lambda: net.error is None and late.fail_closed is None, timeout=5)
    assert interfaces(server)[late.ofport]["acls_in"] == ["allowall"]
    assert interfaces(server)[late.ofport]["description"].startswith("late ")


async def test_creating_a_network_while_the_server_is_down_fails_cleanly(
    remote_driver: Driver, docker: FakeDocker, server: FakeConfRpc, ovs: FakeOvs
) -> None:
    server.down = True
    docker.add_network(NET, "net1")
    with pytest.raises(FaucetConfigUnavailable, match="fake:59999"):
        await remote_driver.create_network(NET, OPTIONS, [], [], False)
    assert ovs.bridges() == [] and NET not in remote_driver.networks


async def test_deleting_the_network_stops_the_retries(
    remote_driver: Driver, docker: FakeDocker, server: FakeConfRpc
) -> None:
    docker.add_network(NET, "net1")
    await remote_driver.create_network(NET, OPTIONS, [], [], False)
    await eventually(lambda: "net1" in (server.config.get("dps") or {}))
    server.down = True
    await join(remote_driver, docker, EP[0], "waiting")
    retry = remote_driver.dp_sync._retries[NET]
    server.down = False
    await remote_driver.delete_network(NET)
    assert "net1" not in (server.config.get("dps") or {})
    await asyncio.sleep(0)
    assert retry.done() and NET not in remote_driver.dp_sync._retries


async def test_a_port_whose_removal_did_not_reach_faucet_is_not_given_again(
    remote_driver: Driver, docker: FakeDocker, server: FakeConfRpc
) -> None:
    docker.add_network(NET, "net1")
    await remote_driver.create_network(NET, OPTIONS, [], [], False)
    await eventually(lambda: "net1" in (server.config.get("dps") or {}))
    await join(remote_driver, docker, EP[0], "leaving")
    old_port = remote_driver.networks[NET].endpoints[EP[0]].ofport
    assert interfaces(server)[old_port]["description"].startswith("leaving ")
    server.down = True
    await remote_driver.leave(NET, EP[0])
    await remote_driver.delete_endpoint(NET, EP[0])
    # FAUCET still has the departed container's policy on that port: a newcomer must not get it.
    assert interfaces(server)[old_port]["description"].startswith("leaving ")
    await join(remote_driver, docker, EP[1], "newcomer")
    newcomer = remote_driver.networks[NET].endpoints[EP[1]]
    assert newcomer.ofport != old_port
    server.down = False
    net = remote_driver.networks[NET]
    await eventually(lambda: net.error is None, timeout=5)
    assert old_port not in interfaces(server)
    assert remote_driver.dp_sync.unremoved_ports(net) == set()
