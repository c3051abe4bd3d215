"""``--spare-ports`` on the real stack: containers take ports FAUCET runs already, the pool
refills behind them through stand-ins, and a container on a refilled port forwards at once
with no change of its port in FAUCET; no stand-in is left on the bridge or the host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.instances import instance_for
from tests.integration.rig import (
    DOCKER,
    Daemon,
    Docker,
    bridge_of,
    plugin_answers,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

SPARE = instance_for(__name__)
FIRST_PING = "ping -c 1 -W 1 {peer} >/dev/null; echo first-ping=$?; exec sleep 3600"


@pytest.fixture(scope="module")
def spare_daemon(docker_daemon: None, host_openvswitch: None,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if plugin_answers(SPARE.socket):
        pytest.fail(f"a dovesnap already serves {SPARE.socket}")
    daemon = Daemon(Path(tmp_path_factory.mktemp("spare")), instance=SPARE)
    daemon.start(["--spare-ports", "2"])
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def docker(spare_daemon: Daemon) -> Iterator[Docker]:
    objects = Docker(driver=SPARE.driver)
    try:
        yield objects
    finally:
        objects.cleanup()


def _placeholders(daemon: Daemon, net: str) -> list[int]:
    interfaces = (daemon.dp(net) or {}).get("interfaces") or {}
    return sorted(p for p, i in interfaces.items() if i.get("description") == "preallocated port")


def _port_of(daemon: Daemon, net: str, container: str) -> int | None:
    interfaces = (daemon.dp(net) or {}).get("interfaces") or {}
    return next((p for p, i in interfaces.items()
                 if str(i.get("description", "")).startswith(container + " ")), None)


def _stand_ins(bridge: str) -> list[str]:
    ports = run(["ovs-vsctl", "list-ports", bridge]).stdout.split()
    links = run(["ip", "-o", "link", "show"]).stdout
    return [p for p in ports if p.startswith("odssp")] + re.findall(r"\bodss[pq][0-9a-f]{8}\b",
                                                                     links)


def _settled(daemon: Daemon, net: str, bridge: str, placeholders: list[int]) -> None:
    wait_until(lambda: _placeholders(daemon, net) == placeholders and not _stand_ins(bridge),
               30, 0.2, f"placeholders {placeholders} and no stand-in")


def test_a_container_on_a_refilled_port_forwards_at_once_with_its_port_untouched(
    spare_daemon: Daemon, docker: Docker
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e5101").args
    wait_until(lambda: _placeholders(spare_daemon, net) == [1, 2], 10, what="two spare ports")
    bridge = bridge_of(spare_daemon, net)
    peer = docker.run_container(net)
    wait_until(lambda: _port_of(spare_daemon, net, peer) == 1, 15, what="the peer on port 1")
    _settled(spare_daemon, net, bridge, [2, 3])  # one free left: refilled to two
    second = docker.run_container(net)
    wait_until(lambda: _port_of(spare_daemon, net, second) == 2, 15, what="port 2 taken")
    _settled(spare_daemon, net, bridge, [3, 4, 5, 6])  # two recent: four free
    seen = spare_daemon.faucet_log_size()
    # Port 3 came with a refill, to a DP FAUCET was running: its stand-in got it its flows.
    taker = docker.run_container(net, command=("sh", "-c", FIRST_PING.format(
        peer=docker.ip(peer))))
    wait_until(lambda: "first-ping=" in run([DOCKER, "logs", taker]).stdout, 15,
               what="the taker's first ping")
    assert "first-ping=0" in run([DOCKER, "logs", taker]).stdout
    wait_until(lambda: _port_of(spare_daemon, net, taker) == 3, 15, what="port 3 named")
    changes, ours = spare_daemon.faucet_port_changes(net, 3, seen)
    assert not changes, ours
    entry = next(n for n in spare_daemon.status().values() if n.get("NetworkName") == net)
    assert entry["SparePorts"]["Free"] == 3 and entry["SparePorts"]["Refills"] == 2, entry
