"""Mirror bridge and stacking hooks driven through the driver, on stateful fakes and a real
FaucetConfigStore (FAUCET's own parser checks every config they write)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.port_policy import PolicyChange, change_policy
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import ConflictError, FlagError
from dovesnap.features.fabric.context import FabricContext
from dovesnap.features.fabric.mirror import MirrorBridgeHooks
from dovesnap.features.fabric.stack_plan import tunnel_acl_name
from dovesnap.features.fabric.stacking import StackHooks
from dovesnap.features.fabric.tunnel import StackWatch
from dovesnap.model.fabric_flags import (
    MirrorFlags,
    StackFlags,
    StackLinkRequest,
    StackMirrorTarget,
)
from dovesnap.plan.daemon_bridges import NETWORK_STACK_OFPORT, patch_end
from dovesnap.plan.faucet_dp import MIRROR_DESCRIPTION
from dovesnap.status.report import status
from tests.unit.fabric_fakes import FakeMetrics, FakeOpenFlow, forward
from tests.unit.factories import make_driver
from tests.unit.fakes import (
    CONTROLLERS,
    OPERATOR_YAML,
    CountingReloader,
    FakeDocker,
    FakeNetlink,
    FakeOvs,
    eventually,
)
from tests.unit.scenario import EP, NET, attach, dps, iface, make_net

ENGINE = "07A395"
MIRROR_BR = "odsmir" + ENGINE
STACK_BR = "dovesnap" + ENGINE
LOOP_BR = "odslb" + ENGINE
NET_BR = "odsbra1b2c"
ROOT_YAML = """\
dps:
  odsrootsw:
    dp_id: 0x77
    hardware: Open vSwitch
    interfaces:
      1: {native_vlan: 100}
      88: {output_only: true}
