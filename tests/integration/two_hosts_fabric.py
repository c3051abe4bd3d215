"""The two-host fabric of ``test_two_hosts.py``: one FAUCET on host A, both hosts' dovesnaps
stacked to a root switch, FAUCET's config edited only through faucetconfrpc.

On A (this host) run the operator's FAUCET and Gauge (``FAUCET_CONFIG_STAT_RELOAD=1``), the real
faucetconfrpc server (mutual TLS, certificates made here), a root switch ``tworoot`` (an OVS
bridge: port 7 to A's stacking bridge, port 8 over a veth into B, port 88 output only, for stack
mirroring) and A's dovesnap (stacking, plus a mirror bridge whose input is B's mirror output, the
"mirror river"). Host B comes from ``two_hosts()``; its dovesnap is started by ``fabric_on``
with ``b_args``. ``fabric_on`` removes everything it made, also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dovesnap.runtime.faucet import gauge_config
from tests.certs import Pki, make_pki
from tests.integration.fabric_helpers import veth_pairs
from tests.integration.faucetconfrpc_server import Server, faucetconfrpc_server
from tests.integration.rig import (
    IMAGE,
    OPERATOR_CONFIG,
    VENV_BIN,
    Daemon,
    Docker,
    instance_for,
    run,
    tcp_listening,
    unique,
    wait_until,
)
from tests.integration.two_hosts import A_IP, HostB, two_hosts

A = instance_for(__name__)
RPC_PORT, RPC_PROM_PORT = A.extra_ports
TAG = f"dth{A.number}"
ROOT_BRIDGE, ROOT_DP, ROOT_DPID = f"{TAG}root", "tworoot", 0x97
A_STACK, ROOT_A = f"{TAG}as", f"{TAG}r7"  # A's stacking interface and the root's port 7
ROOT_B = f"{TAG}r8"  # the root's port 8; its peer is B's "stack0"
ROOT_OUT, ROOT_CAPTURE = f"{TAG}r88", f"{TAG}c88"  # the root's port 88 (stack mirror target)
MIRROR_OUT, MIRROR_CAPTURE = f"{TAG}mo", f"{TAG}mc"  # A's --mirror-bridge-out and its far end
RIVER_IN = f"{TAG}mi"  # A's --mirror-bridge-in; its peer is B's "river0" (B's mirror output)
SUBNET = f"10.{A.number // 10 * 10 + 8}.0"  # 10.<n>8.0.0/24: A hands out .0/25, B .128/25
CONTROLLERS_A = f"tcp:127.0.0.1:{A.faucet_of_port},tcp:127.0.0.1:{A.gauge_of_port}"
CONTROLLERS_B = f"tcp:{A_IP}:{A.faucet_of_port},tcp:{A_IP}:{A.gauge_of_port}"
SAMPLES = 3  # containers started on each host to time reachability



def rpc_args(keydir: Path) -> list[str]:
    return ["--faucetconfrpc-addr", A_IP, "--faucetconfrpc-port", str(RPC_PORT),
            "--faucetconfrpc-keydir", str(keydir)]


def a_args(keydir: Path) -> list[str]:
    return [*rpc_args(keydir), "--default-ofcontrollers", CONTROLLERS_A,
            "--stacking-interfaces", f"{ROOT_DP}:7:{A_STACK}", "--stack-priority1", ROOT_DP,
            "--mirror-bridge-out", MIRROR_OUT, "--mirror-bridge-in", RIVER_IN]


def b_args(keydir: Path, *more: str) -> list[str]:
    return [*rpc_args(keydir), "--default-ofcontrollers", CONTROLLERS_B,
            "--faucet-prom-port", str(A.faucet_prom_port),  # FAUCET's metrics, on A
            "--stacking-interfaces", f"{ROOT_DP}:8:stack0", "--stack-priority1", ROOT_DP, *more]


@dataclass
class Controllers:
    """The operator's FAUCET and Gauge on A, reloading by themselves when the file changes."""

    config_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        faucet_yaml = self.config_dir / "faucet.yaml"
        for name, port, extra in (
            ("faucet", A.faucet_of_port, {
                "FAUCET_CONFIG": str(faucet_yaml), "FAUCET_CONFIG_STAT_RELOAD": "1",
                "FAUCET_PROMETHEUS_PORT": str(A.faucet_prom_port),
                "FAUCET_LOG": str(self.config_dir.parent / "faucet.log"),
                "FAUCET_EXCEPTION_LOG": str(self.config_dir.parent / "faucet_exception.log")}),
            ("gauge", A.gauge_of_port, {
                "GAUGE_CONFIG": str(self.config_dir / "gauge.yaml"), "FAUCET_CONFIG": str(faucet_yaml),
                "GAUGE_CONFIG_STAT_RELOAD": "1",
                "GAUGE_LOG": str(self.config_dir.parent / "gauge.log"),
                "GAUGE_EXCEPTION_LOG": str(self.config_dir.parent / "gauge_exception.log")}),
        ):
            out = open(self.config_dir.parent / f"{name}.out", "ab")  # noqa: SIM115
            self.procs.append(subprocess.Popen(
                [str(VENV_BIN / name), f"--ryu-ofp-tcp-listen-port={port}"], env={**env, **extra},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
            out.close()
        wait_until(lambda: tcp_listening(A.faucet_of_port) and tcp_listening(A.gauge_of_port),
                   60, 0.2, "FAUCET and Gauge on A")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
        self.procs.clear()


@dataclass
class Fabric:
    b: HostB
    a: Daemon
    rpc: Server
    pki: Pki
    keydir_b: Path
    workdir: Path
    docker_a: Docker
    net_a: str = ""
    net_b: str = ""
    server_a: str = ""  # a container on A that answers TCP on port 7000
    times: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds, docker run -> ping

    @property
    def faucet_yaml(self) -> Path:
        return self.workdir / "faucet" / "faucet.yaml"

    def faucet_config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.faucet_yaml.read_text()) or {}
        return loaded

    def b_status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.b.status_url(), timeout=5) as resp:
            found: dict[str, Any] = json.load(resp)
            return found

    def b_port(self, container: str) -> dict[str, Any]:
        for net in self.b_status().values():
            for port in net["DynamicNetworkStates"]["Containers"].values():
                if port["Name"] == container:
                    found: dict[str, Any] = port
                    return found
        return {}

    def run_b(self, *extra: str, name: str | None = None) -> str:
        name = name or unique("b")
        self.b.docker("run", "-d", "--name", name, "--net", self.net_b, *extra, IMAGE,
                      "sleep", "3600")
        return name

    def ping_from_b(self, container: str, address: str) -> bool:
        return self.b.docker("exec", container, "ping", "-c", "1", "-W", "1", address,
                             check=False).returncode == 0

    def explain(self) -> str:
        return ("--- A dovesnap ---\n" + self.a.log_tail(25) + "\n--- B dovesnap ---\n"
                + self.b.log_tail("dovesnap", 25) + "\n--- faucetconfrpc ---\n"
                + "\n".join(self.rpc.requests()[-5:]))


