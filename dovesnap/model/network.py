"""Parsed, validated and frozen network options (container labels: ``labels.py``).

Everything here is pure: strings in (Docker's ``-o`` options and container labels), frozen
dataclasses out, or an :class:`~dovesnap.errors.OptionError` / :class:`LabelError` that names the
option and says what a valid value looks like.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dovesnap.errors import OptionError

OPTION_PREFIX = "ovs.bridge."

MODES = ("flat", "nat", "routed")
DEFAULT_VLAN = 100
DEFAULT_MTU = 1500
DEFAULT_LBPORT = 99
MAX_OFPORT_REQUEST = 65279
MAX_PREALLOCATE = 1024
MAX_VALUE_LEN = 4096

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-@]{1,15}\Z")
ACL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}\Z")
_NETNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}\Z")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")
_CONTROLLER_RE = re.compile(r"^(tcp|ssl):(\[[0-9a-fA-F:.]+\]|[0-9.]+):([0-9]{1,5})\Z")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class PerNetworkValue:
    """A value that is either bare (every network) or given per network name.

    ``NET1:A,B/NET2:C`` gives ``A,B`` to NET1 and ``C`` to NET2; ``A`` alone applies everywhere.
    """

    default: tuple[str, ...] = ()
    by_network: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def for_network(self, name: str | None) -> tuple[str, ...]:
        for net, values in self.by_network:
            if net == name:
                return values
        return self.default

    @property
    def empty(self) -> bool:
        return not self.default and not self.by_network


@dataclass(frozen=True)
class PortRequest:
    """A host interface to attach to a network bridge (``add_ports``/``add_copro_ports``)."""

    ifname: str
    ofport: int | None = None
    acl: str | None = None
    vlan: int | None = None
    coprocessor: bool = False


@dataclass(frozen=True)
class IPv4Data:
    pool: str
    gateway: str | None  # "a.b.c.d/len" as Docker sends it


@dataclass(frozen=True)
class NetworkSpec:
    """Everything dovesnap needs to build one Docker network; derived only from Docker's request."""

    network_id: str
    dpid: int
    controllers: tuple[str, ...] = ()
    mode: str = "flat"
    vlan: int = DEFAULT_VLAN
    mtu: int = DEFAULT_MTU
    userspace: bool = False
    ovs_local_mac: str | None = None
    nat_acl: PerNetworkValue = field(default_factory=PerNetworkValue)
    default_acl: PerNetworkValue = field(default_factory=PerNetworkValue)
    vlan_out_acl: PerNetworkValue = field(default_factory=PerNetworkValue)
    preallocate_ports: int = 0
    add_ports: tuple[PortRequest, ...] = ()
    add_copro_ports: tuple[PortRequest, ...] = ()
    mirror_tunnel_vid: int = DEFAULT_VLAN + 256
    lbport: int = DEFAULT_LBPORT
    dhcp: bool = False
    bridge_name: str = ""
    bind_interface: str | None = None
    internal: bool = False
    ipv4: tuple[IPv4Data, ...] = ()
    ipv6_gateway: str | None = None
    raw_options: tuple[tuple[str, str], ...] = ()

    @property
    def dpid_hex(self) -> str:
        return f"0x{self.dpid:x}"

    @property
    def gateway(self) -> str | None:
        """Gateway address without prefix length, IPv4 first, else IPv6."""
        for data in self.ipv4:
            if data.gateway:
                return data.gateway.split("/")[0]
        if self.ipv6_gateway:
            return self.ipv6_gateway.split("/")[0]
        return None

    @property
    def gateway_prefixlen(self) -> int | None:
        for data in self.ipv4:
            if data.gateway and "/" in data.gateway:
                return int(data.gateway.split("/")[1])
            if data.gateway:
                return ipaddress.ip_network(data.pool, strict=False).prefixlen
        return None

    @property
    def subnet(self) -> str | None:
        for data in self.ipv4:
            return str(ipaddress.ip_network(data.pool, strict=False))
        return None


