"""Write a network's FAUCET DP: the plan plus the features' changes, validated by FAUCET.

When FAUCET refuses the result, the containers whose labels caused it are found one by one and
failed closed, so the rest of the network keeps its ports. Removing a network's DP keeps its
VLAN while another network on the same VLAN still needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.errors import ConflictError, FaucetConfigError
from dovesnap.plan.faucet_dp import (
    DpInputs,
    build_dp,
    build_vlans,
    egress_vlan_name,
    put_dp,
    remove_dp,
)

log = logging.getLogger(__name__)


def vlans_to_remove(net: Network, networks: Iterable[Network]) -> list[str]:
    """The VLANs that go with ``net``'s DP: its own, unless another network shares it."""
    shared = any(
        o is not net and o.spec.vlan == net.spec.vlan and build_vlans(o.dp_inputs())
        for o in networks
    )
    return [egress_vlan_name(net.spec)] if build_vlans(net.dp_inputs()) and not shared else []


class DpSync:
    def __init__(self, faucet: FaucetConfigStore, hooks: list[Hooks]) -> None:
        self.faucet = faucet
        self.hooks = hooks

    def edit(self, net: Network, inputs: DpInputs) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        for hook in self.hooks:
            inputs = hook.adjust_dp(net, inputs)
        dp = build_dp(inputs)
        vlans = build_vlans(inputs)
        hooks = list(self.hooks)

        def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
            existing = (config.get("dps") or {}).get(inputs.name)
            if isinstance(existing, Mapping) and existing.get("dp_id") not in (None, dp["dp_id"]):
                raise ConflictError(
                    f"faucet.yaml already has a DP named {inputs.name} with another dp_id; "
                    "dovesnap will not overwrite it",
                    "rename that DP or the Docker network",
                )
            new: Mapping[str, Any] = put_dp(config, inputs.name, dp, vlans)
            for hook in hooks:
                new = hook.edit_config(net, new)
            return new

        return edit

    def undo_edits(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        for hook in self.hooks:
            config = hook.remove_config(net, config)
        return config

    async def remove(self, net: Network, networks: Iterable[Network]) -> None:
        """Take the network's DP (and the features' edits) out of FAUCET's config.

        ``networks`` are all the driver's networks, ``net`` among them."""
        if net.name is None:
            return
        name, vlan_names = net.name, vlans_to_remove(net, networks)
        await self.faucet.update(lambda cfg: self.undo_edits(net, remove_dp(cfg, name, vlan_names)))

    async def sync(self, net: Network) -> None:
        """Write the network's DP as its state says; fail containers closed if FAUCET refuses."""
        if net.name is None:
            return
        try:
            await self.faucet.update(self.edit(net, net.dp_inputs()))
            net.error = None
            return
        except ConflictError as err:  # an operator's DP has the network's name
            net.error = err.message
            log.error("network %s: %s", net.name, net.error)
            return
        except FaucetConfigError as err:
            refused = err
        # Find which containers' labels FAUCET refuses; cut those off and keep the others.
        for ep in net.endpoints.values():
            if ep.container is None or ep.fail_closed or not (ep.labels and ep.labels.acls):
                continue
            ep_only = Network(net.spec, net.userspace, net.name, {ep.endpoint_id: ep})
            try:
                await self.faucet.check(self.edit(ep_only, ep_only.dp_inputs()))
            except FaucetConfigError as err:
                detail = err.refusal
                ep.fail_closed = ep.policy_refusal = f"FAUCET refused this port: {detail}"
                log.error("container %s fails closed: %s", ep.container.name, ep.fail_closed)
        try:
            await self.faucet.update(self.edit(net, net.dp_inputs()))
            net.error = None
        except FaucetConfigError as err:
            net.error = err.what
            log.error("network %s: %s (first error: %s)", net.name, err.what, refused.what)
