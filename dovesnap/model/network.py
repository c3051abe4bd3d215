"""A Docker network's options, parsed, validated and frozen into a :class:`NetworkSpec`.

Everything here is pure: Docker's ``-o`` options and IPAM data in, a frozen dataclass out, or an
:class:`~dovesnap.errors.OptionError` that names the option and says what a valid value looks
like. The value parsers it uses are in ``options.py``; container labels are in ``labels.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dovesnap.errors import OptionError
from dovesnap.model.gateway import address_and_prefix, address_of
from dovesnap.model.options import (
    MAX_OFPORT_REQUEST,
    OPTION_PREFIX,
    PerNetworkValue,
    PortRequest,
    parse_bool,
    parse_controllers,
    parse_dpid,
    parse_ifname,
    parse_int,
    parse_mac,
    parse_per_network,
    parse_port_requests,
)

MODES = ("flat", "nat", "routed")
# How containers on a DHCP network get IPv6: not at all (Docker turns IPv6 off in them), or by
# SLAAC from the router advertisements of the segment's own router.
DHCP_IPV6_MODES = ("off", "slaac")
DEFAULT_VLAN = 100
DEFAULT_MTU = 1500
DEFAULT_LBPORT = 99
MAX_PREALLOCATE = 1024
MAX_VALUE_LEN = 4096


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
    dhcp_ipv6: str = "off"
    dhcp_guard: bool = False  # drop DHCP server replies sent from container ports
    bridge_name: str = ""
    bind_interface: str | None = None
    internal: bool = False
    ipv4: tuple[IPv4Data, ...] = ()
    ipv6_gateway: str | None = None
    ipv6_pool: str | None = None
    raw_options: tuple[tuple[str, str], ...] = ()

    @property
    def dpid_hex(self) -> str:
        return f"0x{self.dpid:x}"

    @property
    def gateway(self) -> str | None:
        """Gateway address without prefix length, IPv4 first, else IPv6."""
        return ipv4_gateway_address(self) or ipv6_gateway_address(self)

    @property
    def gateway_prefixlen(self) -> int | None:
        """The IPv4 gateway's prefix length (its own, else its pool's)."""
        data = _ipv4_with_gateway(self)
        if data is None or data.gateway is None:
            return None
        return address_and_prefix(data.gateway, data.pool)[1]

    @property
    def subnet(self) -> str | None:
        """The IPv4 subnet."""
        for data in self.ipv4:
            return str(ipaddress.ip_network(data.pool, strict=False))
        return None

    @property
    def subnet_ipv6(self) -> str | None:
        """The IPv6 subnet: Docker's pool, else (a spec kept by an older dovesnap) the gateway's."""
        if self.ipv6_pool:
            return str(ipaddress.ip_network(self.ipv6_pool, strict=False))
        if self.ipv6_gateway and "/" in self.ipv6_gateway:
            return str(ipaddress.ip_interface(self.ipv6_gateway).network)
        return None

    @property
    def subnets(self) -> tuple[str, ...]:
        """The IPv4 and the IPv6 subnet, those the network has."""
        return tuple(s for s in (self.subnet, self.subnet_ipv6) if s)


def _ipv4_with_gateway(spec: NetworkSpec) -> IPv4Data | None:
    return next((data for data in spec.ipv4 if data.gateway), None)


def ipv4_gateway_address(spec: NetworkSpec) -> str | None:
    data = _ipv4_with_gateway(spec)
    return address_of(data.gateway) if data is not None and data.gateway else None


def ipv6_gateway_address(spec: NetworkSpec) -> str | None:
    return address_of(spec.ipv6_gateway) if spec.ipv6_gateway else None


def gateway_interfaces(spec: NetworkSpec) -> tuple[tuple[str, int], ...]:
    """(address, prefix length) of the network's IPv4 gateway and of its IPv6 gateway."""
    found: list[tuple[str, int]] = []
    data = _ipv4_with_gateway(spec)
    if data is not None and data.gateway:
        found.append(address_and_prefix(data.gateway, data.pool))
    if spec.ipv6_gateway:
        found.append(address_and_prefix(spec.ipv6_gateway, spec.ipv6_pool))
    return tuple(found)


def default_mirror_tunnel_vid(vlan: int) -> int:
    """VLAN + 256 as the Go original did; below the VLAN when that would pass 4094."""
    return vlan + 256 if vlan + 256 <= 4094 else vlan - 256


def default_bridge_name(network_id: str) -> str:
    return "odsbr" + network_id[:5]




_KNOWN = (
    "dpid", "controller", "mode", "vlan", "mtu", "userspace", "ovs_local_mac", "nat_acl",
    "default_acl", "vlan_out_acl", "preallocate_ports", "add_ports", "add_copro_ports",
    "mirror_tunnel_vid", "lbport", "dhcp", "dhcp_ipv6", "dhcp_guard", "name", "bind_interface",
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


def _ipv6_data(raw: Any) -> tuple[str | None, str | None]:
    """(pool, gateway) of Docker's first IPv6 pool; (None, None) when it has none."""
    for item in raw or ():
        if not isinstance(item, Mapping):
            continue
        pool, gateway = item.get("Pool"), item.get("Gateway")
        pool = pool if isinstance(pool, str) and pool else None
        gateway = gateway if isinstance(gateway, str) and gateway else None
        if pool is None and gateway is None:
            continue
        for what, value in (("IPv6 pool", pool), ("IPv6 gateway", gateway)):
            try:
                if value is not None and ipaddress.ip_interface(value).version != 6:
                    raise ValueError
            except ValueError:
                raise OptionError(what, f"{value!r} is not an IPv6 address or subnet") from None
        return pool, gateway
    return None, None


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
    ipv6_pool, ipv6_gateway = _ipv6_data(ipv6_data)
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
        dhcp_ipv6=_dhcp_ipv6(opts.get("dhcp_ipv6", "off")),
        dhcp_guard=parse_bool(opt("dhcp_guard"), opts.get("dhcp_guard", "false")),
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
        ipv6_gateway=ipv6_gateway,
        ipv6_pool=ipv6_pool,
        raw_options=tuple(sorted((OPTION_PREFIX + k, v) for k, v in opts.items())),
    )
    _check_consistency(spec)
    return spec


def _dhcp_ipv6(value: str) -> str:
    mode = value.strip().lower() or "off"
    if mode not in DHCP_IPV6_MODES:
        raise OptionError(OPTION_PREFIX + "dhcp_ipv6", f"{value!r} is not one of "
                          + ", ".join(DHCP_IPV6_MODES), "use slaac, or leave it out")
    return mode


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
    if spec.dhcp_ipv6 != "off" and not spec.dhcp:
        raise OptionError(opt("dhcp_ipv6"), "only DHCP networks take their IPv6 from the segment",
                          "add -o ovs.bridge.dhcp=true, or use --ipv6 --subnet for Docker's IPAM")
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
