"""``ovs.bridge.dhcp_guard=true``: container ports drop DHCP server replies (see ``plan.py``).

No I/O of its own: the guard lives in the network's FAUCET DP and the ACLs beside it, which the
driver writes (and FAUCET's parser checks) with every change of the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.features.dhcp_guard.plan import guard_ports, with_guard_acls, without_unused_guard_acls
from dovesnap.plan.faucet_dp import DpInputs


class DhcpGuardHooks(Hooks):
    name = "dhcp_guard"

    def adjust_dp(self, net: Network, inputs: DpInputs) -> DpInputs:
        return guard_ports(inputs) if net.spec.dhcp_guard else inputs

    def edit_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        if net.spec.dhcp_guard:
            return with_guard_acls(config)
        return without_unused_guard_acls(config)

    def remove_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        return without_unused_guard_acls(config)
