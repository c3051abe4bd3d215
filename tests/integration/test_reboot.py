"""A simulated host reboot: `--restart always` containers come back, and with them the gateway,
NAT to the outside and `-p` publishing, not only container-to-container traffic.

What a reboot leaves: no dovesnap, FAUCET, Gauge or dockerd; no container veths; the bridge's
LOCAL interface down and without its address; none of dovesnap's iptables rules; the OVS
database kept. Then everything starts again, in the right order (dovesnap first) and in the
wrong one (dockerd first: it gives up on the containers after ~15 s and dovesnap must start
them itself).

The Docker that "reboots" is an engine of the test's own (``tests/engines``: Debian's Docker,
with its own containerd, data root and socket), so the host's dockerd, and everyone else's
containers, are never touched (nor needed); only this instance's own links and rules are
removed. Needs root and the engine's Debian root (made by ``tests/engines`` on first use).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovesnap.adapters.iptables import Iptables
from dovesnap.plan.firewall import network_tag
from tests.engines.engine import newer_engine, socket_path
from tests.integration.reachability import NatRig, nat_rig, outside_host
from tests.integration.rig import (
    DOCKER,
    Daemon,
    Docker,
    ensure_image,
    host_links,
    instance_for,
    run,
    wait_until,
)
from tests.integration.rig import (
    INSTANCE as RUN,
)

pytestmark = pytest.mark.integration

INSTANCE = instance_for(__name__)
ENGINE = os.environ.get("DOVESNAP_REBOOT_ENGINE", "trixie")
ENGINE_URL = f"unix://{socket_path(ENGINE)}"
ENGINE_CLI = (DOCKER, "-H", ENGINE_URL)
PUBLISHED = 18000 + RUN * 100 + 28


@contextlib.contextmanager
def engine() -> Iterator[str]:
    """The test's own dockerd, up (waiting while another run holds it)."""
    with newer_engine(ENGINE, lock_wait=600) as url:
        yield url


def _crash(daemon: Daemon) -> None:
    """dovesnap and its children die as in a power cut (no clean shutdown)."""
    assert daemon.proc is not None
    os.killpg(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.proc = None
    for name in ("faucet", "gauge"):
        pidfile = daemon.workdir / "state" / f"{name}.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


def _network(daemon: Daemon, name: str) -> tuple[str, str, list[str]]:
    """(network id, bridge, host veths) of the network, from dovesnap's status."""
    for net_id, net in daemon.status().items():
        if net["NetworkName"] == name:
            veths = [c["IfName"] for c in net["DynamicNetworkStates"]["Containers"].values()]
            return net_id, net["BridgeName"], veths
    raise AssertionError(f"network {name} not in status")


def _what_a_reboot_leaves(net_id: str, bridge: str, veths: list[str]) -> None:
    """This instance's share of a reboot: its veths gone, its bridge down without addresses,
    its iptables rules gone (everyone else's left alone)."""
    for link in set(veths) & set(host_links("odsve")):
        run(["ip", "link", "del", link], check=False)
    run(["ip", "link", "set", bridge, "down"], check=False)
    run(["ip", "addr", "flush", "dev", bridge], check=False)
    Iptables().remove_owned(network_tag(net_id))


def _running(docker: Docker, names: list[str]) -> bool:
    states = [run([*docker.cli, "inspect", "-f", "{{.State.Running}}", n], check=False).stdout
              for n in names]
    return all(state.strip() == "true" for state in states)


def _back(rig: NatRig, timeout: float) -> float:
    """Seconds until the containers run and every path works again."""
    started = time.monotonic()
    wait_until(lambda: _running(rig.docker, [rig.server, rig.client]), timeout, 0.5,
               "containers running again")
    wait_until(lambda: rig.docker.exec(rig.server, "true").returncode == 0, 30, 0.2,
               "server answers exec")
    rig.start_server(rig.server)  # its nc went with the container's first life
    rig.all_work(60, "after the reboot")
    return time.monotonic() - started


def _reboot_test(tmp_path: Path, dovesnap_first: bool, dpid: str, index: int) -> None:
    daemon = Daemon(tmp_path, instance=INSTANCE)
    docker = Docker(driver=INSTANCE.driver, cli=ENGINE_CLI)
    args = ["--docker-url", ENGINE_URL]
    with outside_host(index) as outside:
        try:
            with engine():
                ensure_image(ENGINE_CLI)
                daemon.start(args)
                rig = nat_rig(docker, outside, dpid, index, PUBLISHED,
                              run_extra=("--restart", "always"))
                rig.all_work(60, "before the reboot")
                net_id, bridge, veths = _network(daemon, rig.network)
                _crash(daemon)
            _what_a_reboot_leaves(net_id, bridge, veths)
            if dovesnap_first:
                daemon.start(args)  # the plugin socket is up before dockerd, as the unit orders
                with engine():
                    took = _back(rig, 90)
                    print(f"dovesnap first: every path back {took:.1f}s after dockerd started")
                    _clean(docker, daemon)
            else:
                with engine():
                    time.sleep(20)  # dockerd retries a missing network plugin ~15 s, gives up
                    assert not _running(docker, [rig.server])
                    daemon.start(args)
                    took = _back(rig, 90)
                    print(f"dockerd first: dovesnap revived the containers, every path back "
                          f"{took:.1f}s after it started")
                    _clean(docker, daemon)
        finally:
            if docker.containers or docker.networks:
                with engine():
                    if daemon.proc is None:
                        daemon.start(args)
                    _clean(docker, daemon)
            daemon.stop()


def _clean(docker: Docker, daemon: Daemon) -> None:
    docker.cleanup()
    wait_until(lambda: not daemon.status(), 30, 0.2, "network gone from dovesnap")


def test_reboot_with_dovesnap_starting_first(tmp_path: Path) -> None:
    _reboot_test(tmp_path, True, "0x7e2801", 1)


def test_reboot_when_docker_gave_up_before_dovesnap_came(tmp_path: Path) -> None:
    _reboot_test(tmp_path, False, "0x7e2802", 2)
