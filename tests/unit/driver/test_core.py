"""Driver: networks and restore, against stateful fakes and a real FaucetConfigStore (real FAUCET parser)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import (
    BackendError,
    ConflictError,
    DovesnapError,
    FaucetConfigError,
    OptionError,
)
from dovesnap.model.names import EXT_DRIVER, EXT_NETWORK_ID, EXT_NETWORK_NAME, EXT_SPEC, LOCAL_OFPORT
from dovesnap.plan.bridge import BridgePlan
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, IPV4, NET, NET2, attach, dps, iface, make_net

# --- networks ------------------------------------------------------------------------------------


async def test_create_network_builds_bridge_and_dp(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, mtu="9000")
    bridge = ovs.bridges_by_name["odsbra1b2c"]
    assert bridge.plan.datapath_type == "system"
    assert bridge.plan.datapath_id == "0000000000000010"
    assert netlink.links["odsbra1b2c"].up and netlink.links["odsbra1b2c"].mtu == 9000
    # (the fake replaces its bridge record on each ensure_bridge: look it up each time)
    await eventually(lambda: ovs.bridges_by_name["odsbra1b2c"].external_ids.get(EXT_NETWORK_NAME)
                     == "net1")
    # connected to its controllers only once FAUCET has the DP (after the name is known)
    await eventually(lambda: ovs.bridges_by_name["odsbra1b2c"].plan.controllers
                     == ("tcp:127.0.0.1:6653", "tcp:127.0.0.1:6654"))
    assert dps(store)["net1"]["dp_id"] == 0x10
    assert dps(store)["net1"]["hardware"] == "Open vSwitch"
    assert "allowall" in yaml.safe_load(store.path.read_text())["acls"]


@pytest.mark.parametrize(
    ("kernel", "userspace", "datapath"),
    [(True, "false", "system"), (False, "false", "netdev"), (True, "true", "netdev")],
)
async def test_datapath_type(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore,
    settings: DriverSettings, kernel: bool, userspace: str, datapath: str,
) -> None:
    settings = replace(settings, kernel_datapath=kernel)
    drv = make_driver(settings, ovs, netlink, docker, store)
    try:
        await make_net(drv, docker, userspace=userspace)
        assert ovs.bridges_by_name["odsbra1b2c"].plan.datapath_type == datapath
        assert drv.networks[NET].userspace is (datapath == "netdev")
    finally:
        await drv.close()


async def test_duplicate_dpid_is_refused(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    before = store.path.read_bytes()
    with pytest.raises(ConflictError, match=r"ovs\.bridge\.dpid"):
        await make_net(driver, docker, NET2, "net2")
    assert list(ovs.bridges_by_name) == ["odsbra1b2c"]
    assert store.path.read_bytes() == before
    assert NET2 not in driver.networks


async def test_duplicate_bridge_name_is_refused(driver: Driver, docker: FakeDocker, ovs: FakeOvs) -> None:
    await make_net(driver, docker, name="br0")
    with pytest.raises(ConflictError, match=r"ovs\.bridge\.name"):
        await make_net(driver, docker, NET2, "net2", dpid="0x11", name="br0")
    assert list(ovs.bridges_by_name) == ["br0"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"ovs.bridge.dpid": "0x0"}, OptionError),
        ({"ovs.bridge.dpid": "0x1", "ovs.bridge.vlan": "5000"}, OptionError),
        ({"ovs.bridge.dpid": "0x1", "ovs.bridge.add_ports": "nosuchif"}, ConflictError),
        ({"ovs.bridge.dpid": "0x1", "ovs.bridge.default_acl": "nosuchacl"}, OptionError),
    ],
)
async def test_failed_create_leaves_nothing(
    driver: Driver, ovs: FakeOvs, store: FaucetConfigStore, netlink: FakeNetlink,
    options: dict[str, str], error: type[DovesnapError],
) -> None:
    before = store.path.read_bytes()
    links = set(netlink.links)
    with pytest.raises(error):
        await driver.create_network(NET, options, [], [], False)
    assert ovs.bridges_by_name == {}
    assert driver.networks == {}
    assert set(netlink.links) == links
    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir()] == ["faucet.yaml"]


async def test_bridge_is_removed_when_it_cannot_be_brought_up(
    netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore, settings: DriverSettings
) -> None:
    ovs = FakeOvs()  # not wired to netlink: the bridge's interface never appears
    drv = make_driver(settings, ovs, netlink, docker, store)
    with pytest.raises(BackendError, match="does not exist"):
        await drv.create_network(NET, {"ovs.bridge.dpid": "1"}, [], [], False)
    assert ovs.bridges_by_name == {} and drv.networks == {}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"default_acl": "nosuchacl"}, "default_acl"),
        ({"nat_acl": "net1:allowall/net2:nosuchacl"}, "nat_acl"),
        ({"vlan_out_acl": "nosuchacl"}, "vlan_out_acl"),
        ({"add_ports": "eth1/5/nosuchacl"}, "add_ports"),
    ],
)
async def test_unknown_acl_option_is_refused_by_name(
    driver: Driver, ovs: FakeOvs, store: FaucetConfigStore, options: dict[str, str], option: str
) -> None:
    before = store.path.read_bytes()
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "1"} | options).items()}
    with pytest.raises(OptionError) as info:
        await driver.create_network(NET, opts, [], [], False)
    assert info.value.option == "ovs.bridge." + option
    assert "nosuchacl" in str(info.value)
    assert ovs.bridges_by_name == {} and store.path.read_bytes() == before


async def test_faucet_refusal_leaves_nothing(
    driver: Driver, ovs: FakeOvs, store: FaucetConfigStore
) -> None:
    # With includes dovesnap cannot list the ACLs itself: FAUCET's parser is the judge.
    (store.path.parent / "acls.yaml").write_text(
        "acls:\n  allowall:\n    - rule:\n        actions:\n          allow: 1\n"
    )
    store.path.write_text("include:\n  - acls.yaml\n")
    opts = {"ovs.bridge.dpid": "1", "ovs.bridge.preallocate_ports": "2",
            "ovs.bridge.default_acl": "nosuchacl"}
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await driver.create_network(NET, opts, [], [], False)
    assert ovs.bridges_by_name == {} and driver.networks == {}
    assert store.path.read_text() == "include:\n  - acls.yaml\n"
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["acls.yaml", "faucet.yaml"]
    opts["ovs.bridge.default_acl"] = "allowall"
    await driver.create_network(NET, opts, [], [], False)
    assert "odsbra1b2c" in ovs.bridges_by_name


async def test_nameless_network_writes_no_dp(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore,
    settings: DriverSettings,
) -> None:
    drv = make_driver(replace(settings, name_timeout=0.1), ovs, netlink, docker, store)
    try:
        await drv.create_network(NET, {"ovs.bridge.dpid": "1"}, [], [], False)
        net = drv.networks[NET]
        await eventually(lambda: net.error is not None)
        assert "name" in (net.error or "")
        assert dps(store) == {}
    finally:
        await drv.close()


async def test_nat_network_has_gateway_port(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, ipv4=IPV4, mode="nat", nat_acl="denyall")
    gateway = iface(store, "net1", LOCAL_OFPORT)
    assert gateway == {"description": "gateway", "native_vlan": 100, "opstatus_reconf": False,
                       "acls_in": ["denyall"]}


async def test_delete_network_removes_dp_bridge_and_ports(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, vlan_out_acl="allowall")
    await make_net(driver, docker, NET2, "net2", dpid="0x11")
    await attach(driver, docker, EP[0], "web")
    assert "dovesnap-vlan100" in yaml.safe_load(store.path.read_text())["vlans"]
    await driver.delete_network(NET)
    config = yaml.safe_load(store.path.read_text())
    assert list(config["dps"]) == ["net2"]
    assert "dovesnap-vlan100" not in (config.get("vlans") or {})
    assert list(config["acls"]) == ["allowall", "denyall", "mirror_in"]
    assert "odsbra1b2c" not in ovs.bridges_by_name and "odsbra1b2c" not in netlink.links
    assert "odsvee0000" not in netlink.links and "ethce0000" not in netlink.links
    assert NET not in driver.networks
    await driver.delete_network(NET)  # a second delete is harmless


async def test_egress_acl_of_one_network_survives_another_on_the_same_vlan(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, vlan_out_acl="allowall")
    # FAUCET keeps one VLAN entry per VID, so a different output ACL on the same VID is refused...
    with pytest.raises(DovesnapError, match="vlan_out_acl"):
        await make_net(driver, docker, NET2, "net2", dpid="0x11", vlan_out_acl="denyall")
    # ...the same one is shared, and deleting one network keeps it for the other.
    await make_net(driver, docker, NET2, "net2", dpid="0x11", vlan_out_acl="allowall")
    await driver.delete_network(NET2)
    config = yaml.safe_load(store.path.read_text())
    vlans = config.get("vlans") or {}
    assert [v.get("acl_out") for v in vlans.values() if v.get("vid") == 100] == [
        "dovesnap-egress-allowall"]
    assert config["acls"]["dovesnap-egress-allowall"] == config["acls"]["allowall"]
    await driver.delete_network(NET)  # the copy goes with the last network that names it
    assert "dovesnap-egress-allowall" not in yaml.safe_load(store.path.read_text())["acls"]


# --- restore ------------------------------------------------------------------------------------


async def test_restore_from_ovs(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink, store: FaucetConfigStore,
    settings: DriverSettings,
) -> None:
    await make_net(driver, docker, mode="routed", ipv4=IPV4, vlan="7")
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    await driver.create_endpoint(NET, EP[1], None, None)
    # bridges that are not (readable) dovesnap networks are left alone
    ovs.ensure_bridge(BridgePlan("stray", "system", "01", (), 1500, None,
                                 ((EXT_SPEC, "{broken"), (EXT_NETWORK_ID, "x"))))
    ovs.ensure_bridge(BridgePlan("other", "system", "02", (), 1500, None, ()))
    own = dict(ovs.bridges_by_name["odsbra1b2c"].external_ids)
    ovs.ensure_bridge(BridgePlan("elsewhere", "system", "03", (), 1500, None, tuple(
        (own | {EXT_DRIVER: "dovesnap2", EXT_NETWORK_ID: "c" * 32}).items())))
    ovs.add_port("odsbra1b2c", "eth2", 9, {})  # a port added by hand is not an endpoint
    # a network whose name Docker had not told us before the restart
    docker.add_network(NET2, "net2")
    await make_net(driver, docker, NET2, "net2", dpid="0x11")
    del ovs.bridges_by_name["odsbrf0e1d"].external_ids[EXT_NETWORK_NAME]
    await driver.close()

    again = make_driver(settings, ovs, netlink, docker, store)
    try:
        restored = await restore_from_ovs(again)
        assert sorted(n.network_id for n in restored) == sorted([NET, NET2])
        assert sorted(again.networks) == sorted([NET, NET2])
        await eventually(lambda: again.networks[NET2].name == "net2")
        net = again.networks[NET]
        assert net.spec == driver.networks[NET].spec
        assert net.name == "net1"
        assert {e: ep.ofport for e, ep in net.endpoints.items()} == {EP[0]: 1, EP[1]: 2}
        assert net.endpoints[EP[0]].host_ifname == "odsvee0000"
        await eventually(lambda: net.endpoints[EP[0]].container is not None)
        await eventually(lambda: (iface(store, "net1", 1) or {}).get("acls_in") == ["allowall"])
        assert iface(store, "net1", LOCAL_OFPORT) is not None
    finally:
        await again.close()


async def test_operator_dp_with_the_network_name_is_not_overwritten(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    operator_dp = "dps:\n  net1:\n    dp_id: 0x99\n    interfaces:\n      7:\n        native_vlan: 100\n"
    store.path.write_text(store.path.read_text() + operator_dp)
    docker.add_network(NET, "net1")
    try:
        await driver.create_network(NET, {"ovs.bridge.dpid": "0x10"}, [], [], False)
    except DovesnapError:
        pass  # refusing the network is one right answer
    else:
        await eventually(lambda: driver.networks[NET].name == "net1")
        async with driver.networks[NET].lock:  # the DP write happens under this lock
            pass
    assert dps(store)["net1"]["dp_id"] == 0x99
    assert 7 in dps(store)["net1"]["interfaces"]
