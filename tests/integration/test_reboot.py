"""A simulated host reboot: `--restart always` containers come back with connectivity.

Processes gone (dovesnap, its FAUCET/Gauge, dockerd), veths and the gateway address gone,
dovesnap's iptables rules gone, the OVS database kept. Then start again, in the right order
(dovesnap first) and in the wrong one (dockerd first: it gives up on the containers after ~15 s
and dovesnap must start them itself).

These tests stop and start dockerd, so they must not run while other suites use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovesnap.adapters.iptables import Iptables
from dovesnap.plan.firewall import network_tag
from tests.integration.rig import (
    DOCKER,
    ROOT,
    Daemon,
    Docker,
    docker_answers,
    host_links,
    instance_for,
    own_daemon,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

INSTANCE = instance_for(__name__)


@pytest.fixture
def daemon(dovesnap: Daemon, tmp_path: Path) -> Iterator[Daemon]:
    with own_daemon(tmp_path, INSTANCE) as own:
        yield own


def _host_dockerd() -> str:
    """The host's dockerd pid (from its pidfile), "" if none: never another engine's dockerd."""
    return run(["bash", str(ROOT / "scripts" / "docker.sh"), "host-pid"], check=False).stdout.strip()


def _stop_dockerd() -> None:
    pid = _host_dockerd()
    if pid:
        os.kill(int(pid), signal.SIGTERM)
    wait_until(lambda: not _host_dockerd(), 90, 0.5, what="dockerd stopped")


def _start_dockerd() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "docker.sh"), "start"], check=True)
    wait_until(docker_answers, 90, 0.5, what="dockerd answering")


def _crash(daemon: Daemon) -> None:
    """dovesnap and its children die as in a power cut (no clean shutdown)."""
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.proc = None
    for name in ("faucet", "gauge"):
        pidfile = daemon.workdir / "state" / f"{name}.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


def _setup(daemon: Daemon, docker: Docker, dpid: str) -> tuple[str, str, str, str]:
    net = docker.network(f"ovs.bridge.dpid={dpid}", "ovs.bridge.mode=nat", internal=False).args
    a = docker.run_container(net, "--restart", "always")
    b = docker.run_container(net, "--restart", "always")
    wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "connectivity before the reboot")
    status = next(v for v in daemon.status().values() if v["NetworkName"] == net)
    net_id = run([DOCKER, "network", "inspect", "-f", "{{.Id}}", net]).stdout.strip()
    return net, a, b, status["BridgeName"] + " " + net_id


def _reboot(daemon: Daemon, bridge_and_id: str) -> None:
    bridge, net_id = bridge_and_id.split()
    _crash(daemon)
    _stop_dockerd()
    for link in host_links("odsve"):
        run(["ip", "link", "del", link], check=False)  # veths die with a reboot
    run(["ip", "addr", "flush", "dev", bridge], check=False)
    Iptables().remove_owned(network_tag(net_id))


def _back(docker: Docker, a: str, b: str) -> float:
    started = time.monotonic()
    for name in (a, b):
        wait_until(lambda n=name: run([DOCKER, "inspect", "-f", "{{.State.Running}}", n],
                                      check=False).stdout.strip() == "true", 90, 0.5,
                   what=f"{name} running again")
    wait_until(lambda: docker.ping(a, docker.ip(b)), 60, 0.3, "connectivity after the reboot")
    return time.monotonic() - started


def test_reboot_with_dovesnap_starting_first(daemon: Daemon) -> None:
    docker = Docker(driver=INSTANCE.driver)
    try:
        _net, a, b, ident = _setup(daemon, docker, "0x7e2801")
        _reboot(daemon, ident)
        daemon.start()  # the plugin socket is up before dockerd, as the service unit orders it
        _start_dockerd()
        print(f"containers back with connectivity {_back(docker, a, b):.1f}s after dockerd start")
    finally:
        if not docker_answers():
            _start_dockerd()
        if daemon.proc is None:
            daemon.start()
        docker.cleanup()


def test_reboot_when_docker_gave_up_before_dovesnap_came(daemon: Daemon) -> None:
    docker = Docker(driver=INSTANCE.driver)
    try:
        _net, a, b, ident = _setup(daemon, docker, "0x7e2802")
        _reboot(daemon, ident)
        _start_dockerd()
        time.sleep(20)  # dockerd retries a missing network plugin for ~15 s, then gives up
        assert run([DOCKER, "inspect", "-f", "{{.State.Running}}", a]).stdout.strip() == "false"
        daemon.start()
        print(f"dovesnap revived the containers in {_back(docker, a, b):.1f}s")
    finally:
        if not docker_answers():
            _start_dockerd()
        if daemon.proc is None:
            daemon.start()
        docker.cleanup()
