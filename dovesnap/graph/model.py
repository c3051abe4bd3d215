"""The topology of dovesnap networks as plain data: nodes and edges, no drawing.

``build_topology`` takes the status JSON of one or more hosts (``GET /networks``) and the FAUCET
config, and returns every network bridge, container, host interface, NAT/routed gateway, mirror
bridge (with its in/out interfaces), other patched bridges and FAUCET stack links to other DPs.
Several hosts merge into one picture: each host's nodes carry its engine id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dovesnap.graph.facts import COPRO, NetworkFacts, PortFacts, addresses_of, all_network_facts

# Node kinds.
BRIDGE = "bridge"
CONTAINER = "container"
EXTERNAL = "external"
COPROCESSOR = "copro"
GATEWAY = "gateway"
MIRROR_BRIDGE = "mirror_bridge"
OTHER_BRIDGE = "other_bridge"
INTERFACE = "interface"
REMOTE_DP = "dp"

# Edge kinds.
PORT = "port"
PATCH = "patch"
STACK = "stack"
MIRROR_OUT = "mirror_out"
MIRROR_IN = "mirror_in"

MIRROR_BRIDGE_PREFIX = "odsmir"
LOOPBACK_BRIDGE_PREFIX = "odslb"
STACK_BRIDGE_PREFIX = "dovesnap"


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    title: str
    details: tuple[str, ...] = ()
    alert: str = ""  # shown in red: fail-closed reason, network error
    host: str = ""  # engine id of the host the node lives on; "" for remote DPs


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    kind: str = PORT
    label: str = ""


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()

    def node(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def find(self, kind: str, title: str) -> Node:
        for node in self.nodes:
            if node.kind == kind and node.title == title:
                return node
        raise KeyError(f"{kind} {title}")

    def edges_of(self, node_id: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if node_id in (e.src, e.dst))

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(sorted({n.host for n in self.nodes if n.host}))


@dataclass
class _Builder:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[Any, ...], Edge] = field(default_factory=dict)

    def node(self, node: Node) -> str:
        if node.id not in self.nodes:
            self.nodes[node.id] = node
        return node.id

    def replace(self, node: Node) -> None:
        self.nodes[node.id] = node

    def edge(self, edge: Edge, key: tuple[Any, ...] | None = None) -> None:
        self.edges.setdefault(key or (edge.src, edge.dst, edge.kind, edge.label), edge)

    def result(self) -> Topology:
        return Topology(tuple(self.nodes.values()), tuple(self.edges.values()))


def merge_faucet_configs(configs: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One config whose ``dps`` hold every DP of the given configs (first one wins a clash)."""
    dps: dict[str, Any] = {}
    for config in configs:
        section = (config or {}).get("dps")
        if isinstance(section, Mapping):
            for name, dp in section.items():
                dps.setdefault(str(name), dp)
    return {"dps": dps}


def _acl_text(acls: Sequence[str]) -> str:
    return "ACL " + ",".join(acls) if acls else "no ACL"


def _bridge_id(host: str, bridge: str) -> str:
    return f"bridge:{host}:{bridge}"


def _network_node(net: NetworkFacts, host: str) -> Node:
    details = [f"bridge {net.bridge}", f"dpid {net.dpid}", f"mode {net.mode}, VLAN {net.vlan}"]
    if net.userspace:
        details.append("userspace datapath")
    if net.default_acls:
        details.append("default " + _acl_text(net.default_acls))
    if net.preallocated:
        details.append(f"{net.preallocated} preallocated ports")
    if net.controllers:
        details.append("controllers " + ",".join(net.controllers))
    return Node(
        id=_bridge_id(host, net.bridge), kind=BRIDGE, title=net.name or net.network_id[:12],
        details=tuple(details), alert=net.error, host=host,
    )


def _container_lines(port: PortFacts) -> list[str]:
    lines = [port.mac] if port.mac else []
    lines.extend(addresses_of(port))
    lines.append(_acl_text(port.acls))
    if port.mirrored:
        lines.append("mirrored")
    return lines


def _add_container(b: _Builder, net: NetworkFacts, host: str, port: PortFacts,
                   networks_of: Mapping[str, int]) -> None:
    key = port.container_id or port.endpoint_id
    node_id = f"container:{host}:{key}"
    lines = _container_lines(port)
    if networks_of.get(key, 0) > 1:  # one node per container, its lines per network
        lines = [f"{net.name}: {line}" for line in lines]
    alert = f"FAIL-CLOSED ({net.name}): {port.fail_closed}" if port.fail_closed else ""
    old = b.nodes.get(node_id)
    if old is None:
        b.node(Node(node_id, CONTAINER, port.name or port.endpoint_id[:12], tuple(lines), alert, host))
    else:
        b.replace(Node(node_id, CONTAINER, old.title, old.details + tuple(lines),
                       "; ".join(a for a in (old.alert, alert) if a), host))
    b.edge(Edge(_bridge_id(host, net.bridge), node_id, PORT, f"port {port.ofport}"))


def _add_external(b: _Builder, net: NetworkFacts, host: str, port: PortFacts) -> None:
    kind = COPROCESSOR if port.kind == COPRO else EXTERNAL
    what = "coprocessor port" if kind == COPROCESSOR else "host interface"
    details = [what]
    if port.mac:
        details.append(port.mac)
    if port.acls:
        details.append(_acl_text(port.acls))
    node_id = b.node(Node(f"iface:{host}:{port.name}", kind, port.name, tuple(details), host=host))
    b.edge(Edge(_bridge_id(host, net.bridge), node_id, PORT, f"port {port.ofport}"))