"""


class Rig:
    """A driver with the given hooks, built the way the daemon builds it."""

    def __init__(self, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
                 store: FaucetConfigStore) -> None:
        self.ovs, self.netlink, self.docker, self.store = ovs, netlink, docker, store
        self.openflow = FakeOpenFlow()
        self.metrics = FakeMetrics(lambda: store.reloads, self.config)
        self.driver: Driver | None = None

    def context(self, driver: Driver) -> FabricContext:
        return FabricContext(driver, ENGINE, self.openflow, self.metrics, "testhost")

    def build(self, make_hooks: Callable[[FabricContext], Hooks]) -> tuple[Driver, Hooks]:
        settings = DriverSettings(CONTROLLERS, kernel_datapath=False, attach_timeout=2.0,
                                  name_timeout=2.0)
        self.driver = make_driver(settings, self.ovs, self.netlink, self.docker, self.store,
                                  lambda driver: [make_hooks(self.context(driver))])
        return self.driver, self.driver.hooks[0]

    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.store.path.read_text())
        return loaded


@pytest.fixture
async def rig(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore
) -> AsyncIterator[Rig]:
    made = Rig(ovs, netlink, docker, store)
    yield made
    if made.driver is not None:
        await made.driver.close()


def bridge_ports(ovs: FakeOvs, bridge: str) -> dict[str, int | None]:
    return ovs.ofports(bridge)


# --- mirror bridge -------------------------------------------------------------------------------


async def test_mirror_bridge_copies_labelled_containers_out_of_its_interface(
    rig: Rig, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    driver, hook = rig.build(lambda ctx: MirrorBridgeHooks(MirrorFlags("eth1", "eth2"), ctx))
    await hook.daemon_started()
    mirror = ovs.bridges_by_name[MIRROR_BR]
    assert mirror.plan.datapath_type == "netdev"  # no kernel datapath: like network bridges
    assert mirror.plan.controllers == ()
    assert bridge_ports(ovs, MIRROR_BR) == {"eth1": 1, "eth2": 2}

    await make_net(driver, docker)
    net_end, mirror_end = patch_end(NET_BR, MIRROR_BR), patch_end(MIRROR_BR, NET_BR)
    assert bridge_ports(ovs, NET_BR)[net_end] == 99
    tap = bridge_ports(ovs, MIRROR_BR)[mirror_end]
    assert tap is not None and netlink.links[mirror_end].up
    other = status(driver.networks, ENGINE, driver.hooks)[NET]["DynamicNetworkStates"][
        "OtherBridgePorts"]
    assert other == {net_end: {"Name": net_end, "PeerName": mirror_end, "OFPort": 99,
                               "PeerOFPort": tap, "PeerBridgeName": MIRROR_BR}}
    flows = rig.openflow.tables[MIRROR_BR]
    assert forward(flows, tap) == [(1, 100)]  # copies leave on eth1 tagged with the VLAN
    assert forward(flows, 2, vlan=356) == [(1, 356)]  # the river passes through
    assert forward(flows, 1) == []

    await attach(driver, docker, EP[0], "watched", {"dovesnap.faucet.mirror": "net1:true"})
    await attach(driver, docker, EP[1], "ignored")
    watched = driver.networks[NET].endpoints[EP[0]].ofport
    assert iface(store, "net1", 99) == {
        "description": MIRROR_DESCRIPTION, "output_only": True, "mirror": [watched]}

    await driver.leave(NET, EP[0])
    assert iface(store, "net1", 99) == {"description": MIRROR_DESCRIPTION, "output_only": True}

    await driver.delete_network(NET)
    assert mirror_end not in bridge_ports(ovs, MIRROR_BR)
    assert not netlink.link_exists(net_end) and not netlink.link_exists(mirror_end)
    assert forward(rig.openflow.tables[MIRROR_BR], tap) == []

    await hook.daemon_stopping()
    assert MIRROR_BR not in ovs.bridges_by_name
    assert netlink.links_with_prefix("ods") == []


async def test_mirror_bridge_needs_its_interface_and_leaves_nothing(
    rig: Rig, ovs: FakeOvs
) -> None:
    _, hook = rig.build(lambda ctx: MirrorBridgeHooks(MirrorFlags("nosuch0"), ctx))
    with pytest.raises(ConflictError, match=r"interface nosuch0 .* does not exist"):
        await hook.daemon_started()
    assert MIRROR_BR not in ovs.bridges_by_name


async def test_mirror_bridge_rules_failing_leaves_nothing(rig: Rig, ovs: FakeOvs) -> None:
    _, hook = rig.build(lambda ctx: MirrorBridgeHooks(MirrorFlags("eth1"), ctx))
    rig.openflow.fail.add(MIRROR_BR)
    with pytest.raises(Exception, match="could not set the rules"):
        await hook.daemon_started()
    assert MIRROR_BR not in ovs.bridges_by_name


async def test_mirroring_from_an_endpoint_option_and_from_the_operator(
    rig: Rig, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    driver, hook = rig.build(lambda ctx: MirrorBridgeHooks(MirrorFlags("eth1"), ctx))
    await hook.daemon_started()
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "opted", options={"dovesnap.faucet.mirror": "true"})
    await attach(driver, docker, EP[1], "labelled", {"dovesnap.faucet.mirror": "true"})
    assert iface(store, "net1", 99)["mirror"] == [1, 2]  # type: ignore[index]
    await change_policy(driver, "labelled", None, PolicyChange(mirror=False))
    await change_policy(driver, "opted", None, PolicyChange(acls=("allowall",)))
    assert iface(store, "net1", 99)["mirror"] == [1]  # type: ignore[index]
    [report] = await change_policy(driver, "labelled", None, PolicyChange(clear=("mirror",)))
    assert report["InForce"]["mirrored"] is True
    assert iface(store, "net1", 99)["mirror"] == [1, 2]  # type: ignore[index]


# --- stacking ------------------------------------------------------------------------------------


@pytest.fixture
def stack_store(tmp_path: Path, faucet_check: FaucetCheckProcess) -> FaucetConfigStore:
    path = tmp_path / "stack" / "faucet.yaml"
    path.parent.mkdir()
    path.write_text(OPERATOR_YAML + ROOT_YAML, encoding="utf-8")
    return FaucetConfigStore(path, faucet_check, CountingReloader())


STACK_FLAGS = StackFlags(
    links=(StackLinkRequest("odsrootsw", 7, "eth1"),),
    controllers=CONTROLLERS,
    priority1="odsrootsw",
    mirror=StackMirrorTarget("odsrootsw", 88),
)


def stack_hooks(ctx: FabricContext) -> Hooks:
    return StackHooks(STACK_FLAGS, ctx, StackWatch(ctx, poll_interval=0.01))


def all_stack_ports_up(config: dict[str, Any]) -> dict[tuple[str, int], int]:
    return {
        (dp, port): 3
        for dp, body in config["dps"].items()
        for port, entry in (body.get("interfaces") or {}).items()
        if "stack" in entry
    }


async def test_stacking_links_networks_and_tunnels_mirrors_once_the_stack_is_up(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, stack_store: FaucetConfigStore
) -> None:
    rig = Rig(ovs, netlink, docker, stack_store)
    driver, hook = rig.build(stack_hooks)
    try:
        await hook.daemon_started()
        stack = ovs.bridges_by_name[STACK_BR]
        assert stack.plan.controllers == CONTROLLERS
        assert stack.plan.datapath_id == f"{0x0E0F0007A395:016x}"
        assert bridge_ports(ovs, STACK_BR) == {"eth1": 1}
        assert forward(rig.openflow.tables[LOOP_BR], 5, vlan=None) == [(5, None)]
        config = rig.config()
        assert config["dps"][STACK_BR]["interfaces"][1]["stack"] == {"dp": "odsrootsw", "port": 7}
        assert config["dps"]["odsrootsw"]["interfaces"][7]["stack"] == {"dp": STACK_BR, "port": 1}
        assert config["dps"]["odsrootsw"]["stack"] == {"priority": 1}

        await make_net(driver, docker, dpid="0x7e5001")
        await attach(driver, docker, EP[0], "watched", {"dovesnap.faucet.mirror": "true"})
        watched = driver.networks[NET].endpoints[EP[0]].ofport
        stack_end = bridge_ports(ovs, STACK_BR)[patch_end(STACK_BR, NET_BR)]
        assert bridge_ports(ovs, NET_BR)[patch_end(NET_BR, STACK_BR)] == NETWORK_STACK_OFPORT
        assert bridge_ports(ovs, NET_BR)[patch_end(NET_BR, LOOP_BR)] == 99
        config = rig.config()
        other = status(driver.networks, ENGINE, driver.hooks)[NET]["DynamicNetworkStates"][
            "OtherBridgePorts"]
        assert {p["PeerBridgeName"]: p["OFPort"] for p in other.values()} == {
            STACK_BR: NETWORK_STACK_OFPORT, LOOP_BR: 99}
        assert config["dps"]["net1"]["interfaces"][NETWORK_STACK_OFPORT]["stack"] == {
            "dp": STACK_BR, "port": stack_end}
        assert config["dps"][STACK_BR]["interfaces"][stack_end]["stack"] == {
            "dp": "net1", "port": NETWORK_STACK_OFPORT}
        # The stack is not up yet: no tunnel; the loopback port is a plain mirror port.
        assert iface(stack_store, "net1", 99) == {
            "description": MIRROR_DESCRIPTION, "output_only": True, "mirror": [watched]}
        reads = rig.metrics.reads
        await eventually(lambda: rig.metrics.reads > reads + 2)
        assert "acls_in" not in (iface(stack_store, "net1", 99) or {})

        rig.metrics.states = all_stack_ports_up(rig.config())
        acl = tunnel_acl_name(356, "odsrootsw", 88)
        await eventually(lambda: (iface(stack_store, "net1", 99) or {}).get("acls_in") == [acl])
        assert iface(stack_store, "net1", 99) == {
            "description": "dovesnap mirror tunnel", "coprocessor": {"strategy": "vlan_vid"},
            "acls_in": [acl], "mirror": [watched]}
        assert acl in rig.config()["acls"]

        await driver.delete_network(NET)
        config = rig.config()
        assert "net1" not in config["dps"]
        assert stack_end not in config["dps"][STACK_BR]["interfaces"]
        assert acl not in config.get("acls", {})
        assert patch_end(STACK_BR, NET_BR) not in bridge_ports(ovs, STACK_BR)
        assert patch_end(LOOP_BR, NET_BR) not in bridge_ports(ovs, LOOP_BR)

        await hook.daemon_stopping()
        config = rig.config()
        assert STACK_BR not in config["dps"]
        assert 7 not in config["dps"]["odsrootsw"]["interfaces"]
        assert {STACK_BR, LOOP_BR}.isdisjoint(ovs.bridges_by_name)
        assert netlink.links_with_prefix("ods") == []
    finally:
        await driver.close()


async def test_the_tunnel_waits_until_faucet_runs_the_stacking_dp_as_written(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, stack_store: FaucetConfigStore
) -> None:
    """Restarted with stack mirroring newly on: FAUCET still shows the stack links UP from
    before, but has not loaded the uplinks' port ACL tables, then cold-starts to load them. A
    tunnel asked for in that window would lose its rules on the transit DPs."""
    rig = Rig(ovs, netlink, docker, stack_store)
    before = rig.config()  # what FAUCET runs: no stacking DP yet
    requests = {"seen": 0}
    rig.metrics.reloads = lambda: requests["seen"]
    rig.metrics.loaded = lambda: before
    rig.metrics.states = {("odsrootsw", 1): 3}
    driver, hook = rig.build(stack_hooks)

    async def no_tunnel_for_a_while() -> None:
        reads = rig.metrics.reads
        await eventually(lambda: rig.metrics.reads > reads + 5)
        assert "acls_in" not in (iface(stack_store, "net1", 99) or {})

    try:
        await hook.daemon_started()
        await make_net(driver, docker, dpid="0x7e5001")
        await attach(driver, docker, EP[0], "watched", {"dovesnap.faucet.mirror": "true"})
        rig.metrics.states = all_stack_ports_up(rig.config())
        await no_tunnel_for_a_while()  # FAUCET has not reloaded since the stacking DP was written

        requests["seen"] = 1  # it has reloaded, but not yet with the ACLs: nothing else changed
        await no_tunnel_for_a_while()

        rig.metrics.loaded = rig.config  # now with them; the cold start is still reconnecting
        rig.metrics.disconnected = {"odsrootsw"}
        await no_tunnel_for_a_while()

        rig.metrics.reloads = lambda: stack_store.reloads
        rig.metrics.disconnected = set()
        acl = tunnel_acl_name(356, "odsrootsw", 88)
        await eventually(lambda: (iface(stack_store, "net1", 99) or {}).get("acls_in") == [acl])
    finally:
        await hook.daemon_stopping()
        await driver.close()


async def test_stacking_survives_a_daemon_restart(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, stack_store: FaucetConfigStore
) -> None:
    first = Rig(ovs, netlink, docker, stack_store)
    driver, hook = first.build(stack_hooks)
    await hook.daemon_started()
    await make_net(driver, docker, dpid="0x7e5001")
    await hook.daemon_stopping()
    await driver.close()
    assert NETWORK_STACK_OFPORT not in dps(stack_store)["net1"]["interfaces"]

    second = Rig(ovs, netlink, docker, stack_store)
    driver, hook = second.build(stack_hooks)
    try:
        await hook.daemon_started()
        await restore_from_ovs(driver)
        stack_end = bridge_ports(ovs, STACK_BR)[patch_end(STACK_BR, NET_BR)]
        config = second.config()
        assert config["dps"]["net1"]["interfaces"][NETWORK_STACK_OFPORT]["stack"] == {
            "dp": STACK_BR, "port": stack_end}
        second.metrics.states = all_stack_ports_up(config)
        await eventually(lambda: "acls_in" in (iface(stack_store, "net1", 99) or {}))
    finally:
        await hook.daemon_stopping()
        await driver.close()


async def test_stacking_refuses_a_remote_dp_faucet_does_not_know(
    rig: Rig, ovs: FakeOvs
) -> None:
    _, hook = rig.build(stack_hooks)  # the default store has no odsrootsw DP
    with pytest.raises(FlagError, match="DP odsrootsw is not defined"):
        await hook.daemon_started()
    assert {STACK_BR, LOOP_BR}.isdisjoint(ovs.bridges_by_name)
