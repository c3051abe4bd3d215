"""``dovesnap doctor``'s faucet-applied check: does FAUCET run what dovesnap wrote? (pure)

What FAUCET's own metrics say (its load error and reason, unconnected switches) and what the
running dovesnap's status says about its ports (``tools/probes.py`` reads both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dovesnap import config
from dovesnap.tools.doctor_remote import Result


@dataclass(frozen=True)
class FaucetAppliedSeen:
    """What FAUCET says about the config it runs, and what dovesnap says about its ports."""

    metrics_answer: bool
    load_error: str = ""  # FAUCET's reason for refusing its config, "" when it loaded it
    dps_down: tuple[str, ...] = ()  # DPs whose switch is not connected
    status_answers: bool = False  # dovesnap's status server answered
    problems: tuple[str, ...] = ()  # "network X: why", "network X port N (name): why"


def check_faucet_applied(seen: FaucetAppliedSeen, metrics_url: str,
                         configured: frozenset[str] | None = None) -> Result:
    """FAUCET's load error, unconnected switches and ports not applied, with the reasons.

    ``configured``: the DPs faucet.yaml names (None: unknown). FAUCET keeps reporting a DP it
    ran before, as down, after the DP left its config; only configured DPs count."""
    problems = []
    down = [dp for dp in seen.dps_down if configured is None or dp in configured]
    if not seen.metrics_answer:
        problems.append(f"FAUCET's metrics at {metrics_url} do not answer (FAUCET is down, "
                        "restarting in a loop, or elsewhere)")
    if seen.load_error:
        problems.append(f"FAUCET refuses its config: {seen.load_error}")
    if down:
        problems.append("switches not connected to FAUCET: " + ", ".join(down))
    problems.extend(seen.problems)
    if problems:
        return Result("faucet-applied", False, "; ".join(problems),
                           "see FAUCET's reason above (also in dovesnap status, the status page "
                           f"and events); logs in {config.LOG_DIR}. A fixed faucet.yaml is "
                           "applied without restarting anything")
    if not seen.status_answers:
        return Result("faucet-applied", True, "FAUCET runs its config (dovesnap's status "
                           "does not answer, so its ports were not checked)")
    return Result("faucet-applied", True, "FAUCET runs the config dovesnap wrote; no port "
                       "is waiting on FAUCET")


def status_problems(networks: Any) -> list[str]:
    """Pure: "network X: why" and "network X port N (name): why" from a status JSON."""
    found = []
    for net in (networks or {}).values():
        name = net.get("NetworkName") or net.get("BridgeName", "?")
        for key in ("Error", "FaucetError"):
            if net.get(key):
                found.append(f"network {name}: {net[key]}")
        containers = (net.get("DynamicNetworkStates") or {}).get("Containers") or {}
        for port in containers.values():
            if port.get("State") == "not-applied":
                found.append(f"network {name} port {port.get('OFPort')} "
                             f"({port.get('Name') or '?'}): {port.get('StateReason', '')}")
    return found
