"""What the driver needs of a FAUCET config store, whichever holds the config.

Two stores implement it: ``faucet_config.FaucetConfigStore`` (the file in the FAUCET config dir,
reloaded by signal) and ``faucet_rpc.RemoteFaucetConfig`` (a FAUCET elsewhere, through
faucetconfrpc). Both validate with FAUCET's own parser before anything is written, and raise
from the ``dovesnap.errors`` family: FaucetConfigError when a change is refused,
FaucetConfigUnavailable when the config cannot be reached at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class FaucetStore(Protocol):
    reloads: int  # changes applied (and FAUCET told, where the store tells it)
    last_reload_seconds: float

    def read(self) -> Mapping[str, Any]:
        """The config now (blocking: call it through run_blocking)."""

    async def check(self, edit: Edit) -> None:
        """Raise FaucetConfigError if ``edit`` applied to the current config would be refused."""

    async def update(self, edit: Edit) -> bool:
        """Apply ``edit``, validated; False when it changes nothing."""

    async def ensure_exists(self, initial: Mapping[str, Any]) -> bool:
        """Write ``initial`` when there is no config yet; True if it did."""


class Validator(Protocol):
    def __call__(self, path: str) -> None:
        """Raise FaucetConfigError if the file at ``path`` is not a valid FAUCET config."""