def _root_bridge() -> None:
    run(["ovs-vsctl", "--if-exists", "del-br", ROOT_BRIDGE])
    run(["ovs-vsctl", "add-br", ROOT_BRIDGE, "--", "set", "bridge", ROOT_BRIDGE,
         "datapath_type=netdev", "fail-mode=secure",
         f"other-config:datapath-id={ROOT_DPID:016x}", "--", "set-controller", ROOT_BRIDGE,
         *CONTROLLERS_A.split(",")])
    for ifname, port in ((ROOT_A, 7), (ROOT_B, 8), (ROOT_OUT, 88)):
        run(["ovs-vsctl", "add-port", ROOT_BRIDGE, ifname, "--", "set", "interface", ifname,
             f"ofport_request={port}"])


@contextlib.contextmanager
def fabric_on(workdir: Path) -> Iterator[Fabric]:
    """The whole fabric, both dovesnaps serving; on exit, the timings it gathered are printed."""
    config_dir = workdir / "faucet"
    config_dir.mkdir()
    config = dict(OPERATOR_CONFIG)
    config["dps"] = {ROOT_DP: {"dp_id": ROOT_DPID, "hardware": "Open vSwitch",
                               "interfaces": {88: {"output_only": True}}}}
    (config_dir / "faucet.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (config_dir / "gauge.yaml").write_text(yaml.safe_dump(
        gauge_config(config_dir / "faucet.yaml", A.gauge_prom_port)))
    controllers = Controllers(config_dir)
    docker_a = Docker(driver=A.driver)
    with contextlib.ExitStack() as stack:
        b = stack.enter_context(two_hosts())
        b.link(ROOT_B, "stack0")
        b.link(RIVER_IN, "river0")
        stack.enter_context(veth_pairs((A_STACK, ROOT_A), (ROOT_OUT, ROOT_CAPTURE),
                                       (MIRROR_OUT, MIRROR_CAPTURE)))
        stack.callback(run, ["ovs-vsctl", "--if-exists", "del-br", ROOT_BRIDGE], check=False)
        _root_bridge()
        pki = make_pki(workdir / "pki", [A_IP, "localhost"])
        keydir_a, keydir_b = workdir / "keys-a", b.directory / "keys"
        for keydir in (keydir_a, keydir_b):
            keydir.mkdir()
            for src in (pki.client_cert, pki.client_key):
                shutil.copy2(src, keydir / src.name)
            shutil.copy2(pki.ca, keydir / f"{A_IP}-ca.crt")
        controllers.start()
        stack.callback(controllers.stop)
        rpc = stack.enter_context(faucetconfrpc_server(config_dir, pki, A_IP, RPC_PORT,
                                                       RPC_PROM_PORT))
        a = Daemon(workdir / "a", instance=A)
        stack.callback(a.stop)
        a.start(a_args(keydir_a))
        b.start_dovesnap(b_args(keydir_b))
        fab = Fabric(b, a, rpc, pki, keydir_b, workdir, docker_a)
        stack.callback(docker_a.cleanup)
        stack.callback(_remove_b_objects, fab)
        yield fab
        lines = [f"{what} after docker run: median {statistics.median(values):.2f} s "
                 f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
                 for what, values in fab.samples.items()]
        lines += [f"{k}: {v:.2f} s" for k, v in fab.times.items()]
        print("\n" + "\n".join(lines))


def _remove_b_objects(fab: Fabric) -> None:
    ids = fab.b.docker("ps", "-aq", check=False).stdout.split()
    if ids:
        fab.b.docker("rm", "-f", *ids, check=False)
    if fab.net_b:
        fab.b.docker("network", "rm", fab.net_b, check=False)


