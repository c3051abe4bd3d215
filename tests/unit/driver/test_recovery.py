"""Recovery against stateful fakes: lost bridges and ports, stale networks and endpoints,
containers Docker gave up on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dovesnap.adapters.docker_api import NetworkInfo
from dovesnap.driver.core import Driver
from dovesnap.driver.recovery import Recovery, ipam_to_ipv4_data
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs
from tests.unit.scenario import EP, NET, attach, dps, make_net

NET2 = "f" * 64


class FakeRecords:
    """What Docker would say about endpoints and stopped containers."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, str]] = {}
        self.revivable: list[str] = []
        self.started: list[str] = []

    def network_endpoints(self, network_id: str) -> dict[str, str] | None:
        return self.endpoints.get(network_id, {})

    def revivable_containers(self, network_ids: list[str]) -> list[str]:
        return list(self.revivable)

    def start_container(self, container_id: str) -> None:
        self.started.append(container_id)
        self.revivable.remove(container_id)


class Feed:
    def __init__(self) -> None:
        self.subscribers: list[Callable[[str, str, str], None]] = []

    def subscribe(self, subscriber: Callable[[str, str, str], None]) -> None:
        self.subscribers.append(subscriber)


def _recovery(driver: Driver, records: FakeRecords) -> tuple[Recovery, list[str]]:
    seen: list[str] = []
    rec = Recovery(driver, records, Feed(), lambda action, **_fields: seen.append(action))
    return rec, seen


async def test_lost_bridge_is_rebuilt_with_ports_at_their_old_numbers(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "a")
    await attach(driver, docker, EP[1], "b")
    bridge = driver.networks[NET].bridge
    before = ovs.ofports(bridge)
    ovs.delete_bridge(bridge)  # ovs-vsctl del-br, or OVS restarted with an empty database
    rec, seen = _recovery(driver, FakeRecords())
    assert await rec.repair(driver.networks[NET])
    assert ovs.ofports(bridge) == before
    assert netlink.links[bridge].up
    assert seen == ["bridge repaired"]
    assert not await rec.repair(driver.networks[NET])  # nothing lost: nothing done


async def test_port_whose_veth_is_gone_is_not_reattached(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "a")
    bridge = driver.networks[NET].bridge
    host = driver.networks[NET].endpoints[EP[0]].host_ifname
    ovs.delete_port(bridge, host)
    netlink.delete_link(host)
    rec, _ = _recovery(driver, FakeRecords())
    assert not await rec.repair(driver.networks[NET])
    assert host not in ovs.ofports(bridge)


async def test_deleted_network_is_not_resurrected(driver: Driver, docker: FakeDocker,
                                                  ovs: FakeOvs) -> None:
    await make_net(driver, docker)
    net = driver.networks[NET]
    await driver.delete_network(NET)
    rec, _ = _recovery(driver, FakeRecords())
    assert not await rec.repair(net)
    assert net.bridge not in ovs.bridges_by_name


async def test_docker_reconcile_rebuilds_removes_and_revives(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs
) -> None:
    await make_net(driver, docker)  # known to dovesnap, but Docker no longer has it
    await attach(driver, docker, EP[0], "a")
    docker.add_network(NET2, "net2")
    docker.networks.append(NetworkInfo(
        NET2, "net2", {"ovs.bridge.dpid": "0x22"}, internal=True,
        ipam_config=({"Subnet": "10.7.0.0/24", "Gateway": "10.7.0.1"},),
    ))
    records = FakeRecords()
    records.revivable = ["cafe"]
    rec, seen = _recovery(driver, records)
    await rec.reconcile_with_docker()
    assert NET not in driver.networks and "net1" not in dps(driver.faucet)
    assert NET2 in driver.networks
    assert driver.networks[NET2].spec.dpid == 0x22
    assert driver.networks[NET2].spec.subnet == "10.7.0.0/24"
    assert records.started == ["cafe"]
    assert seen == ["network rebuilt from Docker", "stale network removed", "container started"]


async def test_stale_endpoint_is_removed(driver: Driver, docker: FakeDocker, ovs: FakeOvs,
                                         netlink: FakeNetlink) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "a")
    await attach(driver, docker, EP[1], "b")
    docker.networks.append(NetworkInfo(NET, "net1", {"ovs.bridge.dpid": "0x10"}))
    records = FakeRecords()
    records.endpoints[NET] = {EP[1]: "cb"}  # a's container went while dovesnap was away
    rec, _ = _recovery(driver, records)
    await rec.reconcile_with_docker()
    assert set(driver.networks[NET].endpoints) == {EP[1]}
    assert driver.networks[NET].endpoints[EP[1]].host_ifname in netlink.links


def test_ipam_config_becomes_ipv4_data() -> None:
    conf: Any = ({"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1"}, {"Subnet": "fd00::/64"},
                 {"Subnet": "bogus"})
    assert ipam_to_ipv4_data(conf) == [{"Pool": "10.1.0.0/16", "Gateway": "10.1.0.1/16"}]


async def test_rebuilt_network_takes_its_own_dp_back_and_keeps_an_operators(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs,
) -> None:
    # OVS lost the bridges (and their records) while dovesnap was away; the DPs are in faucet.yaml.
    await make_net(driver, docker)  # net1: dovesnap's own DP
    await attach(driver, docker, EP[0], "a")
    seeded = {"dp_id": 0x22, "description": "operator's", "interfaces": {5: {"native_vlan": 100}}}
    seeded_yaml = "  net2: {dp_id: 0x22, description: operator's, interfaces: {5: {native_vlan: 100}}}"
    driver.faucet.path.write_text(driver.faucet.path.read_text().replace("dps:", "dps:\n" + seeded_yaml, 1))
    await driver.close()
    driver.networks.clear()
    ovs.bridges_by_name.clear()
    for net_id, name, dpid in ((NET, "net1", "0x10"), (NET2, "net2", "0x22")):
        docker.add_network(net_id, name)
        docker.networks.append(NetworkInfo(net_id, name, {"ovs.bridge.dpid": dpid}, internal=True))
    rec, seen = _recovery(driver, FakeRecords())
    await rec.reconcile_with_docker()
    assert seen == ["network rebuilt from Docker"] * 2
    assert driver.networks[NET].operator_dp is None  # what dovesnap wrote is dovesnap's
    operator = driver.networks[NET2].operator_dp
    assert operator is not None and operator.dp == seeded
    await driver.delete_network(NET)
    await driver.delete_network(NET2)
    assert dps(driver.faucet) == {"net2": seeded}
