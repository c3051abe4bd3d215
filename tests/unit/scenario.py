"""Scenario helpers for the driver tests: networks and containers through the driver on fakes."""

from __future__ import annotations

from typing import Any

import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from tests.unit.fakes import FakeDocker, eventually

NET = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
NET2 = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
EP = [f"e{i:02d}" + "0" * 29 for i in range(20)]
IPV4 = [{"Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}]


def dps(store: FaucetConfigStore) -> dict[str, Any]:
    return yaml.safe_load(store.path.read_text()).get("dps") or {}


def iface(store: FaucetConfigStore, dp: str, port: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = dps(store).get(dp, {}).get("interfaces", {}).get(port)
    return found


async def make_net(
    driver: Driver, docker: FakeDocker, net_id: str = NET, netname: str = "net1",
    ipv4: Any = (), internal: bool = False, **options: str,
) -> None:
    docker.add_network(net_id, netname)
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x10"} | options).items()}
    store = driver.faucet
    writes = getattr(store, "writes", -1)
    await driver.create_network(net_id, opts, ipv4, [], internal)
    await eventually(lambda: netname in dps(driver.faucet))
    # The file is there a moment before FAUCET is told: let that reload happen first.
    await eventually(lambda: getattr(store, "writes", 0) > writes
                     and getattr(store, "reloads", 0) >= getattr(store, "writes", 0))


async def attach(
    driver: Driver, docker: FakeDocker, ep: str, cname: str, labels: dict[str, str] | None = None,
    net_id: str = NET, options: dict[str, Any] | None = None,
) -> None:
    """A container joins: ``labels`` its labels, ``options`` Docker's endpoint options."""
    docker.add_container(net_id, ep, "c" + ep, cname, labels)
    await driver.create_endpoint(net_id, ep, None, None, options)
    await driver.join(net_id, ep, "/var/run/docker/netns/x")
    endpoint = driver.networks[net_id].endpoints[ep]
    await eventually(lambda: endpoint.attach_task is not None and endpoint.attach_task.done())
