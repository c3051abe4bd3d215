"""What one dovesnap network looks like, read from its status JSON and the FAUCET config.

Pure: plain data in, frozen dataclasses out. The topology graph, the status page and
``dovesnap status`` all show these facts, so they agree on what a port's ACL or mirror state is.
The FAUCET config is the truth for what is in force (``acls_in``, ``mirror``); without one the
container's labels and the network's default ACL stand in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dovesnap.errors import DovesnapError
from dovesnap.model.gateway import with_netmask
from dovesnap.model.labels import LABEL_MIRROR, LABEL_PORTACL
from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.model.options import parse_per_network, split_items
from dovesnap.model.port_policy import PortSettings, effective_labels, parse_endpoint_options

CONTAINER = "container"
EXTERNAL = "external"
COPRO = "copro"


@dataclass(frozen=True)
class PortFacts:
    """One port of a network bridge: a container's veth or a host interface."""

    kind: str  # CONTAINER, EXTERNAL or COPRO
    name: str
    ofport: int
    mac: str = ""
    ip: str = ""
    ipv6: str = ""
    acls: tuple[str, ...] = ()
    mirrored: bool = False
    fail_closed: str = ""
    container_id: str = ""
    endpoint_id: str = ""
    ifname: str = ""
    state: str = ""  # a container port's: ok, pending, fail-closed or not-applied
    state_reason: str = ""
    # Who decided the port's ACL and mirroring: "operator" (dovesnap acl set / mirror),
    # "option" (Docker endpoint option, --driver-opt), "label", or "" (the network's default).
    acl_source: str = ""
    mirror_source: str = ""


@dataclass(frozen=True)
class LinkFacts:
    """A patch link from the network bridge to another bridge (mirror, loopback, stacking)."""

    name: str
    ofport: int
    peer_bridge: str
    peer_name: str = ""
    peer_ofport: int = 0


@dataclass(frozen=True)
class NetworkFacts:
    network_id: str
    name: str
    host: str
    bridge: str
    dpid: str
    dpid_int: int
    mode: str = "flat"
    vlan: int = 0
    userspace: bool = False
    controllers: tuple[str, ...] = ()
    gateway: str = ""
    gateway_ipv6: str = ""  # "x::1/64" when the network has an IPv6 gateway besides an IPv4 one
    gateway_acls: tuple[str, ...] = ()
    default_acls: tuple[str, ...] = ()
    preallocated: int = 0
    error: str = ""
    dp_name: str = ""
    ports: tuple[PortFacts, ...] = ()
    links: tuple[LinkFacts, ...] = ()
    mirror_bridge: str = ""
    mirror_out: str = ""
    mirror_in: str = ""

    @property
    def gateways(self) -> tuple[str, ...]:
        return tuple(g for g in (self.gateway, self.gateway_ipv6) if g)

    @property
    def containers(self) -> tuple[PortFacts, ...]:
        return tuple(p for p in self.ports if p.kind == CONTAINER)

    @property
    def externals(self) -> tuple[PortFacts, ...]:
        return tuple(p for p in self.ports if p.kind != CONTAINER)


def addresses_of(port: PortFacts) -> tuple[str, ...]:
    """A port's IPv4 and IPv6 addresses, those it has."""
    return tuple(a for a in (port.ip, port.ipv6) if a)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return default
    return default


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(split_items(value))
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return ()


def find_dp(faucet: Mapping[str, Any] | None, name: str, dpid: int) -> tuple[str, Mapping[str, Any]]:
    """The FAUCET DP of a network: by dp_id (preferring its name), or by name if it has none."""
    dps = _mapping((faucet or {}).get("dps"))
    by_id = [(str(k), _mapping(v)) for k, v in dps.items() if _int(_mapping(v).get("dp_id")) == dpid]
    for key, dp in by_id:
        if key == name:
            return key, dp
    if by_id:
        return by_id[0]
    if name and name in dps and _mapping(dps[name]).get("dp_id") is None:
        return name, _mapping(dps[name])
    return "", {}


