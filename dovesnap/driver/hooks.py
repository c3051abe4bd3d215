"""Feature hooks: how NAT, port publishing, DHCP, mirroring, events ... plug into the driver.

The driver calls every registered hook at fixed points of a network's and an endpoint's life.
A feature lives in its own module as a ``Hooks`` subclass and overrides only what it needs, so
features stay out of the driver. Hooks run under the network's lock, in registration order.
Raising a DovesnapError from ``network_created``/``endpoint_created`` refuses the request; the
driver then undoes what was built (calling the matching ``*_deleted`` hooks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dovesnap.driver.state import Endpoint, Network
from dovesnap.plan.faucet_dp import DpInputs


class Notify(Protocol):
    """Reports one thing that happened, as an event ``kind`` with fields (``EventBus.publish``)."""

    def __call__(self, kind: str, /, **fields: Any) -> object: ...


class Hooks:
    """No-op base; subclass and override."""

    name = "hooks"

    async def network_created(self, net: Network) -> None:
        """The bridge exists (LOCAL port up); the FAUCET DP may not be written yet."""

    async def network_named(self, net: Network) -> None:
        """Docker told us the network's name (``net.name``); the DP is about to be written."""

    async def network_deleted(self, net: Network) -> None:
        """The network is going away; undo what ``network_created`` did. Must be idempotent."""

    async def endpoint_created(self, net: Network, ep: Endpoint, options: Mapping[str, Any]) -> None:
        """The veth and OVS port exist; ``options`` is Docker's CreateEndpoint ``Options``."""

    async def endpoint_attached(self, net: Network, ep: Endpoint) -> None:
        """After Join: the container (``ep.container``) and its labels are known."""

    async def endpoint_left(self, net: Network, ep: Endpoint) -> None:
        """Leave: the container is going; undo ``endpoint_attached``. Must be idempotent."""

    async def endpoint_deleted(self, net: Network, ep: Endpoint) -> None:
        """DeleteEndpoint: the veth and OVS port are about to go. Must be idempotent."""

    async def restored(self, net: Network) -> None:
        """After a restart the network was rebuilt from OVS/Docker; re-apply host state."""

    def adjust_dp(self, net: Network, inputs: DpInputs) -> DpInputs:
        """Pure: change what decides the network's DP (e.g. turn the mirror port on)."""
        return inputs

    def edit_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """Pure: change the whole FAUCET config after the DP is put in (e.g. stack peers)."""
        return config

    def remove_config(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """Pure: undo ``edit_config`` in the config the network's DP was just taken out of."""
        return config

    async def daemon_started(self) -> None:
        """Once, before networks are restored: build daemon-wide things (e.g. a mirror bridge)."""

    async def daemon_stopping(self) -> None:
        """Once, at stop: remove what ``daemon_started`` built. Must not raise."""

    def status(self, net: Network) -> Mapping[str, Any]:
        """Extra fields for this network's status JSON."""
        return {}
