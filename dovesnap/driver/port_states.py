"""Is a container's port what FAUCET runs? Pure verdicts from what FAUCET and the switch say.

A port is ``ok`` only when the bridge's flow table has flows for it (FAUCET matches every port
it forwards for by ``in_port``), and then even while FAUCET itself restarts (the switch keeps
its flows; the network's ``faucet_error`` says FAUCET is away). Otherwise it is ``pending``
while things are still on their way (the container not named yet, its link down, FAUCET loading
a new config: for ``grace`` seconds after a change), ``fail-closed`` when dovesnap cut it off,
and ``not-applied`` with FAUCET's reason when FAUCET refused or failed to run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dovesnap.adapters.faucet_metrics import FaucetState
from dovesnap.driver.state import (
    PORT_FAIL_CLOSED,
    PORT_NOT_APPLIED,
    PORT_OK,
    PORT_PENDING,
    Endpoint,
)


@dataclass(frozen=True)
class FaucetView:
    """FAUCET at one moment, as dovesnap sees it."""

    state: FaucetState | None  # None: FAUCET's metrics did not answer
    config_path: str
    file_hash: str  # sha256 of faucet.yaml as it is now
    crash: str = ""  # the error FAUCET last logged, when it logged a new one
    askable: bool = True  # False: FAUCET is not ours (no metrics to ask); flows tell alone

    def loaded_hash(self) -> str | None:
        if self.state is None:
            return None
        hashes = self.state.hashes
        if self.config_path in hashes:
            return hashes[self.config_path]
        return next(iter(hashes.values())) if len(hashes) == 1 else None

    @property
    def loaded(self) -> bool:
        """FAUCET runs the file as it is now."""
        return self.state is not None and not self.state.load_error and \
            self.loaded_hash() == self.file_hash


@dataclass(frozen=True)
class Problem:
    reason: str
    final: bool  # True: no point waiting for it to go away by itself


def _with_crash(reason: str, view: FaucetView) -> str:
    return f"{reason}; FAUCET's last error: {view.crash}" if view.crash else reason


def network_problem(dp_name: str, view: FaucetView) -> Problem | None:
    """Why FAUCET does not run DP ``dp_name`` as written, or None when it does."""
    if not view.askable:
        return None
    if view.state is None:
        return Problem(_with_crash("FAUCET does not answer (down or restarting)", view), False)
    if view.state.load_error:
        return Problem(f"FAUCET refused the config: {view.state.error}", True)
    if view.loaded_hash() != view.file_hash:
        return Problem(_with_crash("FAUCET has not loaded the config dovesnap wrote", view), False)
    if not view.state.dps_up.get(dp_name):
        return Problem(_with_crash(f"the switch of {dp_name} is not connected to FAUCET", view),
                       False)
    return None


def port_verdict(
    ep: Endpoint,
    net_error: str | None,
    problem: Problem | None,
    flows: set[int] | None,
    link_up: bool | None,
    settled: bool,
    crash: str = "",
) -> tuple[str, str]:
    """``(state, reason)`` of a container's port. ``flows``: the ports the bridge has flows for
    (None: unreadable); ``link_up``: FAUCET's port status; ``settled``: the network's last
    change is older than the grace period."""
    if ep.fail_closed:
        return PORT_FAIL_CLOSED, ep.fail_closed
    if ep.container is None and ep.known_policy is None:
        return PORT_PENDING, "waiting for Docker to name the container"
    if flows is not None and ep.ofport in flows:
        # Forwarding, even while FAUCET restarts or a newer write was refused: the network's
        # error says so.
        return PORT_OK, ""
    if net_error:
        return PORT_NOT_APPLIED, net_error
    if problem is not None:
        return (PORT_NOT_APPLIED if problem.final or settled else PORT_PENDING), problem.reason
    if link_up is False:
        return PORT_PENDING, "link down: the container's side of the veth is not up (yet)"
    if flows is None:
        return PORT_PENDING, "cannot read the bridge's flow table"
    if not settled:
        return PORT_PENDING, "waiting for FAUCET to install the port's flows"
    reason = f"FAUCET installed no flows for port {ep.ofport}"
    return PORT_NOT_APPLIED, f"{reason}; FAUCET's last error: {crash}" if crash else reason
