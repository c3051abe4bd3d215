"""The topology model: nodes and edges from status JSON and the FAUCET config, no drawing."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.graph import model as m
from dovesnap.graph.facts import all_network_facts, find_dp
from dovesnap.graph.model import Topology, build_topology, merge_faucet_configs
from tests.unit.graph_samples import NET_A, container, lab_faucet, lab_status, network, second_host_status


def lab() -> Topology:
    return build_topology([lab_status()], lab_faucet())


def details(topology: Topology, kind: str, title: str) -> tuple[str, ...]:
    return topology.find(kind, title).details


def linked(topology: Topology, a: str, b: str) -> list[m.Edge]:
    return [e for e in topology.edges if {e.src, e.dst} == {a, b}]


@pytest.mark.parametrize(("kind", "title", "expected"), [
    (m.BRIDGE, "labnet", ("bridge odsbraaaa1", "dpid 0x7e7001", "mode nat, VLAN 100")),
    (m.CONTAINER, "web", ("0e:00:00:00:00:01", "10.70.0.2", "ACL allowall", "mirrored")),
    (m.CONTAINER, "db", ("0e:00:00:00:00:02", "10.70.0.3", "no ACL")),
    (m.GATEWAY, "NAT gateway", ("10.70.0.1/24", "ACL allowall")),
    (m.EXTERNAL, "eth9", ("host interface",)),
    (m.COPROCESSOR, "copro0", ("coprocessor port",)),
    (m.MIRROR_BRIDGE, "odsmire1e1e1", ("mirror bridge",)),
    (m.OTHER_BRIDGE, "dovesnape1e1e1", ("stacking bridge",)),
    (m.INTERFACE, "mirout", ("mirror output",)),
    (m.INTERFACE, "mirin", ("mirror input",)),
    (m.REMOTE_DP, "root", ("FAUCET DP", "dp_id 0x77")),
])
def test_nodes_of_the_lab(kind: str, title: str, expected: tuple[str, ...]) -> None:
    got = details(lab(), kind, title)
    assert got[:len(expected)] == expected


@pytest.mark.parametrize(("a", "b", "kind", "label"), [
    (("bridge", "labnet"), ("container", "web"), m.PORT, "port 1"),
    (("bridge", "labnet"), ("container", "broken"), m.PORT, "port 3"),
    (("bridge", "labnet"), ("gateway", "NAT gateway"), m.PORT, "LOCAL"),
    (("bridge", "labnet"), ("external", "eth9"), m.PORT, "port 8"),
    (("bridge", "labnet"), ("copro", "copro0"), m.PORT, "port 9"),
    (("bridge", "labnet"), ("mirror_bridge", "odsmire1e1e1"), m.PATCH, "99 : 1"),
    (("mirror_bridge", "odsmire1e1e1"), ("interface", "mirout"), m.MIRROR_OUT, "out"),
    (("interface", "mirin"), ("mirror_bridge", "odsmire1e1e1"), m.MIRROR_IN, "in"),
    (("bridge", "labnet"), ("other_bridge", "dovesnape1e1e1"), m.STACK,
     "stack dovesnape1e1e1:2 - labnet:98"),
    (("other_bridge", "dovesnape1e1e1"), ("dp", "root"), m.STACK,
     "stack dovesnape1e1e1:3 - root:7"),
])
def test_edges_of_the_lab(a: tuple[str, str], b: tuple[str, str], kind: str, label: str) -> None:
    topology = lab()
    edges = linked(topology, topology.find(*a).id, topology.find(*b).id)
    assert [(e.kind, e.label) for e in edges] == [(kind, label)]


def test_a_stack_link_over_a_patch_is_one_stack_edge_and_stack_links_are_not_doubled() -> None:
    topology = lab()
    stack = [e for e in topology.edges if e.kind == m.STACK]
    assert len(stack) == 2  # each FAUCET stack link is listed on both of its DPs, drawn once
    assert not [e for e in topology.edges if e.kind == m.PATCH and "dovesnap" in e.dst]


def test_fail_closed_container_carries_the_reason() -> None:
    broken = lab().find(m.CONTAINER, "broken")
    assert broken.alert.startswith("FAIL-CLOSED (labnet): FAUCET refused")
    assert "no ACL" in broken.details  # no FAUCET interface, so no ACL in force


@pytest.mark.parametrize(("labels", "default_acl", "acl_line", "mirrored"), [
    ({}, "", "no ACL", False),
    ({}, "allowall", "ACL allowall", False),
    ({"dovesnap.faucet.portacl": "a1,a2"}, "allowall", "ACL a1,a2", False),
    ({"dovesnap.faucet.portacl": "labnet:x/other:y"}, "", "ACL x", False),
    ({"dovesnap.faucet.portacl": "other:y"}, "d", "ACL d", False),
    ({"dovesnap.faucet.mirror": "true"}, "", "no ACL", True),
    ({"dovesnap.faucet.mirror": "other:true"}, "", "no ACL", False),
    ({"dovesnap.faucet.portacl": "bad acl!"}, "", "no ACL", False),
])
def test_without_faucet_config_labels_say_what_is_wanted(
    labels: dict[str, str], default_acl: str, acl_line: str, mirrored: bool
) -> None:
    status = {NET_A: network("labnet", "odsbraaaa1", 0x10, DefaultAcl=default_acl, containers={
        "ep1": container("c", "c1c1c1c1c1", 1, "0e:00:00:00:00:01", "10.0.0.2", labels),
    })}
    node = build_topology([status], None).find(m.CONTAINER, "c")
    assert acl_line in node.details
    assert ("mirrored" in node.details) is mirrored


def test_faucet_config_beats_labels() -> None:
    status = {NET_A: network("labnet", "odsbraaaa1", 0x10, containers={
        "ep1": container("c", "c1c1c1c1c1", 4, "m", "", {"dovesnap.faucet.portacl": "wanted"}),
    })}
    faucet = {"dps": {"labnet": {"dp_id": 0x10, "interfaces": {
        "4": {"acls_in": ["inforce"]},
        "mirrorport": {"number": 99, "mirror": ["4"]},
    }}}}
    node = build_topology([status], faucet).find(m.CONTAINER, "c")
    assert "ACL inforce" in node.details and "mirrored" in node.details


def test_two_hosts_merge_into_one_picture_with_their_own_nodes() -> None:
    topology = build_topology([lab_status(), second_host_status()], lab_faucet())
    assert topology.hosts == ("e1e1e1", "e2e2e2")
    bridges = [n for n in topology.nodes if n.kind == m.BRIDGE]
    assert sorted((n.host, n.title) for n in bridges) == [("e1e1e1", "labnet"), ("e2e2e2", "labnet")]
    webs = [n for n in topology.nodes if n.kind == m.CONTAINER and n.title == "web"]
    assert len(webs) == 2
    # Same DP name on the other host, but another dp_id: that host's port is not "mirrored".
    other = next(n for n in webs if n.host == "e2e2e2")
    assert "mirrored" not in other.details and "no ACL" in other.details


def test_the_same_host_twice_is_drawn_once() -> None:
    once = build_topology([lab_status()], lab_faucet())
    twice = build_topology([lab_status(), lab_status()], lab_faucet())
    assert len(twice.nodes) == len(once.nodes) and len(twice.edges) == len(once.edges)


def test_hosts_without_engine_id_do_not_collide() -> None:
    a = {NET_A: network("n", "odsbr1", 1, engine="")}
    b = {"b" * 64: network("n", "odsbr1", 2, engine="")}
    topology = build_topology([a, b])
    assert topology.hosts == ("host1", "host2")
    assert len([n for n in topology.nodes if n.kind == m.BRIDGE]) == 2


def test_container_on_two_networks_is_one_node_with_two_ports() -> None:
    both = container("multi", "cafecafe01", 1, "0e:00:00:00:00:01", "10.1.0.2")
    status = {
        NET_A: network("n1", "odsbr1", 1, containers={"e1": both}),
        "b" * 64: network("n2", "odsbr2", 2, containers={"e2": dict(both, OFPort=5,
                                                                    HostIP="10.2.0.2")}),
    }
    topology = build_topology([status])
    node = topology.find(m.CONTAINER, "multi")
    assert "n1: 10.1.0.2" in node.details and "n2: 10.2.0.2" in node.details
    assert sorted(e.label for e in topology.edges_of(node.id)) == ["port 1", "port 5"]


@pytest.mark.parametrize(("mode", "gateway_kind"), [
    ("flat", None), ("nat", "NAT gateway"), ("routed", "routed gateway"),
])
def test_gateway_only_for_nat_and_routed(mode: str, gateway_kind: str | None) -> None:
    status = {NET_A: network("n", "odsbr1", 1, mode=mode, Gateway="10.0.0.1", GatewayMask="255.0.0.0")}
    gateways = [n for n in build_topology([status]).nodes if n.kind == m.GATEWAY]
    assert [n.title for n in gateways] == ([gateway_kind] if gateway_kind else [])


@pytest.mark.parametrize("broken", [
    {"x": "not a network"},
    {"x": {"DynamicNetworkStates": "nonsense", "BridgeName": "b"}},
    {"x": {"BridgeName": "b", "DynamicNetworkStates": {"Containers": {"e": {"OFPort": "x"}}}}},
    {},
])
def test_malformed_status_does_not_crash(broken: dict[str, Any]) -> None:
    topology = build_topology([broken], {"dps": "nonsense"})
    assert all(n.kind in (m.BRIDGE, m.CONTAINER) for n in topology.nodes)


def test_error_of_a_network_is_an_alert() -> None:
    status = {NET_A: network("n", "odsbr1", 1, Error="FAUCET refused the DP")}
    assert build_topology([status]).find(m.BRIDGE, "n").alert == "FAUCET refused the DP"


@pytest.mark.parametrize(("dps", "name", "dpid", "found"), [
    ({"a": {"dp_id": 1}, "b": {"dp_id": 2}}, "b", 2, "b"),
    ({"a": {"dp_id": 2}}, "b", 2, "a"),  # renamed DP: dp_id decides
    ({"b": {"dp_id": 3}}, "b", 2, ""),  # same name, other dp_id: another host's DP
    ({"b": {}}, "b", 2, "b"),
    ({"a": {"dp_id": "0x2"}}, "x", 2, "a"),
])
def test_find_dp(dps: dict[str, Any], name: str, dpid: int, found: str) -> None:
    assert find_dp({"dps": dps}, name, dpid)[0] == found


def test_merge_faucet_configs_keeps_first_dp_of_a_name() -> None:
    merged = merge_faucet_configs([{"dps": {"a": {"dp_id": 1}}}, None,
                                   {"dps": {"a": {"dp_id": 9}, "b": {"dp_id": 2}}}])
    assert merged == {"dps": {"a": {"dp_id": 1}, "b": {"dp_id": 2}}}


def test_facts_sorted_by_name_and_ports_by_number() -> None:
    facts = all_network_facts(lab_status(), lab_faucet())
    assert [p.ofport for p in facts[0].ports] == [1, 2, 3, 8, 9]
    assert facts[0].gateway_acls == ("allowall",)
