"""add_ports, coprocessor ports and hand-added ports: the feature on the driver with stateful fakes
(OVS, netlink) and the real FAUCET config store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.errors import BackendError, DovesnapError
from dovesnap.features.external_ports.hooks import ExternalPortsHooks
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, attach, dps, make_net


class BrokenOvs(FakeOvs):
    """OVS that cannot attach the interfaces named in ``broken``."""

    def __init__(self, netlink: FakeNetlink) -> None:
        super().__init__(netlink)
        self.broken: set[str] = set()

    def add_port(self, bridge: str, ifname: str, ofport: int, external_ids: Mapping[str, str]) -> int:
        if ifname in self.broken:
            raise BackendError(f"OVS could not attach {ifname} to {bridge}: injected")
        return super().add_port(bridge, ifname, ofport, external_ids)


@pytest.fixture
def broken_ovs(netlink: FakeNetlink) -> BrokenOvs:
    return BrokenOvs(netlink)


@pytest.fixture
def changes() -> OvsChanges:
    return OvsChanges()


@pytest.fixture
async def ports_driver(
    settings: DriverSettings, broken_ovs: BrokenOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, changes: OvsChanges,
) -> AsyncIterator[Driver]:
    drv = make_driver(settings, broken_ovs, netlink, docker, store, lambda driver: [
        ExternalPortsHooks(broken_ovs, netlink, driver, changes, delay=0.01),
    ])
    yield drv
    await drv.close()


async def test_add_ports_become_faucet_interfaces(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs, netlink: FakeNetlink,
) -> None:
    netlink.links["eth1"].up = False
    await make_net(ports_driver, docker, add_ports="eth1/7/allowall/200", add_copro_ports="eth2")
    bridge = ports_driver.networks[NET].bridge
    assert broken_ovs.ofports(bridge) == {"eth1": 7, "eth2": 1}
    assert netlink.links["eth1"].up
    interfaces = dps(ports_driver.faucet)["net1"]["interfaces"]
    assert interfaces[7] == {"description": "Physical interface eth1", "native_vlan": 200,
                             "acls_in": ["allowall"]}
    assert interfaces[1] == {"description": "Physical interface eth2",
                             "coprocessor": {"strategy": "vlan_vid"}}
    # Containers get the ports add_ports did not take.
    await attach(ports_driver, docker, EP[0], "web")
    assert ports_driver.networks[NET].endpoints[EP[0]].ofport == 2
    await ports_driver.delete_network(NET)
    assert broken_ovs.bridges_by_name == {}
    assert "eth1" in netlink.links  # the operator's interface stays


async def test_preallocated_ports_are_ten_after_three_add_ports(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs, netlink: FakeNetlink,
) -> None:
    netlink.add_link("eth3")
    await make_net(ports_driver, docker, preallocate_ports="10",
                   add_ports="eth1/1//20,eth2/2//30,eth3/3//40")
    interfaces = dps(ports_driver.faucet)["net1"]["interfaces"]
    preallocated = [p for p, i in interfaces.items() if i["description"] == "preallocated port"]
    assert sorted(preallocated) == list(range(4, 14))
    await attach(ports_driver, docker, EP[0], "web")
    assert ports_driver.networks[NET].endpoints[EP[0]].ofport == 4


async def test_add_port_without_a_number_goes_above_the_preallocated_ones(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs,
) -> None:
    await make_net(ports_driver, docker, preallocate_ports="3", add_ports="eth1/1,eth2")
    bridge = ports_driver.networks[NET].bridge
    assert broken_ovs.ofports(bridge) == {"eth1": 1, "eth2": 5}  # 2..4 are preallocated
    interfaces = dps(ports_driver.faucet)["net1"]["interfaces"]
    assert [p for p, i in interfaces.items() if i["description"] == "preallocated port"] == [2, 3, 4]


async def test_failed_attach_leaves_nothing(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs, store: FaucetConfigStore,
) -> None:
    broken_ovs.broken.add("eth2")
    before = store.path.read_text()
    docker.add_network(NET, "net1")
    with pytest.raises(DovesnapError, match="eth2"):
        await ports_driver.create_network(
            NET, {"ovs.bridge.dpid": "0x10", "ovs.bridge.add_ports": "eth1/3,eth2"}, [], [], True)
    assert broken_ovs.bridges_by_name == {}
    assert NET not in ports_driver.networks
    assert store.path.read_text() == before


async def test_interface_on_another_bridge_is_refused(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs,
) -> None:
    await make_net(ports_driver, docker, add_ports="eth1")
    docker.add_network("f" * 32, "net2")
    with pytest.raises(DovesnapError, match="already on OVS bridge"):
        await ports_driver.create_network(
            "f" * 32, {"ovs.bridge.dpid": "0x11", "ovs.bridge.add_ports": "eth1"}, [], [], True)
    assert len(broken_ovs.bridges_by_name) == 1


async def test_hand_added_ports_follow_ovsdb_notifications(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs, netlink: FakeNetlink,
    changes: OvsChanges, store: FaucetConfigStore,
) -> None:
    await make_net(ports_driver, docker)
    await attach(ports_driver, docker, EP[0], "web")
    bridge = ports_driver.networks[NET].bridge
    netlink.add_link("eth9")

    def notify(event: str, name: str) -> None:  # as the IDL thread does
        worker = threading.Thread(target=changes.notify, args=(event, "Port", name))
        worker.start()
        worker.join()

    broken_ovs.add_port(bridge, "eth9", 5, {})  # ovs-vsctl add-port, by hand
    notify("create", "eth9")
    await eventually(lambda: 5 in dps(store)["net1"]["interfaces"])
    assert dps(store)["net1"]["interfaces"][5] == {"description": "Physical interface eth9",
                                                  "native_vlan": 100}
    assert ports_driver.networks[NET].externals["eth9"].ofport == 5
    # The container's own port is left alone.
    assert dps(store)["net1"]["interfaces"][1]["description"].startswith("web ")
    broken_ovs.delete_port(bridge, "eth9")
    notify("delete", "eth9")
    await eventually(lambda: 5 not in dps(store)["net1"]["interfaces"])
    assert "eth9" not in ports_driver.networks[NET].externals


async def test_statistics_updates_do_not_trigger_work(
    ports_driver: Driver, docker: FakeDocker, broken_ovs: BrokenOvs, changes: OvsChanges,
    store: FaucetConfigStore, netlink: FakeNetlink,
) -> None:
    await make_net(ports_driver, docker)
    bridge = ports_driver.networks[NET].bridge
    netlink.add_link("eth9")
    broken_ovs.add_port(bridge, "eth9", 5, {})
    changes.notify("update", "Interface", "eth9")  # statistics: ignored
    await asyncio.sleep(0.1)
    assert 5 not in dps(store)["net1"]["interfaces"]
    changes.notify("create", "Interface", "eth9")
    await eventually(lambda: 5 in dps(store)["net1"]["interfaces"])
