"""The mirror bridge's and the loopback bridge's OpenFlow rules, and how they render for ovs-ofctl."""

from __future__ import annotations

from dovesnap.plan.mirror import Flow, MirrorTap, loopback_flows, mirror_bridge_flows
from tests.unit.fabric_fakes import forward


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
