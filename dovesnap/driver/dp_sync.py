"""Write a network's FAUCET DP: the plan plus the features' changes, validated by FAUCET.

When FAUCET refuses the result, the containers whose labels caused it are found one by one and
failed closed, so the rest of the network keeps its ports. Removing a network's DP keeps its
VLAN while another network on the same VLAN still needs it.

Each write is a snapshot of the network taken when it is asked for, handed to the config store,
which coalesces writes asked for together (parallel joins and leaves, a restart's reconciliation)
into one FAUCET reload; ``sync`` need not hold the network's lock while it waits. A network whose
DP was removed is never written again, whatever was queued before. When faucet.yaml itself is
broken (the operator's typo), no container is blamed: the network reports the error, and a DP
removal that could not be written is retried with the next change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.errors import ConflictError, DovesnapError, FaucetConfigError, FaucetFileError
from dovesnap.plan.faucet_dp import (
    DpInputs,
    build_dp,
    build_vlans,
    egress_vlan_name,
    put_dp,
    remove_dp,
)

log = logging.getLogger(__name__)

Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]
REMOVED = "dp_sync.removed"  # in Network.extras: the DP is gone for good


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
        self._removals: dict[str, Edit] = {}  # by network id: DP removals not written yet

    def edit(self, net: Network, inputs: DpInputs) -> Edit:
        for hook in self.hooks:
            inputs = hook.adjust_dp(net, inputs)
        dp = build_dp(inputs)
        vlans = build_vlans(inputs)
        hooks = list(self.hooks)

        def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
            if net.extras.get(REMOVED):
                return config  # queued before the network's removal: nothing to write
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

        ``networks`` are all the driver's networks, ``net`` among them. Never raises: when the
        file cannot be written now, the removal is kept and written with the next change."""
        net.extras[REMOVED] = True
        if net.name is None:
            return
        name, vlan_names = net.name, vlans_to_remove(net, networks)

        def removal(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
            return self.undo_edits(net, remove_dp(cfg, name, vlan_names))

        self._removals[net.network_id] = removal
        await self._write_removals()

    async def _write_removals(self) -> None:
        for network_id, removal in list(self._removals.items()):
            try:
                await self.faucet.update(removal)
            except DovesnapError as err:
                log.error("cannot remove a deleted network's DP from FAUCET's config yet "
                          "(retried with the next change): %s", err.message)
                return
            self._removals.pop(network_id, None)

    async def _update(self, net: Network, edit: Edit) -> None:
        """Write ``edit``; set ``net.error`` for what is not the containers' fault."""
        try:
            await self.faucet.update(edit)
            net.error = None
        except (ConflictError, FaucetFileError) as err:  # an operator's DP or file is at fault
            net.error = err.message
            log.error("network %s: %s", net.name, err.what)
        except FaucetConfigError:
            raise
        except DovesnapError as err:  # the checker hung, the disk is full ...
            net.error = err.message
            log.error("network %s: FAUCET config not written: %s", net.name, err.what)

    async def sync(self, net: Network) -> None:
        """Write the network's DP as its state says now; fail containers closed if FAUCET refuses.

        Raises nothing dovesnap anticipates: errors end up in ``net.error`` or ``ep.fail_closed``."""
        if net.name is None or net.extras.get(REMOVED):
            return
        if self._removals:
            await self._write_removals()
        try:
            await self._update(net, self.edit(net, net.dp_inputs()))
            return
        except FaucetConfigError as err:
            refused = err
        # Find which containers' labels FAUCET refuses; cut those off and keep the others.
        for ep in list(net.endpoints.values()):
            if ep.container is None or ep.fail_closed or not (ep.labels and ep.labels.acls):
                continue
            ep_only = Network(net.spec, net.userspace, net.name, {ep.endpoint_id: ep})
            try:
                await self.faucet.check(self.edit(ep_only, ep_only.dp_inputs()))
            except FaucetFileError:
                break  # the file broke meanwhile: nobody's labels are to blame
            except FaucetConfigError as err:
                if ep.container is None or ep.endpoint_id not in net.endpoints:
                    continue  # it left while FAUCET was asked
                detail = err.refusal
                ep.fail_closed = f"FAUCET refused this port: {detail}"
                log.error("container %s fails closed: %s", ep.container.name, ep.fail_closed)
            except DovesnapError as err:
                log.error("network %s: cannot check container %s: %s", net.name,
                          ep.container.name, err.what)
        try:
            await self._update(net, self.edit(net, net.dp_inputs()))
        except FaucetConfigError as err:
            net.error = err.what
            log.error("network %s: %s (first error: %s)", net.name, err.what, refused.what)
