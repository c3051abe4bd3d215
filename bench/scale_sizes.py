"""FAUCET config sizes for bench/scale.py: dovesnap's own cost of a one-port change against
FAUCET's own reload of the same file (the floor), and how long the event loop was held.

Per size, a config of dovesnap-shaped DPs is written as the operator's file; a real FAUCET
(no switch connected) runs on it; dovesnap's store (real FAUCET checker, real files) changes one
port's description per round and signals FAUCET, which is timed from the signal until its
``faucet_config_reload_requests_total`` moves.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from scale_probe import median

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.plan.faucet_dp import put_dp

# label: (DPs, ports per DP)
SIZES = {"28k": (10, 25), "1024": (1, 1024), "1m": (10, 1000)}
ACLS = {"allowall": [{"rule": {"actions": {"allow": 1}}}],
        "denyall": [{"rule": {"actions": {"allow": 0}}}]}


def sized_config(dps: int, ports: int) -> dict[str, Any]:
    config: dict[str, Any] = {"acls": ACLS, "dps": {}}
    for d in range(dps):
        interfaces: dict[int, Any] = {
            p: {"description": f"container{p} 0123{d % 10}", "native_vlan": 100,
                "acls_in": ["allowall"]}
            for p in range(1, ports + 1)
        }
        interfaces[ports + 1] = {"description": "dovesnap mirror port", "output_only": True}
        config["dps"][f"net{d}"] = {"dp_id": 0x7E5800 + d, "hardware": "Open vSwitch",
                                    "interfaces": interfaces}
    return config


@dataclass(frozen=True)
class SizeResult:
    label: str
    kib: float
    write_s: float  # dovesnap: edits, render, validation, rename, until FAUCET is signalled
    update_s: float  # a caller's wait, batching window included
    faucet_reload_s: float  # FAUCET: from the signal to its reload counter moving
    loop_held_s: float  # the longest the event loop went without running
    partial_checks: int
    full_checks: int


class Faucet:
    """A FAUCET process on ``config`` with its Prometheus page on ``prom_port``."""

    def __init__(self, config: Path, of_port: int, prom_port: int) -> None:
        bindir = Path(sys.executable).parent
        env = dict(os.environ)
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env.update({"FAUCET_CONFIG": str(config), "FAUCET_CONFIG_STAT_RELOAD": "0",
                    "FAUCET_LOG": str(config.parent / "faucet.log"),
                    "FAUCET_EXCEPTION_LOG": str(config.parent / "faucet_exception.log"),
                    "FAUCET_PROMETHEUS_PORT": str(prom_port)})
        self.prom_port = prom_port
        self.proc = subprocess.Popen(
            [str(bindir / "faucet"), f"--ryu-ofp-tcp-listen-port={of_port}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.prom_port}/metrics",
                                        timeout=60) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total = (total or 0.0) + float(line.split()[-1])
        return total

    def wait_loaded(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.metric("dp_status") is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("FAUCET did not load its config")
            time.sleep(0.2)

    def reload_count(self) -> float:
        return self.metric("faucet_config_reload_requests_total") or 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _describe(port: int, text: str) -> Any:
    def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
        dp = dict(config["dps"]["net0"])
        interfaces = dict(dp["interfaces"])
        interfaces[port] = {**interfaces[port], "description": text}
        dp["interfaces"] = interfaces
        return put_dp(config, "net0", dp)
    return edit


async def _measure(store: FaucetConfigStore, faucet: Faucet, signalled: list[float],
                   rounds: int) -> tuple[list[float], list[float], list[float], float]:
    loop = asyncio.get_running_loop()
    held = 0.0
    done = False

    async def ticker() -> None:
        nonlocal held
        while not done:
            before = loop.time()
            await asyncio.sleep(0.005)
            held = max(held, loop.time() - before - 0.005)

    writes, updates, reloads = [], [], []
    for r in range(rounds + 1):  # round 0 warms up (the operator's file is checked whole)
        count = faucet.reload_count()
        ticks = asyncio.ensure_future(ticker())
        started = loop.time()
        await store.update(_describe(1 + r, f"changed in round {r}"))
        update = loop.time() - started
        done = True
        await ticks
        done = False
        while faucet.reload_count() <= count:
            await asyncio.sleep(0.005)
        if r == 0:
            held = 0.0
            continue
        reloads.append(time.monotonic() - signalled[-1])
        writes.append(store.last_write_seconds)
        updates.append(update)
    return writes, updates, reloads, held


def measure_size(label: str, workdir: Path, of_port: int, prom_port: int,
                 rounds: int) -> SizeResult:
    dps, ports = SIZES[label]
    path = workdir / label / "faucet.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(sized_config(dps, ports), sort_keys=False))
    faucet = Faucet(path, of_port, prom_port)
    checker = FaucetCheckProcess(timeout=600)
    signalled: list[float] = []

    def reload() -> None:
        signalled.append(time.monotonic())
        faucet.proc.send_signal(signal.SIGHUP)

    try:
        faucet.wait_loaded()
        gc.collect()
        gc.freeze()  # as the daemon does once started: its start-up objects are never garbage
        store = FaucetConfigStore(path, checker, reload)
        writes, updates, reloads, held = asyncio.run(_measure(store, faucet, signalled, rounds))
    finally:
        faucet.stop()
        checker.close()
    return SizeResult(label, path.stat().st_size / 1024, median(writes), median(updates),
                      median(reloads), held, store.partial_checks, store.full_checks)


def print_sizes(results: list[SizeResult]) -> None:
    print("\nFAUCET config size: a one-port change (medians; caller = the update's wait, batching "
          "window included; loop = longest event-loop stall)")
    print(f"  {'size':<6} {'KiB':>7} {'dovesnap write':>15} {'caller':>8} {'FAUCET reload':>14} "
          f"{'ratio':>6} {'loop held':>10}  checks")
    for r in results:
        ratio = r.write_s / r.faucet_reload_s if r.faucet_reload_s else float("nan")
        print(f"  {r.label:<6} {r.kib:7.0f} {r.write_s:14.3f}s {r.update_s:7.3f}s "
              f"{r.faucet_reload_s:13.3f}s {ratio:6.2f} {r.loop_held_s * 1000:8.0f}ms  "
              f"{r.partial_checks} partial, {r.full_checks} whole")
