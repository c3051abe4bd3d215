"""The DHCP guard's FAUCET ACLs, and where they go: pure.

Any container can answer DHCP for its neighbours (and on a DHCP network dovesnap records the
lease the client accepts). With ``ovs.bridge.dhcp_guard=true`` every container and preallocated
port of the network drops DHCP server replies (UDP from port 67, DHCPv6 from 547) before its own
ACLs see them; the DHCP server's own port (``add_ports``) and the gateway are not guarded.

The ACLs are dovesnap's (``dovesnap-`` names are refused in labels and options): written into
faucet.yaml with the DP of the first guarded network, taken out with the last one's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dovesnap.plan.faucet_dp import Config, DpInputs, section

GUARD_ACL = "dovesnap-dhcp-guard"  # before a port's own ACLs
GUARD_OPEN_ACL = "dovesnap-dhcp-guard-open"  # for a port without ACLs: guard, then allow the rest
DROP_SERVER_REPLIES: list[dict[str, Any]] = [
    {"rule": {"dl_type": 0x800, "nw_proto": 17, "udp_src": 67, "actions": {"allow": 0}}},
    {"rule": {"dl_type": 0x86DD, "nw_proto": 17, "udp_src": 547, "actions": {"allow": 0}}},
]
ALLOW_THE_REST: dict[str, Any] = {"rule": {"actions": {"allow": 1}}}


def guard_acls() -> dict[str, list[dict[str, Any]]]:
    return {
        GUARD_ACL: copy.deepcopy(DROP_SERVER_REPLIES),
        GUARD_OPEN_ACL: [*copy.deepcopy(DROP_SERVER_REPLIES), dict(ALLOW_THE_REST)],
    }


def guard_ports(inputs: DpInputs) -> DpInputs:
    """The DP inputs with the guard before every container and preallocated port's ACLs."""
    return replace(inputs, guard_acls=(GUARD_ACL,), guard_open_acls=(GUARD_OPEN_ACL,))


def _uses_guard(config: Mapping[str, Any]) -> bool:
    dps = config.get("dps")
    if not isinstance(dps, Mapping):
        return False
    for dp in dps.values():
        interfaces = dp.get("interfaces") if isinstance(dp, Mapping) else None
        for iface in (interfaces or {}).values() if isinstance(interfaces, Mapping) else ():
            acls = iface.get("acls_in") if isinstance(iface, Mapping) else None
            if isinstance(acls, list) and {GUARD_ACL, GUARD_OPEN_ACL} & {str(a) for a in acls}:
                return True
    return False


def with_guard_acls(config: Mapping[str, Any]) -> Config:
    """``config`` with the guard's ACLs defined (as dovesnap defines them)."""
    new: Config = copy.deepcopy(dict(config))
    section(new, "acls").update(guard_acls())
    return new


def without_unused_guard_acls(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """``config`` without the guard's ACLs once no DP's port uses them."""
    acls = config.get("acls")
    if _uses_guard(config) or not isinstance(acls, Mapping) or not (
            {GUARD_ACL, GUARD_OPEN_ACL} & set(acls)):
        return config
    new: Config = copy.deepcopy(dict(config))
    for name in (GUARD_ACL, GUARD_OPEN_ACL):
        new["acls"].pop(name, None)
    if not new["acls"]:
        del new["acls"]
    return new
