"""iptables and ip6tables rules for ``nat``/``routed`` networks and published ports, as data.

Each address family a network has gets the same rules in its own firewall: forwarding to and
from the bridge, masquerade of the subnet (``nat``), and DNAT of published ports to the
container's address of that family. The rule type and the tags that mark a rule as dovesnap's
are in ``plan/firewall.py``; the adapter (``adapters/iptables.py``) adds, checks and deletes the
rules planned here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dovesnap.model.network import NetworkSpec, gateway_interfaces
from dovesnap.plan.firewall import IPV4, IPV6, Rule, comment_match, endpoint_tag, network_tag

log = logging.getLogger(__name__)

PORTMAP_OPTION = "com.docker.network.portmap"
PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}
EVERY_IPV4, EVERY_IPV6 = "0.0.0.0", "::"
# Where "every local address" stops for traffic from the host itself: loopback destinations would
# need route_localnet (IPv4; Docker leaves them to its proxy), and Linux never routes ::1 off the
# host at all (IPv6).
LOOPBACK = {IPV4: "127.0.0.0/8", IPV6: "::1/128"}
HOST_PREFIX = {IPV4: 32, IPV6: 128}


@dataclass(frozen=True)
class PortMapping:
    """One ``-p [HOSTIP:]OUT[-END]:IN[/PROTO]`` binding, as Docker hands it to the driver."""

    proto: str
    container_port: int
    host_port: int
    host_port_end: int
    # None: every local address of both families; "0.0.0.0"/"::" every IPv4/IPv6 one; else one.
    host_ip: str | None = None

    @property
    def host_ports(self) -> str:
        if self.host_port_end > self.host_port:
            return f"{self.host_port}:{self.host_port_end}"
        return str(self.host_port)

    @property
    def families(self) -> tuple[int, ...]:
        """The address families this binding publishes on (as Docker's bridge driver does)."""
        if self.host_ip is None:
            return (IPV4, IPV6)
        return (ipaddress.ip_address(self.host_ip).version,)

    def describe(self, family: int) -> str:
        """``0.0.0.0:8080->80/tcp``, ``[::]:8080->80/tcp``: as ``docker ps`` shows a binding."""
        host = self.host_ip or (EVERY_IPV4 if family == IPV4 else EVERY_IPV6)
        shown = f"[{host}]" if family == IPV6 else host
        return f"{shown}:{self.host_ports.replace(':', '-')}->{self.container_port}/{self.proto}"


# --- networks ----------------------------------------------------------------------------------


def network_rules(spec: NetworkSpec) -> tuple[Rule, ...]:
    """Rules a network needs, per family it has: forwarding to and from its bridge, and
    masquerade of its subnet for ``nat``."""
    if spec.mode not in ("nat", "routed"):
        return ()
    bridge, tag = spec.bridge_name, network_tag(spec.network_id)
    rules: list[Rule] = []
    for family, subnet in ((IPV4, spec.subnet), (IPV6, spec.subnet_ipv6)):
        if subnet is None:
            continue
        rules.append(Rule("filter", "FORWARD", ("-i", bridge, *comment_match(tag), "-j", "ACCEPT"),
                          family))
        if spec.mode == "nat":
            rules.append(Rule("filter", "FORWARD", (
                "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                *comment_match(tag), "-j", "ACCEPT",
            ), family))
            rules.append(Rule("nat", "POSTROUTING", (
                "-s", subnet, "!", "-o", bridge, *comment_match(tag), "-j", "MASQUERADE",
            ), family))
        else:
            # An upstream router routes the subnet to this host; let that traffic in.
            rules.append(Rule("filter", "FORWARD", ("-o", bridge, *comment_match(tag), "-j", "ACCEPT"),
                              family))
    return tuple(rules)


def ipv6_unavailable(bridge_disable_ipv6: str | None) -> tuple[str, str] | None:
    """(why, fix) when a bridge whose ``disable_ipv6`` setting reads so cannot hold an IPv6
    gateway (None: no setting at all, the kernel has no IPv6); None when it can."""
    without = "or create the network without --ipv6 (IPv4 networks work as they are)"
    if bridge_disable_ipv6 is None:
        return ("this kernel has no IPv6 (booted with ipv6.disable=1)",
                "boot without ipv6.disable=1, " + without)
    if bridge_disable_ipv6.strip() != "0":
        return ("IPv6 is disabled on this host (net.ipv6.conf.default.disable_ipv6 or "
                "net.ipv6.conf.all.disable_ipv6 is 1)",
                "turn it on with sysctl -w net.ipv6.conf.all.disable_ipv6=0 "
                "net.ipv6.conf.default.disable_ipv6=0, " + without)
    return None


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

    Bindings dovesnap cannot serve (no host port, IPv6 loopback, an unknown protocol) are
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
        host_ip, why = _host_ip(item.get("HostIP"))
        if why:
            log.warning("ignoring port mapping %r: %s", item, why)
            continue
        result.append(PortMapping(proto, inside, outside, max(end, outside), host_ip))
    return tuple(result)


def _host_ip(value: Any) -> tuple[str | None, str]:
    """(host address, "") for a binding's HostIP (None: every address), or (None, why not)."""
    if value in (None, ""):
        return None, ""
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return None, "not an IP address"
    if address.version == IPV6 and address.is_loopback:
        return None, ("Linux never routes ::1 to another interface, so it cannot be forwarded to "
                      "a container; publish on [::] or a host address instead")
    return str(address), ""


def _split_addresses(addresses: Sequence[str | None]) -> dict[int, ipaddress.IPv4Address
                                                             | ipaddress.IPv6Address]:
    """The container's address of each family, from ``a.b.c.d/len``/``x::y/len`` strings."""
    found: dict[int, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
    for text in addresses:
        if text:
            address = ipaddress.ip_interface(text).ip
            found.setdefault(address.version, address)
    return found


def published(
    spec: NetworkSpec, container_address: str | None, mappings: Sequence[PortMapping],
    container_address_ipv6: str | None = None,
) -> list[str]:
    """What is published, as ``docker ps`` shows it: each binding in each family it serves."""
    if spec.mode != "nat":
        return []
    addresses = _split_addresses((container_address, container_address_ipv6))
    subnets = {IPV4: spec.subnet, IPV6: spec.subnet_ipv6}
    shown = [m.describe(f) for m in mappings for f in m.families
             if f in addresses and subnets[f] is not None]
    return list(dict.fromkeys(shown))


def publish_rules(
    spec: NetworkSpec, endpoint_id: str, container_address: str | None,
    mappings: Sequence[PortMapping], container_address_ipv6: str | None = None,
) -> tuple[Rule, ...]:
    """DNAT (from outside and from the host), FORWARD and hairpin rules for one container, for
    each family both the network and the container have an address of."""
    if spec.mode != "nat" or not mappings:
        return ()
    addresses = _split_addresses((container_address, container_address_ipv6))
    subnets = {IPV4: spec.subnet, IPV6: spec.subnet_ipv6}
    tag = endpoint_tag(spec.network_id, endpoint_id)
    rules: list[Rule] = []
    for mapping in mappings:
        for family in mapping.families:
            address, subnet = addresses.get(family), subnets[family]
            if address is not None and subnet is not None:
                rules.extend(_publish(spec.bridge_name, tag, subnet, address, mapping))
    return tuple(dict.fromkeys(rules))


def _publish(bridge: str, tag: str, subnet: str,
             address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             mapping: PortMapping) -> list[Rule]:
    family = address.version
    proto = ("-p", mapping.proto, "-m", mapping.proto)
    shown = f"[{address}]" if family == IPV6 else str(address)
    target = ("-j", "DNAT", "--to-destination", f"{shown}:{mapping.container_port}")
    dport = ("--dport", mapping.host_ports)
    container = ("-d", f"{address}/{HOST_PREFIX[family]}")
    if mapping.host_ip in (None, EVERY_IPV4, EVERY_IPV6):
        local: tuple[str, ...] = ("-m", "addrtype", "--dst-type", "LOCAL")
        from_host: tuple[str, ...] | None = ("!", "-d", LOOPBACK[family], *local)
    else:
        local = ("-d", f"{mapping.host_ip}/{HOST_PREFIX[family]}")
        from_host = None if ipaddress.ip_address(mapping.host_ip).is_loopback else local
    rules = [Rule("nat", "PREROUTING", (*local, *proto, *dport, *comment_match(tag), *target),
                  family)]
    if from_host is not None:
        rules.append(Rule("nat", "OUTPUT", (*from_host, *proto, *dport, *comment_match(tag),
                                             *target), family))
    inside = ("--dport", str(mapping.container_port))
    rules.append(Rule("filter", "FORWARD", (
        *container, "-o", bridge, *proto, *inside, *comment_match(tag), "-j", "ACCEPT",
    ), family))
    # A container reaching a published port through the gateway: answer via the gateway too.
    rules.append(Rule("nat", "POSTROUTING", (
        "-s", subnet, *container, "-o", bridge, *proto, *inside, *comment_match(tag),
        "-j", "MASQUERADE",
    ), family))
    return rules