def dp_interfaces(dp: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """A DP's interfaces keyed by OpenFlow port (FAUCET allows names with a ``number:``)."""
    result: dict[int, Mapping[str, Any]] = {}
    for key, iface in _mapping(dp.get("interfaces")).items():
        iface = _mapping(iface)
        number = _int(iface.get("number"), 0) or _int(key, 0)
        if number:
            result[number] = iface
    return result


def _mirrored_ports(dp: Mapping[str, Any], interfaces: Mapping[int, Mapping[str, Any]]) -> set[int]:
    names = {str(k): _int(_mapping(v).get("number"), 0) or _int(k, 0)
             for k, v in _mapping(dp.get("interfaces")).items()}
    mirrored: set[int] = set()
    for iface in interfaces.values():
        targets = iface.get("mirror")
        if targets is None:
            continue
        for target in targets if isinstance(targets, list) else [targets]:
            number = _int(target, 0) or names.get(str(target), 0)
            if number:
                mirrored.add(number)
    return mirrored


def _per_network(option: str, text: str, network: str) -> tuple[str, ...]:
    if not text:
        return ()
    try:
        return parse_per_network(option, text).for_network(network)
    except DovesnapError:
        return (text,)


def _container(
    ep_id: str, raw: Mapping[str, Any], network: str, default_acls: tuple[str, ...],
    interfaces: Mapping[int, Mapping[str, Any]], mirrored: set[int], have_dp: bool,
) -> PortFacts:
    ofport = _int(raw.get("OFPort"))
    iface = interfaces.get(ofport)
    labels = {str(k): _text(v) for k, v in _mapping(raw.get("Labels")).items()}
    options = {str(k): _text(v) for k, v in _mapping(raw.get("EndpointOptions")).items()}
    operator = _operator(_mapping(raw.get("OperatorPolicy")))
    if have_dp:
        acls = _str_list(iface.get("acls_in")) if iface is not None else ()
        mirror = ofport in mirrored
    else:  # no FAUCET config to read: say what the labels, options and operator ask for
        try:
            wanted = effective_labels(labels, options, operator, network)
            acls, mirror = wanted.acls or default_acls, wanted.mirror
        except DovesnapError:
            acls, mirror = (), False
    acl_source, mirror_source = _sources(labels, options, operator, network)
    return PortFacts(
        kind=CONTAINER,
        name=_text(raw.get("Name")),
        ofport=ofport,
        mac=_text(raw.get("MacAddress")),
        ip=_text(raw.get("HostIP")),
        ipv6=_text(raw.get("HostIPv6")),
        acls=acls,
        mirrored=mirror,
        fail_closed=_text(raw.get("FailClosed")),
        container_id=_text(raw.get("Id")),
        endpoint_id=ep_id,
        ifname=_text(raw.get("IfName")),
        state=_text(raw.get("State")) or ("fail-closed" if raw.get("FailClosed") else "ok"),
        state_reason=_text(raw.get("StateReason")),
        acl_source=acl_source,
        mirror_source=mirror_source,
    )


def _operator(raw: Mapping[str, Any]) -> PortSettings:
    acls, mirror = raw.get("acls"), raw.get("mirror")
    return PortSettings(acls=_str_list(acls) if acls is not None else None,
                        mirror=mirror if isinstance(mirror, bool) else None)


def _sources(labels: Mapping[str, str], options: Mapping[str, str], operator: PortSettings,
             network: str) -> tuple[str, str]:
    """Who decided the ACL and the mirroring (see PortFacts)."""
    try:
        by_option = parse_endpoint_options(options, network)
    except DovesnapError:
        by_option = PortSettings()
    found = []
    for mine, option, label in ((operator.acls, by_option.acls, LABEL_PORTACL),
                                (operator.mirror, by_option.mirror, LABEL_MIRROR)):
        found.append("operator" if mine is not None else "option" if option is not None
                     else "label" if label in labels else "")
    return found[0], found[1]


def _copro_names(text: str) -> set[str]:
    return {part.split("/")[0] for part in text.split(",") if part.strip()}


def _externals(
    net: Mapping[str, Any], dyn: Mapping[str, Any], interfaces: Mapping[int, Mapping[str, Any]],
) -> list[PortFacts]:
    copro = _copro_names(_text(net.get("AddCoproPorts")))
    result = []
    for ifname, raw in _mapping(dyn.get("ExternalPorts")).items():
        raw = _mapping(raw)
        name = _text(raw.get("Name")) or str(ifname)
        ofport = _int(raw.get("OFPort"))
        if ofport == LOCAL_OFPORT:
            continue  # the gateway (a nat/routed network's LOCAL port): drawn as the gateway
        iface = interfaces.get(ofport, {})
        is_copro = name in copro or "coprocessor" in iface
        result.append(PortFacts(
            kind=COPRO if is_copro else EXTERNAL, name=name, ofport=ofport,
            mac=_text(raw.get("MacAddress")), acls=_str_list(iface.get("acls_in")), ifname=name,
        ))
    return result


def _links(dyn: Mapping[str, Any]) -> list[LinkFacts]:
    result = []
    for name, raw in _mapping(dyn.get("OtherBridgePorts")).items():
        raw = _mapping(raw)
        peer_bridge = _text(raw.get("PeerBridgeName"))
        if not peer_bridge:
            continue
        result.append(LinkFacts(
            name=_text(raw.get("Name")) or str(name), ofport=_int(raw.get("OFPort")),
            peer_bridge=peer_bridge, peer_name=_text(raw.get("PeerName")),
            peer_ofport=_int(raw.get("PeerOFPort")),
        ))
    return sorted(result, key=lambda link: (link.ofport, link.name))


def _gateway(net: Mapping[str, Any]) -> str:
    gateway, mask = _text(net.get("Gateway")), _text(net.get("GatewayMask"))
    if gateway and mask and "/" not in gateway:
        return with_netmask(gateway, mask)
    if gateway and gateway == _text(net.get("GatewayIPv6")):
        return _gateway_ipv6(net)  # an IPv6-only network: its one gateway, with its length
    return gateway


def _gateway_ipv6(net: Mapping[str, Any]) -> str:
    gateway, subnet = _text(net.get("GatewayIPv6")), _text(net.get("SubnetIPv6"))
    if gateway and "/" in subnet and "/" not in gateway:
        return f"{gateway}/{subnet.rsplit('/', 1)[1]}"
    return gateway


def network_facts(
    network_id: str, net: Mapping[str, Any], faucet: Mapping[str, Any] | None = None,
    host: str = "",
) -> NetworkFacts:
    """Facts about one entry of the status JSON (``GET /networks``)."""
    dyn = _mapping(net.get("DynamicNetworkStates"))
    name = _text(net.get("NetworkName"))
    dpid_int = _int(net.get("BridgeDpidUint")) or _int(net.get("BridgeDpid"))
    dp_name, dp = find_dp(faucet, name, dpid_int)
    interfaces = dp_interfaces(dp)
    mirrored = _mirrored_ports(dp, interfaces)
    default_acls = _per_network("ovs.bridge.default_acl", _text(net.get("DefaultAcl")), name)
    gateway_acls = _per_network("ovs.bridge.nat_acl", _text(net.get("NATAcl")), name)
    if LOCAL_OFPORT in interfaces:
        gateway_acls = _str_list(interfaces[LOCAL_OFPORT].get("acls_in"))
    ports = [
        _container(str(ep_id), _mapping(raw), name, default_acls, interfaces, mirrored, bool(dp))
        for ep_id, raw in _mapping(dyn.get("Containers")).items()
    ]
    ports.extend(_externals(net, dyn, interfaces))
    mirror = _mapping(dyn.get("MirrorBridge"))
    mode = _text(net.get("Mode")) or "flat"
    return NetworkFacts(
        network_id=network_id,
        name=name,
        host=host or _text(dyn.get("ShortEngineId")),
        bridge=_text(net.get("BridgeName")),
        dpid=_text(net.get("BridgeDpid")) or (f"{dpid_int:#x}" if dpid_int else ""),
        dpid_int=dpid_int,
        mode=mode,
        vlan=_int(net.get("BridgeVLAN")),
        userspace=bool(net.get("Userspace")),
        controllers=_str_list(net.get("Controller")),
        gateway=_gateway(net) if mode in ("nat", "routed") else "",
        gateway_ipv6=(_gateway_ipv6(net) if mode in ("nat", "routed")
                      and _text(net.get("GatewayIPv6")) != _text(net.get("Gateway")) else ""),
        gateway_acls=gateway_acls,
        default_acls=default_acls,
        preallocated=_int(net.get("PreAllocatePorts")),
        error="; ".join(e for e in (_text(net.get("Error")), _text(net.get("FaucetError"))) if e),
        dp_name=dp_name,
        ports=tuple(sorted(ports, key=lambda p: (p.ofport, p.name))),
        links=tuple(_links(dyn)),
        mirror_bridge=_text(mirror.get("BridgeName")),
        mirror_out=_text(mirror.get("OutInterface")),
        mirror_in=_text(mirror.get("InInterface")),
    )


def all_network_facts(
    status: Mapping[str, Any], faucet: Mapping[str, Any] | None = None, host: str = ""
) -> list[NetworkFacts]:
    """Every network of one host's status JSON, sorted by name."""
    facts = [
        network_facts(str(net_id), _mapping(net), faucet, host)
        for net_id, net in _mapping(status).items()
        if isinstance(net, Mapping)
    ]
    return sorted(facts, key=lambda f: (f.name, f.network_id))
