"""Write a network's FAUCET DP: the plan plus the features' changes, validated by FAUCET.

When FAUCET refuses the result, dovesnap tells two cases apart. If the DP is refused even with
every labelled container left out, the trouble is the config around the containers (an
operator's typo elsewhere in faucet.yaml, an ACL a network option names gone): that is
reported on the network and retried when the file changes (``driver/config_watch.py``), and no
port is failed closed for it. Otherwise the containers whose labels caused it are found one by
one and failed closed, so the rest of the network keeps its ports. Removing a network's DP
keeps its VLAN while another network on the same VLAN still needs it.

``request`` coalesces: many callers (20 containers joining at once) share one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import ConflictError, DovesnapError, FaucetConfigError
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


CONFIG_REFUSED = "FAUCET refuses faucet.yaml, and not because of this network's containers: "
CONFIG_FIX = ("fix faucet.yaml (dovesnap doctor shows FAUCET's reason); dovesnap applies it as "
              "soon as it is valid, with no restart")


def own_acls(ep: Endpoint) -> tuple[str, ...]:
    """The ACLs a container's own labels name (read, or known at Join)."""
    if ep.container is not None:
        return ep.labels.acls if ep.labels else ()
    return ep.known_policy.acls if ep.known_policy else ()


def without_labelled(net: Network) -> Network:
    """``net`` with every container whose own labels name ACLs left out (as if closed)."""
    kept = {i: ep for i, ep in net.endpoints.items() if not own_acls(ep)}
    return dataclasses.replace(net, endpoints=kept)


@dataclasses.dataclass
class _Requests:
    """Coalesced write requests of one network: generations asked for and done."""

    asked: int = 0
    done: int = 0
    runner: asyncio.Task[None] | None = None
    changed: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)


class DpSync:
    def __init__(self, faucet: FaucetConfigStore, hooks: list[Hooks]) -> None:
        self.faucet = faucet
        self.hooks = hooks
        # Why FAUCET refuses the file as a whole (the operator's config), or None.
        self.config_refused: str | None = None
        self.written: deque[str] = deque(maxlen=16)  # sha256 of the files dovesnap wrote
        self.on_synced: list[Callable[[Network], None]] = []  # e.g. re-check the ports
        self._requests: dict[str, _Requests] = {}

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
        self.forget(net)
        if await self.faucet.update(
            lambda cfg: self.undo_edits(net, remove_dp(cfg, name, vlan_names))
        ):
            self._note_written()

    def _note_written(self) -> None:
        with contextlib.suppress(OSError):
            self.written.append(hashlib.sha256(self.faucet.path.read_bytes()).hexdigest())

    async def _update(self, net: Network) -> None:
        if await self.faucet.update(self.edit(net, net.dp_inputs())):
            self._note_written()

    async def sync(self, net: Network) -> None:
        """Write the network's DP as its state says; fail containers closed if FAUCET refuses
        them (and only them). The caller holds ``net.lock``."""
        if net.name is None:
            return
        try:
            await self._sync(net)
        finally:
            for callback in self.on_synced:
                callback(net)

    async def _sync(self, net: Network) -> None:
        try:
            await self._update(net)
            net.error = None
            self.config_refused = None
            return
        except ConflictError as err:  # an operator's DP has the network's name
            net.error = err.message
            log.error("network %s: %s", net.name, net.error)
            return
        except FaucetConfigError as err:
            refused = err
        except Exception as err:  # the file cannot even be read (a YAML syntax error ...)
            self.refused_as_a_whole(net, str(err) or type(err).__name__)
            return
        # Would FAUCET take the DP without the labelled containers? If not, they are not why.
        try:
            await self.faucet.check(self.edit(net, without_labelled(net).dp_inputs()))
        except DovesnapError as err:
            reason = err.refusal if isinstance(err, FaucetConfigError) else err.what
            self.refused_as_a_whole(net, reason)
            return
        # Find which containers' labels FAUCET refuses; cut those off and keep the others.
        for ep in net.endpoints.values():
            if ep.fail_closed or not own_acls(ep):
                continue
            ep_only = Network(net.spec, net.userspace, net.name, {ep.endpoint_id: ep})
            try:
                await self.faucet.check(self.edit(ep_only, ep_only.dp_inputs()))
            except FaucetConfigError as err:
                ep.fail_closed = f"FAUCET refused this port: {err.refusal}"
                log.error("container %s fails closed: %s",
                          ep.container.name if ep.container else ep.endpoint_id[:12],
                          ep.fail_closed)
        try:
            await self._update(net)
            net.error = None
            self.config_refused = None
        except FaucetConfigError as err:
            net.error = err.what
            log.error("network %s: %s (first error: %s)", net.name, err.what, refused.what)

    def refused_as_a_whole(self, net: Network, reason: str) -> None:
        """The config around the containers is what FAUCET refuses: report it, fail nothing
        closed; the config watch tries again when the file changes."""
        if self.config_refused != reason:
            log.error("%s%s; %s", CONFIG_REFUSED, reason, CONFIG_FIX)
        self.config_refused = reason
        net.error = f"{CONFIG_REFUSED}{reason}; {CONFIG_FIX}"

    async def request(self, net: Network) -> None:
        """Have the network's DP written as its state is now; many callers share one write.
        Returns once a write that began after this call has finished. Takes ``net.lock``."""
        reqs = self._requests.setdefault(net.network_id, _Requests())
        reqs.asked += 1
        wanted = reqs.asked
        if reqs.runner is None or reqs.runner.done():
            reqs.runner = asyncio.get_running_loop().create_task(self._serve(net, reqs))
        async with reqs.changed:
            await reqs.changed.wait_for(lambda: reqs.done >= wanted or reqs.runner is None
                                        or reqs.runner.done()
                                        or self._requests.get(net.network_id) is not reqs)

    async def _serve(self, net: Network, reqs: _Requests) -> None:
        try:
            while reqs.done < reqs.asked:
                target = reqs.asked
                try:
                    async with net.lock:
                        if self._requests.get(net.network_id) is not reqs:
                            break  # the network was deleted meanwhile: write nothing back
                        await self.sync(net)
                except Exception:  # a caller must never wait for ever
                    log.exception("writing the DP of %s failed", net.name or net.bridge)
                reqs.done = target
                async with reqs.changed:
                    reqs.changed.notify_all()
        finally:
            async with reqs.changed:
                reqs.changed.notify_all()

    def forget(self, net: Network) -> None:
        """The network is going: a pending request writes nothing (its callers return)."""
        self._requests.pop(net.network_id, None)
