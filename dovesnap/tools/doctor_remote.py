"""``dovesnap doctor`` for a FAUCET that runs elsewhere (``--external-faucet``, faucetconfrpc).

Pure checks, as in ``doctor.py``: that the faucetconfrpc server answers with our certificate and
serves a config FAUCET accepts; that the controllers the bridges use answer OpenFlow; that FAUCET
has loaded every DP its config has (it must reload by itself: ``FAUCET_CONFIG_STAT_RELOAD=1``,
since faucetconfrpc only writes the file). Bridges connected to them: ``doctor.check_bridges``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dovesnap.config import FaucetConfRpcSettings

STAT_RELOAD_FIX = ("run that FAUCET with FAUCET_CONFIG_STAT_RELOAD=1 (and Gauge with "
                   "GAUGE_CONFIG_STAT_RELOAD=1): faucetconfrpc writes the file but tells no one")


@dataclass(frozen=True)
class RemoteConfigSeen:
    answers: bool
    dp_names: frozenset[str] = frozenset()
    error: str = ""  # why it does not answer, or what FAUCET's parser says of the config


@dataclass(frozen=True)
class FaucetMetricsSeen:
    answers: bool
    dp_names: frozenset[str] = frozenset()  # the DPs FAUCET runs (its dp_status metric)
    error: str = ""


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_faucetconfrpc(seen: RemoteConfigSeen, rpc: FaucetConfRpcSettings) -> Result:
    where = f"faucetconfrpc at {rpc.target}"
    if not seen.answers:
        return Result("faucetconfrpc", False, f"{where} does not answer: {seen.error}",
                      f"start it; check that {rpc.keydir} holds {rpc.cert.name}, {rpc.key.name} "
                      f"and the server's CA ({rpc.ca_candidates[0].name} or ca.crt), and that "
                      "the server's CA signed our certificate")
    if seen.error:
        return Result("faucetconfrpc", False, f"FAUCET refuses the config {where} serves: "
                      f"{seen.error}", "fix the file on the server")
    return Result("faucetconfrpc", True, f"{where} answers (mutual TLS); its config has "
                  f"{len(seen.dp_names)} DPs")


def controller_targets(defaults: Iterable[str]) -> list[tuple[str, str, int]]:
    """(role, host, port) of every distinct ``tcp:HOST:PORT`` of the default controllers; the
    first two are FAUCET and Gauge."""
    found: dict[tuple[str, int], str] = {}
    defaults = list(defaults)
    roles = ("FAUCET", "Gauge")
    for index, target in enumerate(defaults):
        if not target.startswith("tcp:"):
            continue
        host, _, port = target[4:].rpartition(":")
        if not port.isdigit():
            continue
        key = (host.strip("[]"), int(port))
        role = roles[index] if index < min(len(defaults), 2) else "controller"
        found.setdefault(key, role)
    return [(role, host, port) for (host, port), role in found.items()]


def check_faucet_loaded(seen: FaucetMetricsSeen, config_dps: frozenset[str], url: str) -> Result:
    if not seen.answers:
        return Result("faucet-reload", False, f"cannot read FAUCET's metrics at {url}: "
                      f"{seen.error}", "pass --faucet-prom-port, with the FAUCET host first in "
                      "--default-ofcontrollers; or let dovesnap reach that port")
    missing = sorted(config_dps - seen.dp_names)
    if missing:
        return Result("faucet-reload", False, "FAUCET has not loaded DPs its config has: "
                      + ", ".join(missing[:5]), STAT_RELOAD_FIX)
    return Result("faucet-reload", True, f"FAUCET runs every DP of its config ({len(config_dps)})")
