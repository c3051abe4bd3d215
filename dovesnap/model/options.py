"""Option values as strings in, checked values out: the parsers every ``ovs.bridge.*`` option,
container label and daemon flag shares (``network.py`` puts them together into a NetworkSpec).

Pure: each parser returns a value or raises :class:`~dovesnap.errors.OptionError` naming the
option and saying what a valid value looks like.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from dovesnap.errors import OptionError
from dovesnap.model.names import (
    ACL_NAME_RE,
    DP_NAME_RE,
    IFNAME_HINT,
    IFNAME_RE,
    RESERVED_ACL_HINT,
    is_reserved_acl,
)

OPTION_PREFIX = "ovs.bridge."
MAX_OFPORT_REQUEST = 65279

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


def split_items(value: str, sep: str = ",") -> list[str]:
    """The non-empty parts of a ``sep``-separated list, stripped: ``" a, ,b"`` -> ``["a", "b"]``."""
    return [item for item in (part.strip() for part in value.split(sep)) if item]


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
    for item in split_items(value):
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
    if not IFNAME_RE.match(value):
        raise OptionError(option, f"{value!r} is not an interface name", IFNAME_HINT)
    return value


def parse_acl_name(option: str, value: str) -> str:
    if not ACL_NAME_RE.match(value):
        raise OptionError(
            option, f"{value[:80]!r} is not an ACL name", "use letters, digits, '.', '_' or '-'"
        )
    if is_reserved_acl(value):
        raise OptionError(option, f"ACL {value} is reserved", RESERVED_ACL_HINT)
    return value


def parse_per_network(
    option: str, value: str, item_check: Callable[[str, str], str] = parse_acl_name
) -> PerNetworkValue:
    """Parse ``A`` / ``A,B`` / ``NET:A,B/NET2:C`` (a bare part applies to every network)."""
    default: tuple[str, ...] = ()
    by_network: list[tuple[str, tuple[str, ...]]] = []
    for part in split_items(value, "/"):
        net, sep, rest = part.rpartition(":")
        items = tuple(item_check(option, x) for x in split_items(rest))
        if not items:
            raise OptionError(option, f"{part!r} names no value")
        if sep:
            if not DP_NAME_RE.match(net):
                raise OptionError(option, f"{net[:80]!r} is not a network name")
            by_network.append((net, items))
        else:
            default = items
    return PerNetworkValue(default, tuple(by_network))


def parse_port_requests(option: str, value: str, coprocessor: bool) -> tuple[PortRequest, ...]:
    """``IF[/OFPORT[/ACL[/VLAN]]]``, comma separated."""
    result: list[PortRequest] = []
    seen: set[str] = set()
    for item in split_items(value):
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
