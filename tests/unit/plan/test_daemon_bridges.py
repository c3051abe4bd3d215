"""Pure planning for the daemon's bridges: engine id, names, mirror/loopback rules, flags."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovesnap.errors import FlagError
from dovesnap.model.fabric_flags import (
    MirrorFlags,
    StackLinkRequest,
    StackMirrorTarget,
    parse_fabric_flags,
)
from dovesnap.model.names import EXT_DRIVER, EXT_ROLE
from dovesnap.plan.daemon_bridges import (
    ROLE_MIRROR_BRIDGE,
    daemon_bridge_plan,
    loopback_bridge_name,
    mirror_bridge_name,
    patch_end,
    short_engine_id,
    short_host_id,
    stack_bridge_name,
    stack_dpid,
)
from dovesnap.plan.mirror import Flow, MirrorTap, loopback_flows, mirror_bridge_flows
from tests.unit.fabric_fakes import forward

CTRL = "tcp:127.0.0.1:6653,tcp:127.0.0.1:6654"

# --- engine id and names ---------------------------------------------------------------------


@pytest.mark.parametrize(("docker_id", "short"), [
    ("AQAD:QG3L:345H:3Z6I:UQPW:Z4BP:E5AS:4IZK:M6PB:X6S4:V5XR:OBKY", "07A395"),  # 'aqad' base 36
    ("0001:QG3L:345H", "000001"),
    ("ZZZZ:0000", "19A0FF"),
    ("5c3f9a1e-2b44-4c1d-9d5e-0123456789ab", "5C3F9A"),
    ("", None),
    ("not-hex", None),
])
def test_short_engine_id(docker_id: str, short: str | None) -> None:
    assert short_engine_id(docker_id) == short


def test_short_host_id_from_machine_id_and_ovs_system_id() -> None:
    assert short_host_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n") == "3D1219"
    assert short_host_id("82d700b2-2f83-438d-95dd-17502b4c8372") == "82D700"
    assert short_host_id("\n") is None


@given(st.text(alphabet="0123456789ABCDEF", min_size=6, max_size=6))
def test_daemon_bridge_names_fit_ifnamsiz(engine: str) -> None:
    names = [mirror_bridge_name(engine), stack_bridge_name(engine), loopback_bridge_name(engine)]
    assert names == [f"odsmir{engine}", f"dovesnap{engine}", f"odslb{engine}"]
    assert all(len(n) <= 15 for n in names)
    assert stack_dpid(engine) == int("0E0F00" + engine, 16)


@given(st.text(min_size=1, max_size=15), st.text(min_size=1, max_size=15))
def test_patch_ends_are_short_distinct_and_ours(a: str, b: str) -> None:
    ends = {patch_end(a, b), patch_end(b, a)}
    assert all(e.startswith("ods") and len(e) <= 15 for e in ends)
    if a != b:
        assert len(ends) == 2


def test_daemon_bridge_plan_follows_the_datapath_and_marks_its_role() -> None:
    plan = daemon_bridge_plan("odsmir07A395", 0x0E0F0107A395, ROLE_MIRROR_BRIDGE, True, "dovesnap")
    assert plan.datapath_type == "netdev"
    assert plan.datapath_id == "00000e0f0107a395"
    assert plan.controllers == ()
    assert dict(plan.external_ids) == {EXT_DRIVER: "dovesnap", EXT_ROLE: ROLE_MIRROR_BRIDGE}
    kernel = daemon_bridge_plan("x", 1, ROLE_MIRROR_BRIDGE, False, "d", ("tcp:127.0.0.1:1",))
    assert kernel.datapath_type == "system"
    assert kernel.controllers == ("tcp:127.0.0.1:1",)


# --- mirror and loopback rules -----------------------------------------------------------------


def test_mirror_bridge_tags_each_networks_copies_and_drops_the_rest() -> None:
    flows = mirror_bridge_flows(1, [MirrorTap(3, 100), MirrorTap(4, 200)])
    assert forward(flows, 3) == [(1, 100)]
    assert forward(flows, 4) == [(1, 200)]
    assert forward(flows, 4, vlan=7) == [(1, 200)]
    assert forward(flows, 1) == []  # nothing comes back in from the capture port
    assert forward(flows, 2) == []  # no river configured
    assert forward(flows, 0xFFFFFFFE) == []


def test_mirror_river_passes_upstream_traffic_unchanged() -> None:
    flows = mirror_bridge_flows(1, [MirrorTap(3, 100)], river_port=2)
    assert forward(flows, 2, vlan=356) == [(1, 356)]
    assert forward(flows, 2) == [(1, None)]
    assert forward(flows, 3) == [(1, 100)]
    assert forward(flows, 1) == []


def test_mirror_bridge_without_networks_drops_everything() -> None:
    flows = mirror_bridge_flows(1, [])
    assert all(forward(flows, port) == [] for port in (1, 2, 3))


def test_loopback_sends_everything_back_where_it_came_from() -> None:
    flows = loopback_flows()
    assert forward(flows, 1, vlan=None) == [(1, None)]
    assert forward(flows, 7, vlan=100) == [(7, 100)]


def test_rules_render_as_ovs_ofctl_syntax() -> None:
    assert Flow(0).render() == "priority=0,actions=drop"
    assert Flow(2, in_port=3, set_vlan=100, output=1).render() == (
        "priority=2,in_port=3,actions=mod_vlan_vid:100,output:1"
    )
    assert Flow(1, hairpin=True).render() == "priority=1,actions=in_port"


# --- flags ---------------------------------------------------------------------------------------


def test_no_flags_no_features() -> None:
    flags = parse_fabric_flags()
    assert flags.mirror is None and flags.stack is None


def test_mirror_flags() -> None:
    flags = parse_fabric_flags(mirror_bridge_out="odsmirrori", mirror_bridge_in="eth77")
    assert flags.mirror == MirrorFlags("odsmirrori", "eth77")
    assert flags.stack is None


def test_stack_flags() -> None:
    flags = parse_fabric_flags(
        stacking_interfaces="odsrootsw:7:rootext, other:0x10:eth2", stack_priority1="odsrootsw",
        stack_mirror_interface="odsrootsw:88", default_ofcontrollers=CTRL,
    )
    assert flags.stack is not None
    assert flags.stack.links == (StackLinkRequest("odsrootsw", 7, "rootext"),
                                 StackLinkRequest("other", 16, "eth2"))
    assert flags.stack.priority1 == "odsrootsw"
    assert flags.stack.mirror == StackMirrorTarget("odsrootsw", 88)
    assert flags.stack.controllers == tuple(CTRL.split(","))


@pytest.mark.parametrize(("kwargs", "flag", "words"), [
    ({"mirror_bridge_in": "eth1"}, "mirror-bridge-in", "needs --mirror-bridge-out"),
    ({"mirror_bridge_out": "eth1", "mirror_bridge_in": "eth1"}, "mirror-bridge-in", "differ"),
    ({"mirror_bridge_out": "eth1; rm"}, "mirror-bridge-out", "not an interface name"),
    ({"stacking_interfaces": "root:7:eth1"}, "default-ofcontrollers", "required"),
    ({"stacking_interfaces": "root:7", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "DP:PORT:IF"),
    ({"stacking_interfaces": "root:x:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "not a port number"),
    ({"stacking_interfaces": "root:0:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "out of range"),
    ({"stacking_interfaces": "root:7:eth1,r2:8:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "listed twice"),
    ({"stacking_interfaces": "ro ot:7:eth1", "default_ofcontrollers": CTRL},
     "stacking-interfaces", "not a FAUCET DP name"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": "tcp:nowhere"},
     "default-ofcontrollers", "not a controller"),
    ({"stack_priority1": "root"}, "stack-priority1", "needs --stacking-interfaces"),
    ({"stack_mirror_interface": "root:88"}, "stack-mirror-interface", "needs --stacking"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "stack_mirror_interface": "root"}, "stack-mirror-interface", "DP:PORT"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "stack_mirror_interface": "root:88", "mirror_bridge_out": "eth2"},
     "stack-mirror-interface", "cannot be used with --mirror-bridge-out"),
    ({"stacking_interfaces": "root:7:eth1", "default_ofcontrollers": CTRL,
      "mirror_bridge_out": "eth1"}, "stacking-interfaces", "also a mirror bridge interface"),
])
def test_bad_flags_name_the_flag(kwargs: dict[str, str], flag: str, words: str) -> None:
    with pytest.raises(FlagError) as caught:
        parse_fabric_flags(**kwargs)
    assert caught.value.flag == flag
    assert f"--{flag}" in caught.value.message
    assert words in caught.value.message


def test_mirror_bridge_and_plain_stacking_go_together() -> None:
    flags = parse_fabric_flags(mirror_bridge_out="eth2", stacking_interfaces="root:7:eth1",
                               default_ofcontrollers=CTRL)
    assert flags.mirror is not None and flags.stack is not None
