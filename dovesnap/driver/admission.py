"""Checks made before a network is built: pure, they take data and raise dovesnap errors.

- against the other dovesnap networks: dpid, bridge name, one output ACL per VLAN;
- against FAUCET's config: no other network's DP with the dpid, every ACL the options name
  exists; an operator's DP with the dpid is returned (it may be the network's pre-seeded DP).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dovesnap.driver.state import Network
from dovesnap.errors import ConflictError
from dovesnap.model.network import NetworkSpec
from dovesnap.plan.faucet_dp import check_acls_exist, dp_names_with_id
from dovesnap.plan.operator_dp import OperatorDp, plain, written_by_dovesnap


def check_other_networks(spec: NetworkSpec, others: Iterable[Network]) -> None:
    """Refuse a dpid, bridge name or VLAN output ACL that clashes with another network's."""
    for other in others:
        if other.spec.dpid == spec.dpid:
            raise ConflictError(
                f"option ovs.bridge.dpid: {spec.dpid_hex} is already used by network "
                f"{other.name or other.network_id[:12]}",
                "choose a dpid no other dovesnap network uses",
            )
        out_acls = (other.spec.vlan_out_acl.default, spec.vlan_out_acl.default)
        if other.spec.vlan == spec.vlan and all(out_acls) and out_acls[0] != out_acls[1]:
            raise ConflictError(
                f"option ovs.bridge.vlan_out_acl: VLAN {spec.vlan} already has output ACL "
                f"{','.join(out_acls[0])} from network {other.name or other.network_id[:12]}",
                "FAUCET keeps one output ACL per VLAN: use the same ACL or another VLAN",
            )
        if other.spec.bridge_name == spec.bridge_name:
            raise ConflictError(
                f"option ovs.bridge.name: bridge {spec.bridge_name} is already in use"
            )


def check_faucet_config(
    spec: NetworkSpec, config: Mapping[str, Any], others: Iterable[Network] = (),
    name: str | None = None,
) -> OperatorDp | None:
    """Refuse ACLs FAUCET's config does not define (OptionError), and a dpid that a DP of
    another dovesnap network has (ConflictError).

    A DP of the operator's with the dpid may be the new network's pre-seeded DP: Docker tells
    the network's name only after this, so it is returned, to be merged into if the network
    turns out to have its name (``dp_sync``); otherwise the network gets no DP and says why.
    ``name``: the network's, when known (a network rebuilt from Docker's record): its own DP
    from before, as dovesnap wrote it, is no operator's."""
    clash = dp_names_with_id(config, spec.dpid)
    taken = {other.name for other in others if other.name}
    if len(clash) > 1 or taken.intersection(clash):
        raise ConflictError(
            f"option ovs.bridge.dpid: {spec.dpid_hex} is already the dp_id of FAUCET DP "
            f"{clash[0]}",
            "choose another dpid",
        )
    check_acls_exist(spec, config)
    if not clash:
        return None
    dp = plain((config.get("dps") or {})[clash[0]])
    if clash[0] == name and written_by_dovesnap(dp):
        return None
    return OperatorDp(clash[0], dp)
