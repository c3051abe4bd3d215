"""Network facts from the status JSON: IPv6 gateways and container addresses, and how the table,
the page and the topology picture show them."""

from __future__ import annotations

from dovesnap.graph.facts import all_network_facts, network_facts
from dovesnap.graph.model import build_topology
from dovesnap.status.page import render_body
from dovesnap.status.table import format_status
from tests.unit.graph_samples import NET_A, container, network


def dual_stack() -> dict[str, object]:
    web = container("web", "c1c1c1c1c1", 1, "0e:00:00:00:00:01", "10.70.0.2")
    web["HostIPv6"] = "fd42:70::2"
    db = container("db", "c2c2c2c2c2", 2, "0e:00:00:00:00:02", "10.70.0.3")  # an older dovesnap
    return {NET_A: network(
        "dualnet", "odsbraaaa1", 0x7E7001, mode="nat", Gateway="10.70.0.1",
        GatewayMask="255.255.255.0", GatewayIPv6="fd42:70::1", SubnetIPv6="fd42:70::/64",
        containers={"ep1": web, "ep2": db},
    )}


def test_facts_carry_both_families() -> None:
    (facts,) = all_network_facts(dual_stack())
    assert facts.gateways == ("10.70.0.1/24", "fd42:70::1/64")
    web, db = facts.ports
    assert (web.ip, web.ipv6) == ("10.70.0.2", "fd42:70::2")
    assert (db.ip, db.ipv6) == ("10.70.0.3", "")


def test_an_ipv6_only_network_has_one_gateway() -> None:
    entry = network("v6net", "odsbr6", 0x7E7006, mode="routed", Gateway="fd42:70::1",
                    GatewayIPv6="fd42:70::1", SubnetIPv6="fd42:70::/64")
    assert network_facts("n", entry).gateways == ("fd42:70::1/64",)
    flat = network("flat6", "odsbr7", 0x7E7007, GatewayIPv6="fd42:71::1", SubnetIPv6="fd42:71::/64")
    assert network_facts("n", flat).gateways == ()  # no gateway on a flat network's bridge


def test_table_page_and_picture_show_ipv6() -> None:
    text = format_status(dual_stack())
    assert "gateway 10.70.0.1/24 fd42:70::1/64" in text.splitlines()[0]
    assert "10.70.0.2 fd42:70::2" in text
    body = render_body(all_network_facts(dual_stack()), None)
    assert "10.70.0.2<br>fd42:70::2" in body and "gateway 10.70.0.1/24, fd42:70::1/64" in body
    topology = build_topology([dual_stack()])
    details = {node.title: node.details for node in topology.nodes}
    assert "fd42:70::2" in details["web"] and "10.70.0.2" in details["web"]
    assert {"10.70.0.1/24", "fd42:70::1/64"} <= set(details["NAT gateway"])