def _add_gateway(b: _Builder, net: NetworkFacts, host: str) -> None:
    title = "NAT gateway" if net.mode == "nat" else "routed gateway"
    details = list(net.gateways)
    details.append(_acl_text(net.gateway_acls))
    node_id = b.node(Node(f"gateway:{host}:{net.network_id}", GATEWAY, title, tuple(details),
                          host=host))
    b.edge(Edge(_bridge_id(host, net.bridge), node_id, PORT, "LOCAL"))


def _other_bridge_node(host: str, name: str) -> Node:
    if name.startswith(MIRROR_BRIDGE_PREFIX):
        return Node(_bridge_id(host, name), MIRROR_BRIDGE, name, ("mirror bridge",), host=host)
    if name.startswith(LOOPBACK_BRIDGE_PREFIX):
        what = "loopback bridge (stack mirror)"
    elif name.startswith(STACK_BRIDGE_PREFIX):
        what = "stacking bridge"
    else:
        what = "bridge"
    return Node(_bridge_id(host, name), OTHER_BRIDGE, name, (what,), host=host)


def _pair_key(a: str, b: str, kind: str) -> tuple[Any, ...]:
    return (kind, *sorted((a, b)))


def _add_links(b: _Builder, net: NetworkFacts, host: str, bridges: set[str]) -> None:
    here = _bridge_id(host, net.bridge)
    for link in net.links:
        if link.peer_bridge not in bridges:
            b.node(_other_bridge_node(host, link.peer_bridge))
        there = _bridge_id(host, link.peer_bridge)
        label = f"{link.ofport} : {link.peer_ofport}" if link.peer_ofport else f"{link.ofport}"
        b.edge(Edge(here, there, PATCH, label), _pair_key(here, there, PATCH))
    if net.mirror_bridge:
        mirror = b.node(_other_bridge_node(host, net.mirror_bridge))
        if net.mirror_out:
            out = b.node(Node(f"iface:{host}:{net.mirror_out}", INTERFACE, net.mirror_out,
                              ("mirror output",), host=host))
            b.edge(Edge(mirror, out, MIRROR_OUT, "out"))
        if net.mirror_in:
            inp = b.node(Node(f"iface:{host}:{net.mirror_in}", INTERFACE, net.mirror_in,
                              ("mirror input",), host=host))
            b.edge(Edge(inp, mirror, MIRROR_IN, "in"))


def _dp_node_ids(b: _Builder, facts: Sequence[NetworkFacts]) -> dict[str, str]:
    """FAUCET DP name -> node id: network DPs, and other bridges whose DP has their name."""
    ids: dict[str, str] = {}
    for net in facts:
        if net.dp_name:
            ids.setdefault(net.dp_name, _bridge_id(net.host, net.bridge))
    for node in b.nodes.values():
        if node.kind in (OTHER_BRIDGE, MIRROR_BRIDGE):
            ids.setdefault(node.title, node.id)
    return ids


def _add_stacks(b: _Builder, faucet: Mapping[str, Any], facts: Sequence[NetworkFacts]) -> None:
    dps = faucet.get("dps")
    if not isinstance(dps, Mapping):
        return
    ids = _dp_node_ids(b, facts)

    def node_for(name: str) -> str:
        if name in ids:
            return ids[name]
        dp = dps.get(name)
        details = []
        if isinstance(dp, Mapping) and dp.get("dp_id") is not None:
            dp_id = dp["dp_id"]
            details.append(f"dp_id {dp_id:#x}" if isinstance(dp_id, int) else f"dp_id {dp_id}")
        return b.node(Node(f"dp:{name}", REMOTE_DP, name, ("FAUCET DP", *details)))

    for name, dp in dps.items():
        if not isinstance(dp, Mapping) or not isinstance(dp.get("interfaces"), Mapping):
            continue
        for port, iface in dp["interfaces"].items():
            stack = iface.get("stack") if isinstance(iface, Mapping) else None
            if not isinstance(stack, Mapping) or "dp" not in stack:
                continue
            here, there = node_for(str(name)), node_for(str(stack["dp"]))
            ends = sorted([(str(name), str(port)), (str(stack["dp"]), str(stack.get("port", "")))])
            label = f"stack {ends[0][0]}:{ends[0][1]} - {ends[1][0]}:{ends[1][1]}"
            # A stack link over a patch veth: one line, drawn as the stack link it is.
            b.edges.pop(_pair_key(here, there, PATCH), None)
            b.edge(Edge(here, there, STACK, label), (STACK, *ends))


def build_topology(
    statuses: Sequence[Mapping[str, Any]], faucet: Mapping[str, Any] | None = None
) -> Topology:
    """Nodes and edges for every network in ``statuses`` (one status JSON per host)."""
    b = _Builder()
    all_facts: list[NetworkFacts] = []
    seen_networks: set[str] = set()
    for index, status in enumerate(statuses):
        facts = [f for f in all_network_facts(status, faucet) if f.network_id not in seen_networks]
        seen_networks.update(f.network_id for f in facts)
        fallback = f"host{index + 1}"
        facts = [f if f.host else replace(f, host=fallback) for f in facts]
        all_facts.extend(facts)
        bridges = {(f.host, f.bridge) for f in facts}
        networks_of: dict[str, int] = {}
        for net in facts:
            for port in net.containers:
                key = port.container_id or port.endpoint_id
                networks_of[key] = networks_of.get(key, 0) + 1
        for net in facts:
            b.node(_network_node(net, net.host))
        for net in facts:
            host = net.host
            if net.gateway or net.mode in ("nat", "routed"):
                _add_gateway(b, net, host)
            for port in net.containers:
                _add_container(b, net, host, port, networks_of)
            for port in net.externals:
                _add_external(b, net, host, port)
            _add_links(b, net, host, {br for h, br in bridges if h == host})
    if faucet:
        _add_stacks(b, faucet, all_facts)
    return b.result()
