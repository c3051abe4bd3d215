"""Write a network's FAUCET DP: the plan plus the features' changes, validated by FAUCET.

When FAUCET refuses the result, dovesnap tells two cases apart. If the DP is refused even with
every labelled container left out, the trouble is the config around the containers (an
operator's typo elsewhere in faucet.yaml, a file that does not parse, an ACL a network option
names gone, FAUCET's checker hung): that is reported on the network and retried when the file
changes and every few seconds (``driver/config_watch.py``), and no container's labels are
blamed; ports FAUCET has not been given stay shown as not applied. Otherwise the containers
whose labels caused it are found one by one and failed closed, so the rest of the network keeps
its ports. Removing a network's DP keeps its VLAN while another network on the same VLAN still
needs it. ``request`` shares one write among callers asking together (``dp_requests.py``).

When the config cannot be reached at all (a faucetconfrpc server down, our certificate refused),
nothing changes in FAUCET: every container port not yet written there is shown failed closed
with the reason (FAUCET drops its packets: it does not know the port), and the sync is tried
again with backoff until the config answers; then those ports get their policy and open.

Each write is a snapshot of the network taken when it is asked for, handed to the config store,
which coalesces writes asked for together (parallel joins and leaves, a restart's reconciliation)
into one FAUCET reload; ``sync`` need not hold the network's lock while it waits. A network whose
DP was removed is never written again, whatever was queued before, and a removal that could not
be written is retried with the next change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dovesnap.adapters.faucet_store import FaucetStore
from dovesnap.driver.dp_requests import WriteRequests
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import (
    ConflictError,
    DovesnapError,
    FaucetConfigError,
    FaucetConfigUnavailable,
)
from dovesnap.plan.faucet_dp import (
    DpInputs,
    build_dp,
    build_vlans,
    egress_vlan_name,
    put_dp,
    remove_dp,
)
from dovesnap.plan.operator_dp import merge_dp, restore_dp

log = logging.getLogger(__name__)

UNREACHABLE = "FAUCET's config is out of reach, so this port stays closed: "
RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
REMOVED = "dp_sync.removed"  # in Network.extras: the DP is gone for good
Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]
CONFIG_REFUSED = "FAUCET refuses faucet.yaml, and not because of this network's containers: "
CONFIG_FIX = ("fix faucet.yaml (dovesnap doctor shows FAUCET's reason); dovesnap applies it as "
              "soon as it is valid, with no restart")


def own_acls(ep: Endpoint) -> tuple[str, ...]:
    """The ACLs a container's own policy names (read, or known at Join)."""
    if ep.container is not None:
        return ep.labels.acls if ep.labels else ()
    return ep.known_policy.acls if ep.known_policy else ()


def without_labelled(net: Network) -> Network:
    """``net`` with every container whose own policy names ACLs left out (as if closed)."""
    kept = {i: ep for i, ep in net.endpoints.items() if not own_acls(ep)}
    return dataclasses.replace(net, endpoints=kept)


def vlans_to_remove(net: Network, networks: Iterable[Network]) -> list[str]:
    """The VLANs that go with ``net``'s DP: its own, unless another network shares it."""
    shared = any(
        o is not net and o.spec.vlan == net.spec.vlan and build_vlans(o.dp_inputs())
        for o in networks
    )
    return [egress_vlan_name(net.spec)] if build_vlans(net.dp_inputs()) and not shared else []