def default_mirror_tunnel_vid(vlan: int) -> int:
    """VLAN + 256 as the Go original did; below the VLAN when that would pass 4094."""
    return vlan + 256 if vlan + 256 <= 4094 else vlan - 256


def default_bridge_name(network_id: str) -> str:
    return "odsbr" + network_id[:5]


def parse_bool(option: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise OptionError(option, f"{value!r} is not a boolean", "use true or false")


def parse_int(option: str, value: str, low: int, high: int) -> int:
    text = value.strip()
    try:
        number = int(text, 0)
    except ValueError:
        raise OptionError(
            option, f"{value!r} is not a number", f"give a whole number from {low} to {high}"
        ) from None
    if not low <= number <= high:
        raise OptionError(option, f"{number} is out of range", f"use {low}..{high}")
    return number


def parse_dpid(value: str) -> int:
    option = OPTION_PREFIX + "dpid"
    text = value.strip().lower()
    try:
        dpid = int(text, 16) if text.startswith("0x") else int(text, 10)
    except ValueError:
        raise OptionError(
            option, f"{value!r} is not a datapath id", "give it in hex like 0x1"
        ) from None
    if not 0 < dpid < 2**64:
        raise OptionError(option, f"{value!r} is out of range", "use 0x1..0xffffffffffffffff")
    return dpid


def parse_controllers(value: str) -> tuple[str, ...]:
    option = OPTION_PREFIX + "controller"
    result = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        match = _CONTROLLER_RE.match(item)
        if not match:
            raise OptionError(
                option, f"{item!r} is not a controller", "use tcp:IP:PORT, e.g. tcp:127.0.0.1:6653"
            )
        try:
            ipaddress.ip_address(match.group(2).strip("[]"))
        except ValueError:
            raise OptionError(option, f"{match.group(2)!r} is not an IP address") from None
        if not 0 < int(match.group(3)) < 65536:
            raise OptionError(option, f"port {match.group(3)} is out of range", "use 1..65535")
        result.append(item)
    if not result:
        raise OptionError(option, "no controller given", "use tcp:IP:PORT[,tcp:IP:PORT]")
    return tuple(result)


def parse_mac(option: str, value: str) -> str:
    text = value.strip().lower()
    if not _MAC_RE.match(text):
        raise OptionError(option, f"{value!r} is not a MAC address", "use six bytes like 0e:01:00:00:00:03")
    if int(text[:2], 16) & 1:
        raise OptionError(option, f"{value} is a multicast MAC", "use a unicast address")
    return text


def parse_ifname(option: str, value: str) -> str:
    if not _IFNAME_RE.match(value):
        raise OptionError(
            option, f"{value!r} is not an interface name", "use 1-15 letters, digits, . _ - or @"
        )
    return value


def parse_acl_name(option: str, value: str) -> str:
    if not ACL_NAME_RE.match(value):
        raise OptionError(
            option, f"{value[:80]!r} is not an ACL name", "use letters, digits, '.', '_' or '-'"
        )
    return value


def parse_per_network(option: str, value: str, item_check: Any = parse_acl_name) -> PerNetworkValue:
    """Parse ``A`` / ``A,B`` / ``NET:A,B/NET2:C`` (a bare part applies to every network)."""
    default: tuple[str, ...] = ()
    by_network: list[tuple[str, tuple[str, ...]]] = []
    for part in value.split("/"):
        part = part.strip()
        if not part:
            continue
        net, sep, rest = part.rpartition(":")
        items = tuple(item_check(option, x.strip()) for x in rest.split(",") if x.strip())
        if not items:
            raise OptionError(option, f"{part!r} names no value")
        if sep:
            if not _NETNAME_RE.match(net):
                raise OptionError(option, f"{net[:80]!r} is not a network name")
            by_network.append((net, items))
        else:
            default = items
    return PerNetworkValue(default, tuple(by_network))


def parse_port_requests(option: str, value: str, coprocessor: bool) -> tuple[PortRequest, ...]:
    """``IF[/OFPORT[/ACL[/VLAN]]]``, comma separated."""
    result: list[PortRequest] = []
    seen: set[str] = set()
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        fields = item.split("/")
        if len(fields) > 4:
            raise OptionError(option, f"{item!r} has too many fields", "use IF[/OFPORT[/ACL[/VLAN]]]")
        ifname = parse_ifname(option, fields[0])
        if ifname in seen:
            raise OptionError(option, f"interface {ifname} is listed twice")
        seen.add(ifname)
        ofport = (
            parse_int(option, fields[1], 1, MAX_OFPORT_REQUEST)
            if len(fields) > 1 and fields[1]
            else None
        )
        acl = parse_acl_name(option, fields[2]) if len(fields) > 2 and fields[2] else None
        vlan = parse_int(option, fields[3], 1, 4094) if len(fields) > 3 and fields[3] else None
        result.append(PortRequest(ifname, ofport, acl, vlan, coprocessor))
    return tuple(result)


_KNOWN = (
    "dpid", "controller", "mode", "vlan", "mtu", "userspace", "ovs_local_mac", "nat_acl",
    "default_acl", "vlan_out_acl", "preallocate_ports", "add_ports", "add_copro_ports",
    "mirror_tunnel_vid", "lbport", "dhcp", "name", "bind_interface",
)


NULL_IPAM_POOL = "0.0.0.0/0"


def _ipv4_data(raw: Any) -> tuple[IPv4Data, ...]:
    result = []
    for item in raw or ():
        if not isinstance(item, Mapping):
            continue
        pool = item.get("Pool")
        if not isinstance(pool, str) or not pool:
            continue
        if item.get("AddressSpace") == "null" or pool == NULL_IPAM_POOL:
            continue  # --ipam-driver null: Docker sends 0.0.0.0/0 in the "null" address space
        try:
            ipaddress.ip_network(pool, strict=False)
        except ValueError:
            raise OptionError("IPAM pool", f"{pool!r} is not a subnet") from None
        gateway = item.get("Gateway")
        result.append(IPv4Data(pool, gateway if isinstance(gateway, str) and gateway else None))
    return tuple(result)


def _ipv6_gateway(raw: Any) -> str | None:
    for item in raw or ():
        if isinstance(item, Mapping) and isinstance(item.get("Gateway"), str) and item["Gateway"]:
            gateway: str = item["Gateway"]
            return gateway
    return None


def parse_network(
    network_id: str,
    options: Mapping[str, Any],
    ipv4_data: Any = (),
    ipv6_data: Any = (),
    default_controllers: tuple[str, ...] = (),
    internal: bool = False,
) -> NetworkSpec:
    """Turn Docker's ``-o`` options (the generic option map) into a :class:`NetworkSpec`."""
    opts: dict[str, str] = {}
    for key, value in options.items():
        if not key.startswith(OPTION_PREFIX):
            continue
        short = key[len(OPTION_PREFIX):]
        if short not in _KNOWN:
            raise OptionError(key, "unknown option", "see the README for the ovs.bridge.* options")
        if not isinstance(value, str):
            value = str(value)
        if len(value) > MAX_VALUE_LEN:
            raise OptionError(key, f"value is {len(value)} characters long", "keep it short")
        opts[short] = value

    if "dpid" not in opts:
        raise OptionError(
            OPTION_PREFIX + "dpid", "is required", "add -o ovs.bridge.dpid=0x1 (unique per network)"
        )
    opt = OPTION_PREFIX.__add__
    mode = opts.get("mode", "flat").strip().lower() or "flat"
    if mode not in MODES:
        raise OptionError(opt("mode"), f"{mode!r} is not a mode", "use flat, nat or routed")
    vlan = parse_int(opt("vlan"), opts["vlan"], 1, 4094) if "vlan" in opts else DEFAULT_VLAN
    spec = NetworkSpec(
        network_id=network_id,
        dpid=parse_dpid(opts["dpid"]),
        controllers=(
            parse_controllers(opts["controller"]) if "controller" in opts else default_controllers
        ),
        mode=mode,
        vlan=vlan,
        mtu=parse_int(opt("mtu"), opts["mtu"], 68, 65535) if "mtu" in opts else DEFAULT_MTU,
        userspace=parse_bool(opt("userspace"), opts.get("userspace", "false")),
        ovs_local_mac=(
            parse_mac(opt("ovs_local_mac"), opts["ovs_local_mac"]) if "ovs_local_mac" in opts else None
        ),
        nat_acl=parse_per_network(opt("nat_acl"), opts.get("nat_acl", "")),
        default_acl=parse_per_network(opt("default_acl"), opts.get("default_acl", "")),
        vlan_out_acl=parse_per_network(opt("vlan_out_acl"), opts.get("vlan_out_acl", "")),
        preallocate_ports=(
            parse_int(opt("preallocate_ports"), opts["preallocate_ports"], 0, MAX_PREALLOCATE)
            if "preallocate_ports" in opts
            else 0
        ),
        add_ports=parse_port_requests(opt("add_ports"), opts.get("add_ports", ""), False),
        add_copro_ports=parse_port_requests(
            opt("add_copro_ports"), opts.get("add_copro_ports", ""), True
        ),
        mirror_tunnel_vid=(
            parse_int(opt("mirror_tunnel_vid"), opts["mirror_tunnel_vid"], 1, 4094)
            if "mirror_tunnel_vid" in opts
            else default_mirror_tunnel_vid(vlan)
        ),
        lbport=(
            parse_int(opt("lbport"), opts["lbport"], 1, MAX_OFPORT_REQUEST)
            if "lbport" in opts
            else DEFAULT_LBPORT
        ),
        dhcp=parse_bool(opt("dhcp"), opts.get("dhcp", "false")),
        bridge_name=(
            parse_ifname(opt("name"), opts["name"]) if "name" in opts
            else default_bridge_name(network_id)
        ),
        bind_interface=(
            parse_ifname(opt("bind_interface"), opts["bind_interface"])
            if opts.get("bind_interface")
            else None
        ),
        internal=internal,
        ipv4=_ipv4_data(ipv4_data),
        ipv6_gateway=_ipv6_gateway(ipv6_data),
        raw_options=tuple(sorted((OPTION_PREFIX + k, v) for k, v in opts.items())),
    )
    _check_consistency(spec)
    return spec


def _check_consistency(spec: NetworkSpec) -> None:
    opt = OPTION_PREFIX.__add__
    if not spec.controllers:
        raise OptionError(
            opt("controller"), "no controller given and the daemon has no default",
            "add -o ovs.bridge.controller=tcp:127.0.0.1:6653",
        )
    if spec.mirror_tunnel_vid == spec.vlan:
        raise OptionError(opt("mirror_tunnel_vid"), "must differ from ovs.bridge.vlan")
    ofports = [p.ofport for p in spec.add_ports + spec.add_copro_ports if p.ofport]
    if len(ofports) != len(set(ofports)):
        raise OptionError(opt("add_ports"), "two interfaces ask for the same OpenFlow port")
    names = [p.ifname for p in spec.add_ports + spec.add_copro_ports]
    if len(names) != len(set(names)):
        raise OptionError(opt("add_copro_ports"), "an interface is in add_ports and add_copro_ports")
    if spec.dhcp:
        if spec.mode != "flat":
            raise OptionError(
                opt("dhcp"), f"DHCP networks must use mode flat, not {spec.mode}",
                "drop ovs.bridge.mode (flat is the default) or ovs.bridge.dhcp",
            )
        if not spec.internal:
            raise OptionError(
                opt("dhcp"), "DHCP networks must be --internal", "add --internal to the create command"
            )
        if spec.ipv4:
            raise OptionError(
                opt("dhcp"), "DHCP networks need --ipam-driver null (the DHCP server hands out "
                "addresses, not Docker)", "add --ipam-driver null and drop --subnet/--gateway",
            )
    if spec.mode in ("nat", "routed") and not spec.gateway:
        raise OptionError(
            opt("mode"), f"{spec.mode} needs a gateway address",
            "give the network a subnet (docker's default IPAM does) and do not use --ipam-driver null",
        )


def with_network_defaults(spec: NetworkSpec, **changes: Any) -> NetworkSpec:
    return replace(spec, **changes)
