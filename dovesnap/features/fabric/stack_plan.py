"""FAUCET stacking as config edits: the stacking DP, stack links, the mirror tunnel; whether the
tunnel's path is up (from the stack states ``adapters/faucet_metrics.py`` reads).

All pure: each edit takes the whole FAUCET config and returns a changed copy, so the hooks in
``features/fabric/stacking.py`` can hand them to the driver's config writes (which validate them with
FAUCET's own parser before anything reaches FAUCET).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from dovesnap.errors import FlagError
from dovesnap.plan.faucet_dp import HARDWARE, MIRROR_DESCRIPTION, Config, copy_config, section

TUNNEL_ACL_PREFIX = "dovesnap-mirror-tunnel-"
# An allow-all ACL on both ends of the stacking bridge's uplinks. It changes no forwarding; it
# gives those DPs FAUCET's port ACL table from the start, so that a mirror tunnel added later is
# a warm change for them (a cold start would lose the tunnel's rules: see features/fabric/tunnel.py).
STACK_LINK_ACL = "dovesnap-stack-link"
TUNNEL_DESCRIPTION = "dovesnap mirror tunnel"
STACK_STATE_UP = 3


@dataclass(frozen=True)
class StackUplink:
    """A stacking-bridge interface cabled to port ``remote_port`` of FAUCET DP ``remote_dp``."""

    ofport: int
    remote_dp: str
    remote_port: int


def _dps(config: Config) -> MutableMapping[Any, Any]:
    return section(config, "dps")


def _acls(config: Config) -> MutableMapping[Any, Any]:
    return section(config, "acls")


def _interfaces(dp: MutableMapping[Any, Any]) -> MutableMapping[Any, Any]:
    """Keyed by port number (or by name, in an operator's DP)."""
    return section(dp, "interfaces")


def _stack_peer(iface: Any) -> str | None:
    if isinstance(iface, Mapping) and isinstance(iface.get("stack"), Mapping):
        peer = iface["stack"].get("dp")
        return str(peer) if peer is not None else None
    return None


def _is_ours(acl: str) -> bool:
    return acl.startswith(TUNNEL_ACL_PREFIX) or acl == STACK_LINK_ACL


def _tunnel_acls(iface: Any) -> list[str]:
    if not isinstance(iface, Mapping):
        return []
    acls = iface.get("acls_in") or []
    return [str(a) for a in acls if str(a).startswith(TUNNEL_ACL_PREFIX)]


def _our_acls(iface: Any) -> list[str]:
    if not isinstance(iface, Mapping):
        return []
    return [str(a) for a in iface.get("acls_in") or [] if _is_ours(str(a))]


def stack_link_iface(peer_dp: str, peer_port: int, acl: str | None = None) -> dict[str, Any]:
    iface: dict[str, Any] = {
        "description": f"Stack link to {peer_dp}", "stack": {"dp": peer_dp, "port": peer_port},
    }
    if acl is not None:
        iface["acls_in"] = [acl]
    return iface


def strip_stack(config: Mapping[str, Any], stack_dp: str) -> Config:
    """A copy without the stacking DP, the links to it, and dovesnap's mirror tunnels and ACLs."""
    new = copy_config(config)
    dps = _dps(new)
    dps.pop(stack_dp, None)
    for dp in dps.values():
        if not isinstance(dp, MutableMapping):
            continue
        interfaces = _interfaces(dp)
        for port, iface in list(interfaces.items()):
            if _stack_peer(iface) == stack_dp:
                del interfaces[port]
            elif _tunnel_acls(iface):
                placeholder: dict[str, Any] = {"description": MIRROR_DESCRIPTION, "output_only": True}
                if iface.get("mirror"):
                    placeholder["mirror"] = list(iface["mirror"])
                interfaces[port] = placeholder
    return drop_unused_tunnel_acls(new)


def put_stack_dp(
    config: Mapping[str, Any],
    name: str,
    dp_id: int,
    description: str,
    uplinks: Iterable[StackUplink],
    priority1: str | None,
    tunnel_to: tuple[str, int] | None = None,
) -> Config:
    """The stacking DP, its links to the operator's DPs (both ends), and the root's priority.
    With ``tunnel_to`` (mirror tunnels to that DP and port will follow), the uplinks carry
    ``STACK_LINK_ACL``."""
    new = strip_stack(config, name)
    dps = _dps(new)
    uplinks = list(uplinks)
    for uplink in uplinks:
        if not isinstance(dps.get(uplink.remote_dp), MutableMapping):
            raise FlagError(
                "stacking-interfaces", f"DP {uplink.remote_dp} is not defined in faucet.yaml",
                "define that DP (dp_id, hardware, interfaces) before starting dovesnap",
            )
    if priority1 is not None and not isinstance(dps.get(priority1), MutableMapping):
        raise FlagError("stack-priority1", f"DP {priority1} is not defined in faucet.yaml",
                        "name a DP that faucet.yaml defines")
    if tunnel_to is not None:
        dest = dps.get(tunnel_to[0])
        if not isinstance(dest, MutableMapping):
            raise FlagError("stack-mirror-interface",
                            f"DP {tunnel_to[0]} is not defined in faucet.yaml",
                            "name a DP of the stack that faucet.yaml defines")
        if tunnel_to[1] not in _interfaces(dest):
            raise FlagError("stack-mirror-interface",
                            f"DP {tunnel_to[0]} has no interface {tunnel_to[1]} in faucet.yaml",
                            "define it there first, e.g. with output_only: true")
    acl = STACK_LINK_ACL if tunnel_to is not None else None
    if acl is not None:
        _acls(new)[acl] = [{"rule": {"actions": {"allow": 1}}}]
    dps[name] = {
        "dp_id": dp_id,
        "description": description,
        "hardware": HARDWARE,
        "interfaces": {
            u.ofport: stack_link_iface(u.remote_dp, u.remote_port, acl) for u in uplinks
        },
    }
    for uplink in uplinks:
        _interfaces(dps[uplink.remote_dp])[uplink.remote_port] = stack_link_iface(
            name, uplink.ofport, acl
        )
    if priority1 is not None:
        root = dps[priority1]
        section(root, "stack")["priority"] = 1
    return new


def link_network(
    config: Mapping[str, Any], net_dp: str, net_port: int, stack_dp: str, stack_port: int
) -> Config:
    """Both ends of a network bridge's stack link (when both DPs are in the config)."""
    new = copy_config(config)
    dps = _dps(new)
    net, stack = dps.get(net_dp), dps.get(stack_dp)
    if isinstance(net, MutableMapping) and isinstance(stack, MutableMapping):
        _interfaces(net)[net_port] = stack_link_iface(stack_dp, stack_port)
        _interfaces(stack)[stack_port] = stack_link_iface(net_dp, net_port)
    return new


def unlink_network(config: Mapping[str, Any], net_dp: str, stack_dp: str) -> Config:
    """The stacking DP's end of a removed network's link, and tunnels nobody uses any more."""
    new = copy_config(config)
    stack = _dps(new).get(stack_dp)
    if isinstance(stack, MutableMapping):
        interfaces = _interfaces(stack)
        for port, iface in list(interfaces.items()):
            if _stack_peer(iface) == net_dp:
                del interfaces[port]
    return drop_unused_tunnel_acls(new)


def tunnel_acl_name(vid: int, dest_dp: str, dest_port: int) -> str:
    return f"{TUNNEL_ACL_PREFIX}{vid}-{dest_dp}-{dest_port}"


def tunnel_acl(vid: int, dest_dp: str, dest_port: int) -> list[dict[str, Any]]:
    """Send whatever enters the port through a VLAN ``vid`` tunnel to ``dest_dp:dest_port``.

    A packet already tagged with the tunnel VLAN is dropped, so no tunnel feeds itself."""
    tunnel = {"dp": dest_dp, "port": dest_port, "tunnel_id": vid, "type": "vlan"}
    return [
        {"rule": {"vlan_vid": vid, "actions": {"allow": 0}}},
        {"rule": {"actions": {"allow": 0, "output": {"tunnel": tunnel}}}},
    ]


def put_tunnel(
    config: Mapping[str, Any],
    net_dp: str,
    lbport: int,
    vid: int,
    dest_dp: str,
    dest_port: int,
    mirrored: Iterable[int],
) -> Config:
    """The network's loopback port mirrors its ports and feeds what comes back into a tunnel."""
    new = copy_config(config)
    dp = _dps(new).get(net_dp)
    if not isinstance(dp, MutableMapping):
        return new
    name = tunnel_acl_name(vid, dest_dp, dest_port)
    _acls(new)[name] = tunnel_acl(vid, dest_dp, dest_port)
    iface: dict[str, Any] = {
        "description": TUNNEL_DESCRIPTION,
        "coprocessor": {"strategy": "vlan_vid"},
        "acls_in": [name],
    }
    ports = sorted(set(mirrored))
    if ports:
        iface["mirror"] = ports
    _interfaces(dp)[lbport] = iface
    return new


def drop_unused_tunnel_acls(config: Config) -> Config:
    """Remove (in place) dovesnap's ACLs that no interface uses; returns ``config``."""
    acls = config.get("acls")
    if not isinstance(acls, MutableMapping):
        return config
    used: set[str] = set()
    for dp in _dps(config).values():
        if isinstance(dp, Mapping) and isinstance(dp.get("interfaces"), Mapping):
            for iface in dp["interfaces"].values():
                used.update(_our_acls(iface))
    for name in [str(n) for n in acls if _is_ours(str(n))]:
        if name not in used:
            del acls[name]
    if not acls:
        del config["acls"]
    return config


def tunnel_path_up(
    states: Mapping[tuple[str, int], int],
    network_link: tuple[tuple[str, int], tuple[str, int]],
    uplinks: Iterable[StackUplink],
    stack_dp: str,
    dest_dp: str,
) -> bool:
    """True when the network's stack link is up at both ends, and so is an uplink toward the
    tunnel's destination (any uplink when none goes to that DP directly)."""

    def up(end: tuple[str, int]) -> bool:
        return states.get(end) == STACK_STATE_UP

    if not all(up(end) for end in network_link):
        return False
    uplinks = list(uplinks)
    toward = [u for u in uplinks if u.remote_dp == dest_dp] or uplinks
    return any(up((stack_dp, u.ofport)) and up((u.remote_dp, u.remote_port)) for u in toward)


def stack_applied(
    dps: Iterable[str],
    dps_up: Mapping[str, bool],
    port_acl: Mapping[str, bool],
    requests: float | None,
    requests_before: float | None,
) -> bool:
    """True when FAUCET runs the stacking DP as dovesnap last wrote it: it has reloaded since
    (``requests`` past ``requests_before``, when that write changed anything), each of ``dps``
    (the stacking DP and its uplinks' far ends) has its port ACL table, and its switch is
    connected. Only then is a new tunnel a warm change whose rules reach every one of them."""
    if requests_before is not None and (requests is None or requests <= requests_before):
        return False
    return all(dps_up.get(dp) and port_acl.get(dp) for dp in dps)
