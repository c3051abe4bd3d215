"""``dovesnap cleanup`` removes what a stopped dovesnap left: bridges, veths, DPs, rules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rig import (
    DOCKER,
    Daemon,
    Docker,
    host_links,
    instance_for,
    ovs_bridges,
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


def test_cleanup_removes_everything_a_stopped_daemon_left(daemon: Daemon) -> None:
    docker = Docker(driver=INSTANCE.driver)
    net = docker.network("ovs.bridge.dpid=0x7e2301", "ovs.bridge.mode=nat",
                         "ovs.bridge.preallocate_ports=2", internal=False).args
    try:
        a, b = docker.run_container(net), docker.run_container(net)
        wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "containers connected")
        status = next(v for v in daemon.status().values() if v["NetworkName"] == net)
        bridge = status["BridgeName"]
        veths = {"odsve" + e[:5] for e in status["DynamicNetworkStates"]["Containers"]}
        net_id = run([DOCKER, "network", "inspect", "-f", "{{.Id}}", net]).stdout.strip()
        assert net in daemon.faucet_config()["dps"]
        daemon.stop()  # what it built stays behind

        result = run([sys.executable, "-m", "dovesnap.cli", "cleanup", "--driver", INSTANCE.driver,
                      "--faucet-config-dir", str(daemon.config_dir), "--docker"], check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert bridge not in ovs_bridges()
        assert not veths & set(host_links("odsve"))
        assert net not in (daemon.faucet_config().get("dps") or {})
        assert {"allowall", "denyall"} <= set(daemon.faucet_config()["acls"])
        for flavour in ("iptables-nft", "iptables-legacy"):
            listing = run([flavour, "-t", "nat", "-S"], check=False).stdout
            assert f"dovesnap:{net_id[:12]}" not in listing
        names = run([DOCKER, "ps", "-a", "--format", "{{.Names}}"]).stdout.split()
        assert a not in names and b not in names
    finally:
        # Docker keeps the network record until its plugin says it is gone: bring the plugin
        # back (it rebuilds the bridge from Docker's record) and remove the network properly.
        if daemon.proc is None:
            daemon.start()
        docker.cleanup()
