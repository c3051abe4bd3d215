"""iptables rules for ``nat``/``routed`` networks and published ports, as data.

A rule is a table, a chain and the argv fragment after ``-A CHAIN``; the adapter
(``adapters/iptables.py``) adds, checks and deletes it. Every rule carries a comment naming the
network (and the endpoint, for published ports), so dovesnap can always find its own rules again,
whatever flavour of iptables they landed in and whatever this version of the planner would say.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dovesnap.model.network import NetworkSpec

log = logging.getLogger(__name__)

TAG_PREFIX = "dovesnap:"
PORTMAP_OPTION = "com.docker.network.portmap"
PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}
FLAVOURS = ("nft", "legacy")


@dataclass(frozen=True)
class Rule:
    table: str  # "nat" or "filter"
    chain: str  # "POSTROUTING", "FORWARD" ...
    spec: tuple[str, ...]  # everything after "-A CHAIN", comment included

    @property
    def tag(self) -> str:
        return comment_of(self.spec) or ""


@dataclass(frozen=True)
class PortMapping:
    """One ``-p [HOSTIP:]OUT[-END]:IN[/PROTO]`` binding, as Docker hands it to the driver."""

    proto: str
    container_port: int
    host_port: int
    host_port_end: int
    host_ip: str | None = None  # None: every local address

    @property
    def host_ports(self) -> str:
        if self.host_port_end > self.host_port:
            return f"{self.host_port}:{self.host_port_end}"
        return str(self.host_port)


def network_tag(network_id: str) -> str:
    return TAG_PREFIX + network_id[:12]


def endpoint_tag(network_id: str, endpoint_id: str) -> str:
    return f"{network_tag(network_id)}:{endpoint_id[:12]}"


def belongs_to(tag: str, owner: str) -> bool:
    """Whether a rule's comment ``tag`` is ``owner``'s (a network owns its endpoints' rules)."""
    return tag == owner or tag.startswith(owner + ":")


def comment_of(spec: Sequence[str]) -> str | None:
    for index, word in enumerate(spec[:-1]):
        if word == "--comment":
            return spec[index + 1]
    return None


def _comment(tag: str) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", tag)


# --- flavour -----------------------------------------------------------------------------------


def choose_flavour(docker_in_nft: bool, docker_in_legacy: bool, alternative: str) -> str:
    """The iptables flavour to write to: where Docker keeps its chains, else the host default.

    ``alternative`` is the flavour the plain ``iptables`` command uses on this host. When Docker's
    chains are in both (a host switched flavours and restarted Docker), the plain command is what
    Docker would pick now.
    """
    if docker_in_nft and not docker_in_legacy:
        return "nft"
    if docker_in_legacy and not docker_in_nft:
        return "legacy"
    return alternative if alternative in FLAVOURS else "nft"


def flavour_of_command(resolved_path: str, version_text: str = "") -> str:
    """The flavour of an ``iptables`` binary from its resolved path, else its ``--version``."""
    name = resolved_path.rsplit("/", 1)[-1]
    if "legacy" in name:
        return "legacy"
    if "nft" in name:
        return "nft"
    return "nft" if "nf_tables" in version_text else "legacy"


# --- networks ----------------------------------------------------------------------------------


def network_rules(spec: NetworkSpec) -> tuple[Rule, ...]:
    """Rules a network needs: forwarding to and from its bridge, and masquerade for ``nat``."""
    if spec.mode not in ("nat", "routed") or spec.subnet is None:
        return ()
    bridge, tag = spec.bridge_name, network_tag(spec.network_id)
    rules = [Rule("filter", "FORWARD", ("-i", bridge, *_comment(tag), "-j", "ACCEPT"))]
    if spec.mode == "nat":
        rules.append(Rule("filter", "FORWARD", (
            "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
            *_comment(tag), "-j", "ACCEPT",
        )))
        rules.append(Rule("nat", "POSTROUTING", (
            "-s", spec.subnet, "!", "-o", bridge, *_comment(tag), "-j", "MASQUERADE",
        )))
    else:
        # An upstream router routes the subnet to this host; let that traffic in.
        rules.append(Rule("filter", "FORWARD", ("-o", bridge, *_comment(tag), "-j", "ACCEPT")))
    return tuple(rules)


def gateway_addresses(spec: NetworkSpec) -> tuple[tuple[str, int], ...]:
    """(address, prefix length) to put on the bridge's LOCAL port: the IPv4 and IPv6 gateways."""
    if spec.mode not in ("nat", "routed"):
        return ()
    found: list[tuple[str, int]] = []
    for data in spec.ipv4:
        if data.gateway:
            found.append(_address_and_prefix(data.gateway, data.pool))
            break
    if spec.ipv6_gateway:
        found.append(_address_and_prefix(spec.ipv6_gateway, None))
    return tuple(found)


def _address_and_prefix(gateway: str, pool: str | None) -> tuple[str, int]:
    if "/" in gateway:
        iface = ipaddress.ip_interface(gateway)
        return str(iface.ip), iface.network.prefixlen
    address = ipaddress.ip_address(gateway)
    if pool:
        return str(address), ipaddress.ip_network(pool, strict=False).prefixlen
    return str(address), address.max_prefixlen


def ipv6_gateway_address(spec: NetworkSpec) -> str | None:
    if not spec.ipv6_gateway:
        return None
    return spec.ipv6_gateway.split("/")[0]


def ipv4_gateway_address(spec: NetworkSpec) -> str | None:
    for data in spec.ipv4:
        if data.gateway:
            return data.gateway.split("/")[0]
    return None


# --- published ports ---------------------------------------------------------------------------


def _port(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number <= 65535 else None


def parse_port_mappings(options: Mapping[str, Any]) -> tuple[PortMapping, ...]:
    """Docker's ``com.docker.network.portmap`` (a list of PortBinding objects) as mappings.

    Bindings dovesnap cannot serve (no host port, an IPv6 host address, an unknown protocol) are
    skipped with a log line: refusing them would stop the container from starting.
    """
    raw = options.get(PORTMAP_OPTION)
    if not isinstance(raw, list):
        return ()
    result: list[PortMapping] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        raw_proto = item.get("Proto")
        proto = PROTOCOLS.get(raw_proto) if isinstance(raw_proto, int) else None
        inside, outside = _port(item.get("Port")), _port(item.get("HostPort"))
        end = _port(item.get("HostPortEnd")) or outside
        if proto is None or not inside or outside is None or end is None:
            log.warning("ignoring port mapping %r: not a TCP/UDP/SCTP port pair", item)
            continue
        if outside == 0:
            log.warning("ignoring port mapping of %s/%d: give a host port (-p OUT:IN)", proto, inside)
            continue
        usable, host_ip = _host_ip(item.get("HostIP"))
        if not usable:
            log.warning("ignoring port mapping %r: dovesnap publishes on IPv4 only", item)
            continue
        result.append(PortMapping(proto, inside, outside, max(end, outside), host_ip))
    return tuple(result)


def _host_ip(value: Any) -> tuple[bool, str | None]:
    """(usable, address): None means every local address; unusable when not IPv4."""
    if value in (None, "", "0.0.0.0"):
        return True, None
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return False, None
    if address.version != 4:
        return address.is_unspecified, None
    return True, str(address)


def publish_rules(
    spec: NetworkSpec, endpoint_id: str, container_address: str | None,
    mappings: Sequence[PortMapping],
) -> tuple[Rule, ...]:
    """DNAT (from outside and from the host), FORWARD and hairpin rules for one container."""
    if spec.mode != "nat" or not mappings or not container_address or spec.subnet is None:
        return ()
    address = ipaddress.ip_interface(container_address).ip
    if address.version != 4:
        return ()
    bridge, tag = spec.bridge_name, endpoint_tag(spec.network_id, endpoint_id)
    rules: list[Rule] = []
    for mapping in mappings:
        proto = ("-p", mapping.proto, "-m", mapping.proto)
        target = ("-j", "DNAT", "--to-destination", f"{address}:{mapping.container_port}")
        dport = ("--dport", mapping.host_ports)
        if mapping.host_ip:
            local: tuple[str, ...] = ("-d", f"{mapping.host_ip}/32")
            from_host: tuple[str, ...] | None = (
                None if ipaddress.ip_address(mapping.host_ip).is_loopback else local
            )
        else:
            local = ("-m", "addrtype", "--dst-type", "LOCAL")
            # Loopback destinations would need route_localnet; Docker leaves them to its proxy.
            from_host = ("!", "-d", "127.0.0.0/8", *local)
        rules.append(Rule("nat", "PREROUTING", (*local, *proto, *dport, *_comment(tag), *target)))
        if from_host is not None:
            rules.append(Rule("nat", "OUTPUT", (*from_host, *proto, *dport, *_comment(tag), *target)))
        inside = ("--dport", str(mapping.container_port))
        rules.append(Rule("filter", "FORWARD", (
            "-d", f"{address}/32", "-o", bridge, *proto, *inside, *_comment(tag), "-j", "ACCEPT",
        )))
        # A container reaching a published port through the gateway: answer via the gateway too.
        rules.append(Rule("nat", "POSTROUTING", (
            "-s", spec.subnet, "-d", f"{address}/32", "-o", bridge, *proto, *inside,
            *_comment(tag), "-j", "MASQUERADE",
        )))
    return tuple(dict.fromkeys(rules))
