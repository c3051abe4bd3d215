"""The operator's pre-seeded DP through the driver (fakes for OVS and netlink, the real FAUCET
config store and parser): merged into on create, container join and leave and after a restart,
put back as it was on delete; a DP with the dpid under another name gets the network nothing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import ConflictError
from dovesnap.model.names import EXT_OPERATOR_DP, LOCAL_OFPORT
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, IPV4, NET, attach, dps

SEEDED = """\
dps:
  {name}:
    # pre-seeded by the operator, as for the Go original
    dp_id: 0x10
    description: operator's lab DP
    interfaces:
      0xfffffffe:
        native_vlan: 100
        opstatus_reconf: false
        acls_in: [allowall]
      5:
        description: operator's printer
        native_vlan: 100
    interface_ranges:
      '20-29': {{native_vlan: 100}}
"""


def seed(store: FaucetConfigStore, name: str = "net1") -> dict[str, Any]:
    store.path.write_text(store.path.read_text() + SEEDED.format(name=name))
    seeded: dict[str, Any] = yaml.safe_load(SEEDED.format(name=name))["dps"][name]
    return seeded


async def create(driver: Driver, docker: FakeDocker, name: str = "net1", **options: str) -> None:
    docker.add_network(NET, name)
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x10"} | options).items()}
    await driver.create_network(NET, opts, IPV4, [], True)
    await eventually(lambda: driver.networks[NET].name == name)


async def test_create_join_leave_and_delete_keep_the_operators_dp(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore,
) -> None:
    seeded = seed(store)
    await create(driver, docker, mode="nat", preallocate_ports="5")
    await eventually(lambda: "hardware" in dps(store)["net1"])
    dp = dps(store)["net1"]
    assert dp["description"] == "operator's lab DP" and dp["interface_ranges"] == seeded["interface_ranges"]
    # The gateway: dovesnap's settings merged into the operator's LOCAL port, its ACL kept.
    assert dp["interfaces"][LOCAL_OFPORT]["acls_in"] == ["allowall"]
    assert dp["interfaces"][LOCAL_OFPORT]["description"] == "gateway"
    assert dp["interfaces"][5] == seeded["interfaces"][5]
    # Five preallocated ports, none on the operator's port 5.
    preallocated = [p for p, i in dp["interfaces"].items() if i.get("description") == "preallocated port"]
    assert sorted(preallocated) == [1, 2, 3, 4, 6]
    # connected once FAUCET was told (a moment after the DP shows in the file)
    await eventually(lambda: ovs.bridges_by_name[driver.networks[NET].bridge].plan.controllers)
    await attach(driver, docker, EP[0], "web")
    assert driver.networks[NET].endpoints[EP[0]].ofport == 1
    await eventually(lambda: dps(store)["net1"]["interfaces"][1]["description"].startswith("web "))
    assert dps(store)["net1"]["interfaces"][5] == seeded["interfaces"][5]
    await driver.leave(NET, EP[0])
    await driver.delete_endpoint(NET, EP[0])
    assert dps(store)["net1"]["interfaces"][1]["description"] == "preallocated port"
    await driver.delete_network(NET)
    assert dps(store)["net1"] == seeded  # as the operator wrote it
    assert "pre-seeded by the operator" in store.path.read_text()
    assert "0xfffffffe:" in store.path.read_text()


async def test_a_restarted_dovesnap_still_merges_and_puts_the_dp_back(
    settings: DriverSettings, driver: Driver, docker: FakeDocker, ovs: FakeOvs,
    netlink: FakeNetlink, store: FaucetConfigStore,
) -> None:
    seeded = seed(store)
    await create(driver, docker, mode="routed", nat_acl="denyall")
    await eventually(lambda: "hardware" in dps(store)["net1"])
    assert dps(store)["net1"]["interfaces"][LOCAL_OFPORT]["acls_in"] == ["denyall"]  # dovesnap's
    assert EXT_OPERATOR_DP in ovs.bridges_by_name[driver.networks[NET].bridge].external_ids
    await driver.close()
    restarted = make_driver(settings, ovs, netlink, docker, store)
    try:
        await restore_from_ovs(restarted)
        net = restarted.networks[NET]
        assert net.operator_dp is not None and net.operator_dp.dp == seeded
        await attach(restarted, docker, EP[1], "db")
        assert dps(store)["net1"]["description"] == "operator's lab DP"
        assert dps(store)["net1"]["interfaces"][net.endpoints[EP[1]].ofport]["description"].startswith("db ")
        await restarted.delete_network(NET)
        assert dps(store)["net1"] == seeded
    finally:
        await restarted.close()


async def test_a_dp_with_the_dpid_under_another_name_gives_the_network_nothing(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore,
) -> None:
    seed(store, "sw1")
    before = store.path.read_bytes()
    await create(driver, docker, name="mynet")
    net = driver.networks[NET]
    await eventually(lambda: net.dp_refused)
    assert net.error is not None and "DP sw1" in net.error and "named mynet" in net.error
    assert store.path.read_bytes() == before  # no DP written, sw1 untouched
    # FAUCET would run sw1 on a bridge with its dp_id: the bridge is never connected.
    assert ovs.bridges_by_name[net.bridge].plan.controllers == ()
    with pytest.raises(ConflictError, match="DP sw1"):
        await driver.create_endpoint(NET, EP[0], None, None)
    await driver.delete_network(NET)
    assert store.path.read_bytes() == before


async def test_a_dp_of_the_name_with_another_dpid_is_left_alone(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore,
) -> None:
    seed(store, "net1")
    before = store.path.read_bytes()
    await create(driver, docker, dpid="0x11")
    net = driver.networks[NET]
    await eventually(lambda: net.dp_refused)
    assert net.error is not None and "another dp_id" in net.error
    await driver.delete_network(NET)
    assert store.path.read_bytes() == before  # the operator's DP is not removed either


async def test_after_a_restart_a_network_without_its_dp_still_gets_nothing(
    settings: DriverSettings, driver: Driver, docker: FakeDocker, ovs: FakeOvs,
    netlink: FakeNetlink, store: FaucetConfigStore,
) -> None:
    seed(store, "sw1")
    await create(driver, docker, name="mynet")
    await eventually(lambda: driver.networks[NET].dp_refused)
    await driver.close()
    restarted = make_driver(settings, ovs, netlink, docker, store)
    try:
        await restore_from_ovs(restarted)
        net = restarted.networks[NET]
        assert net.dp_refused and net.error is not None and "FAUCET DP sw1" in net.error
        with pytest.raises(ConflictError, match="DP sw1"):
            await restarted.create_endpoint(NET, EP[0], None, None)
        ovs.bridges_by_name.pop(net.bridge)  # OVS loses the bridge
        assert (await restarted.bridges.repair(net))[0]  # rebuilt, still away from FAUCET
        assert ovs.bridges_by_name[net.bridge].plan.controllers == ()
    finally:
        await restarted.close()
