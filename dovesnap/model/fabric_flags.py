"""The mirroring and stacking daemon flags, parsed and checked against each other.

``--mirror-bridge-out IF [--mirror-bridge-in IF]`` and ``--stacking-interfaces DP:PORT:IF,...
[--stack-priority1 DP] [--stack-mirror-interface DP:PORT]``. The stacking bridge is controlled
by ``--default-ofcontrollers``, else by the embedded FAUCET and Gauge; with an external FAUCET
and no ``--default-ofcontrollers`` stacking is refused. Pure: strings in, frozen data or a
FlagError out.
"""

from __future__ import annotations

from dovesnap.errors import FlagError, OptionError
from dovesnap.fabric_settings import (  # re-exported: the parsed flags' types
    FabricFlags,
    MirrorFlags,
    StackFlags,
    StackLinkRequest,
    StackMirrorTarget,
)
from dovesnap.model.names import DP_NAME_RE, IFNAME_HINT, IFNAME_RE
from dovesnap.model.options import MAX_OFPORT_REQUEST, parse_controllers, split_items


def _ifname(flag: str, value: str) -> str:
    if not IFNAME_RE.match(value):
        raise FlagError(flag, f"{value[:40]!r} is not an interface name", IFNAME_HINT)
    return value


def _dp_name(flag: str, value: str) -> str:
    if not DP_NAME_RE.match(value):
        raise FlagError(flag, f"{value[:40]!r} is not a FAUCET DP name",
                        "use the DP's name as faucet.yaml spells it")
    return value


def _port(flag: str, value: str) -> int:
    try:
        port = int(value.strip(), 0)
    except ValueError:
        raise FlagError(flag, f"{value[:20]!r} is not a port number") from None
    if not 1 <= port <= MAX_OFPORT_REQUEST:
        raise FlagError(flag, f"port {port} is out of range", f"use 1..{MAX_OFPORT_REQUEST}")
    return port


def parse_stacking_interfaces(value: str) -> tuple[StackLinkRequest, ...]:
    flag = "stacking-interfaces"
    links: list[StackLinkRequest] = []
    for item in split_items(value):
        parts = item.split(":")
        if len(parts) != 3:
            raise FlagError(flag, f"{item[:60]!r} is not DP:PORT:IF", "e.g. odsrootsw:7:eth7")
        link = StackLinkRequest(_dp_name(flag, parts[0]), _port(flag, parts[1]),
                                _ifname(flag, parts[2]))
        if any(other.ifname == link.ifname for other in links):
            raise FlagError(flag, f"interface {link.ifname} is listed twice")
        if any((o.remote_dp, o.remote_port) == (link.remote_dp, link.remote_port) for o in links):
            raise FlagError(flag, f"{link.remote_dp} port {link.remote_port} is listed twice")
        links.append(link)
    return tuple(links)


def parse_stack_mirror_interface(value: str) -> StackMirrorTarget:
    flag = "stack-mirror-interface"
    parts = value.strip().split(":")
    if len(parts) != 2:
        raise FlagError(flag, f"{value[:60]!r} is not DP:PORT", "e.g. odsrootsw:88")
    return StackMirrorTarget(_dp_name(flag, parts[0]), _port(flag, parts[1]))


def _parse_mirror(out_if: str, in_if: str) -> MirrorFlags | None:
    if in_if and not out_if:
        raise FlagError("mirror-bridge-in", "needs --mirror-bridge-out",
                        "give the interface the mirrored traffic leaves on")
    if not out_if:
        return None
    mirror = MirrorFlags(_ifname("mirror-bridge-out", out_if),
                         _ifname("mirror-bridge-in", in_if) if in_if else None)
    if mirror.in_ifname == mirror.out_ifname:
        raise FlagError("mirror-bridge-in", "must differ from --mirror-bridge-out")
    return mirror


def _parse_stack(
    interfaces: str, priority1: str, mirror_interface: str, controllers: str,
    embedded: tuple[str, ...],
) -> StackFlags | None:
    links = parse_stacking_interfaces(interfaces)
    if not links:
        for flag, given in (("stack-priority1", priority1),
                            ("stack-mirror-interface", mirror_interface)):
            if given:
                raise FlagError(flag, "needs --stacking-interfaces",
                                "give the stack links as DP:PORT:IF")
        return None
    if controllers:
        try:
            parsed_controllers = parse_controllers(controllers)
        except OptionError as err:
            raise FlagError("default-ofcontrollers", err.what, err.fix) from None
    elif embedded:
        parsed_controllers = embedded  # dovesnap's own FAUCET and Gauge
    else:
        raise FlagError("default-ofcontrollers", "is required when stacking with an external FAUCET",
                        "give the fabric's FAUCET and Gauge, e.g. tcp:192.0.2.10:6653,"
                        "tcp:192.0.2.10:6654, or run the embedded ones (no --external-faucet)")
    return StackFlags(
        links=links,
        controllers=parsed_controllers,
        priority1=_dp_name("stack-priority1", priority1.strip()) if priority1.strip() else None,
        mirror=parse_stack_mirror_interface(mirror_interface) if mirror_interface else None,
    )


def parse_fabric_flags(
    mirror_bridge_out: str = "",
    mirror_bridge_in: str = "",
    stacking_interfaces: str = "",
    stack_priority1: str = "",
    stack_mirror_interface: str = "",
    default_ofcontrollers: str = "",
    embedded_controllers: tuple[str, ...] = (),
) -> FabricFlags:
    """``embedded_controllers``: the embedded FAUCET and Gauge, () with an external FAUCET."""
    mirror = _parse_mirror(mirror_bridge_out.strip(), mirror_bridge_in.strip())
    stack = _parse_stack(stacking_interfaces, stack_priority1, stack_mirror_interface.strip(),
                         default_ofcontrollers.strip(), embedded_controllers)
    if mirror is not None and stack is not None:
        if stack.mirror is not None:
            raise FlagError("stack-mirror-interface", "cannot be used with --mirror-bridge-out",
                            "both use each network's lbport: choose one way of mirroring")
        used = {mirror.out_ifname, mirror.in_ifname}
        for link in stack.links:
            if link.ifname in used:
                raise FlagError("stacking-interfaces",
                                f"{link.ifname} is also a mirror bridge interface")
    return FabricFlags(mirror, stack)
