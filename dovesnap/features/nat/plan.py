"""iptables rules for ``nat``/``routed`` networks and published ports, as data.

The rule type and the tags that mark a rule as dovesnap's are in ``plan/firewall.py``; the
adapter (``adapters/iptables.py``) adds, checks and deletes the rules planned here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dovesnap.model.network import NetworkSpec, gateway_interfaces
from dovesnap.plan.firewall import Rule, comment_match, endpoint_tag, network_tag

log = logging.getLogger(__name__)

PORTMAP_OPTION = "com.docker.network.portmap"
PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}


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


# --- networks ----------------------------------------------------------------------------------


def network_rules(spec: NetworkSpec) -> tuple[Rule, ...]:
    """Rules a network needs: forwarding to and from its bridge, and masquerade for ``nat``."""
    if spec.mode not in ("nat", "routed") or spec.subnet is None:
        return ()
    bridge, tag = spec.bridge_name, network_tag(spec.network_id)
    rules = [Rule("filter", "FORWARD", ("-i", bridge, *comment_match(tag), "-j", "ACCEPT"))]
    if spec.mode == "nat":
        rules.append(Rule("filter", "FORWARD", (
            "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
            *comment_match(tag), "-j", "ACCEPT",
        )))
        rules.append(Rule("nat", "POSTROUTING", (
            "-s", spec.subnet, "!", "-o", bridge, *comment_match(tag), "-j", "MASQUERADE",
        )))
    else:
        # An upstream router routes the subnet to this host; let that traffic in.
        rules.append(Rule("filter", "FORWARD", ("-o", bridge, *comment_match(tag), "-j", "ACCEPT")))
    return tuple(rules)


def gateway_addresses(spec: NetworkSpec) -> tuple[tuple[str, int], ...]:
    """(address, prefix length) to put on the bridge's LOCAL port: the IPv4 and IPv6 gateways."""
    if spec.mode not in ("nat", "routed"):
        return ()
    return gateway_interfaces(spec)


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
        rules.append(Rule("nat", "PREROUTING", (*local, *proto, *dport, *comment_match(tag), *target)))
        if from_host is not None:
            rules.append(Rule("nat", "OUTPUT", (*from_host, *proto, *dport, *comment_match(tag), *target)))
        inside = ("--dport", str(mapping.container_port))
        rules.append(Rule("filter", "FORWARD", (
            "-d", f"{address}/32", "-o", bridge, *proto, *inside, *comment_match(tag), "-j", "ACCEPT",
        )))
        # A container reaching a published port through the gateway: answer via the gateway too.
        rules.append(Rule("nat", "POSTROUTING", (
            "-s", spec.subnet, "-d", f"{address}/32", "-o", bridge, *proto, *inside,
            *comment_match(tag), "-j", "MASQUERADE",
        )))
    return tuple(dict.fromkeys(rules))