class DpSync:
    def __init__(self, faucet: FaucetStore, hooks: list[Hooks]) -> None:
        self.faucet = faucet
        self.hooks = hooks
        # Per network: endpoint -> OpenFlow port, of the container ports the last successful
        # write carried.
        self._written: dict[str, dict[str, int]] = {}
        self._retries: dict[str, asyncio.Task[None]] = {}
        # Why FAUCET refuses the file as a whole (the operator's config), or None.
        self.config_refused: str | None = None
        # sha256 of the files dovesnap wrote: the store's own record when it keeps one (a
        # local file), which has every write, whoever asked for it.
        recorded = getattr(faucet, "written_digests", None)
        self.written: deque[str] = recorded if isinstance(recorded, deque) else deque(maxlen=16)
        self.on_synced: list[Callable[[Network], None]] = []  # e.g. re-check the ports
        self._requests = WriteRequests(self.sync)
        self._removals: dict[str, Edit] = {}  # by network id: DP removals not written yet

    def inputs(self, net: Network) -> DpInputs:
        """What decides the network's DP as it would be written now, the features' part in."""
        return self.adjusted(net, net.dp_inputs())

    def adjusted(self, net: Network, inputs: DpInputs) -> DpInputs:
        for hook in self.hooks:
            inputs = hook.adjust_dp(net, inputs)
        return inputs

    def edit(self, net: Network, inputs: DpInputs) -> Edit:
        inputs = self.adjusted(net, inputs)
        dp = build_dp(inputs)
        vlans = build_vlans(inputs)
        hooks = list(self.hooks)
        operator = net.operator_dp
        # Checked before Docker names the network: as the operator's DP it may become.
        name = operator.name if operator is not None and net.name is None else inputs.name

        def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
            if net.extras.get(REMOVED):
                return config  # queued before the network's removal: nothing to write
            if operator is not None and operator.name != name:
                raise ConflictError(
                    f"option ovs.bridge.dpid: {net.spec.dpid_hex} is already the dp_id of FAUCET "
                    f"DP {operator.name}, and this network is named {name}: it gets no DP and "
                    "its bridge stays away from FAUCET",
                    "remove the network and create it with another dpid (dovesnap merges into "
                    "a DP only when it has the network's name and dpid)",
                )
            existing = (config.get("dps") or {}).get(name)
            if isinstance(existing, Mapping) and existing.get("dp_id") not in (None, dp["dp_id"]):
                raise ConflictError(
                    f"faucet.yaml already has a DP named {name} with another dp_id; "
                    "dovesnap will not overwrite it",
                    "rename that DP or the Docker network",
                )
            new: Mapping[str, Any] = (
                merge_dp(config, name, operator, dp, vlans) if operator is not None
                else put_dp(config, name, dp, vlans))
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
        config cannot be changed now, the removal is kept and written with the next change."""
        net.extras[REMOVED] = True
        if net.name is None:
            return
        retry = self._retries.pop(net.network_id, None)
        if retry is not None and retry is not asyncio.current_task():
            retry.cancel()
        self._written.pop(net.network_id, None)
        self._requests.forget(net)
        name, vlan_names = net.name, vlans_to_remove(net, networks)
        operator, dpid = net.operator_dp, net.spec.dpid

        def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
            if operator is not None and operator.name == name:
                return self.undo_edits(net, restore_dp(config, operator, vlan_names))  # as it was
            existing = (config.get("dps") or {}).get(name)
            ours = isinstance(existing, Mapping) and existing.get("dp_id") == dpid
            # A DP of that name but another dp_id is the operator's (never written by us).
            return self.undo_edits(net, remove_dp(config, name if ours else "", vlan_names))

        self._removals[net.network_id] = edit
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

    async def request(self, net: Network) -> None:
        """Have the network's DP written as its state is now, sharing the write with whoever
        else asks meanwhile. Takes ``net.lock``."""
        await self._requests.request(net)

    def request_soon(self, net: Network) -> None:
        """Have the network's DP written, sharing the write as ``request`` does, without
        waiting for it (a change nobody waits on: a refilled pool, a new description)."""
        self._requests.ask(net)

    async def sync(self, net: Network) -> bool:
        """Write the network's DP as its state says; fail containers closed if FAUCET refuses
        them (and only them). False when another DP has the network's name or dp_id (no DP is
        written then). Need not hold ``net.lock``: the network's state is read when this is
        called, and the config store coalesces writes asked for together."""
        if net.name is None or net.extras.get(REMOVED):
            return True
        for ep in net.endpoints.values():  # held back only while the config was out of reach
            if ep.fail_closed and ep.fail_closed.startswith(UNREACHABLE):
                ep.fail_closed = None
        if self._removals:
            await self._write_removals()
        try:
            return await self._sync(net)
        except FaucetConfigUnavailable as err:
            self._hold(net, err)
            return True
        finally:
            for callback in self.on_synced:
                callback(net)

    async def _sync(self, net: Network) -> bool:
        try:
            await self._write(net)
            net.dp_refused = False
            return True
        except ConflictError as err:  # an operator's DP has the network's name or dp_id
            net.error, net.dp_refused = err.message, True
            log.error("network %s: %s", net.name, net.error)
            return False
        except FaucetConfigError as err:
            refused = err
        except FaucetConfigUnavailable:
            raise
        except Exception as err:  # the file cannot even be read (a YAML syntax error ...)
            self.refused_as_a_whole(net, str(err) or type(err).__name__)
            return True
        # Would FAUCET take the DP without the labelled containers? If not, they are not why.
        try:
            await self.faucet.check(self.edit(net, without_labelled(net).dp_inputs()))
        except FaucetConfigUnavailable:
            raise
        except DovesnapError as err:
            reason = err.refusal if isinstance(err, FaucetConfigError) else err.what
            self.refused_as_a_whole(net, reason)
            return True
        # Find which containers' labels FAUCET refuses; cut those off and keep the others.
        for ep in list(net.endpoints.values()):
            if ep.fail_closed or not own_acls(ep):
                continue
            ep_only = Network(net.spec, net.userspace, net.name, {ep.endpoint_id: ep},
                              operator_dp=net.operator_dp)
            try:
                await self.faucet.check(self.edit(ep_only, ep_only.dp_inputs()))
            except FaucetConfigError as err:
                if ep.endpoint_id not in net.endpoints:
                    continue  # it left while FAUCET was asked
                ep.fail_closed = ep.policy_refusal = f"FAUCET refused this port: {err.refusal}"
                log.error("container %s fails closed: %s",
                          ep.container.name if ep.container else ep.endpoint_id[:12],
                          ep.fail_closed)
        try:
            await self._write(net)
        except FaucetConfigError as err:
            net.error = err.what
            log.error("network %s: %s (first error: %s)", net.name, err.what, refused.what)
        return True

    def refused_as_a_whole(self, net: Network, reason: str) -> None:
        """The config around the containers is what FAUCET refuses: report it, fail nothing
        closed; the config watch tries again when the file changes."""
        if self.config_refused != reason:
            log.error("%s%s; %s", CONFIG_REFUSED, reason, CONFIG_FIX)
        self.config_refused = reason
        net.error = f"{CONFIG_REFUSED}{reason}; {CONFIG_FIX}"

    async def _write(self, net: Network) -> None:
        carried = {ep.endpoint_id: ep.ofport for ep in net.endpoints.values()
                   if ep.container is not None and not ep.fail_closed}  # as the edit sees them
        await self.faucet.update(self.edit(net, net.dp_inputs()))
        net.error = None
        self.config_refused = None
        self._written[net.network_id] = carried

    def unremoved_ports(self, net: Network) -> set[int]:
        """Ports whose departed container's policy FAUCET may still hold (its removal has not
        reached the config yet): a new container must not get one and inherit that policy."""
        written = self._written.get(net.network_id, {})
        return {port for ep_id, port in written.items() if ep_id not in net.endpoints}

    def _hold(self, net: Network, err: FaucetConfigUnavailable) -> None:
        """The config is out of reach: say so, show unwritten ports closed, try again later."""
        net.error = err.what
        written = self._written.get(net.network_id, {})
        for ep in net.endpoints.values():
            if ep.container is not None and not ep.fail_closed and ep.endpoint_id not in written:
                ep.fail_closed = UNREACHABLE + err.what
                log.error("container %s waits, closed: %s", ep.container.name, err.what)
        task = self._retries.get(net.network_id)
        if task is None or task.done():
            self._retries[net.network_id] = asyncio.get_running_loop().create_task(
                self._retry(net))

    async def _retry(self, net: Network) -> None:
        attempt = 0
        while net.error is not None and not net.dp_refused:
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1
            async with net.lock:
                await self.sync(net)
        log.info("network %s: FAUCET's config answers again; its ports are written", net.name)

    async def close(self) -> None:
        tasks = [task for task in self._retries.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retries.clear()
        await self._requests.close()
