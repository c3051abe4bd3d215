"""The operator's pre-seeded DP, as users of the Go original write it, with a dovesnap of this
module's own (it is restarted and cleaned up after): the network merges into the DP (the
gateway keeps the operator's ACL, the operator's interfaces and ranges stay, no container gets
the operator's port), containers join and leave and talk through FAUCET, a dovesnap restart
keeps it all, and network delete or ``dovesnap cleanup`` put the DP back as it was written.
A DP with the dpid under another name gets the network nothing, and ``docker run`` says why."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.rig import (
    DOCKER,
    INSTANCE,
    OPERATOR_CONFIG,
    Daemon,
    Docker,
    instance_for,
    ovs_bridges,
    own_daemon,
    run,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

OWN = instance_for(__name__)
LOCAL = 0xFFFFFFFE
SUBNET = f"10.{INSTANCE * 10 + 2}.1.0/24"  # this run's own range
GATEWAY = f"10.{INSTANCE * 10 + 2}.1.1"


def seeded_dp(dp_id: int) -> dict[str, Any]:
    """A DP as the Go original's users pre-seed it (its test suite does the same)."""
    return {
        "dp_id": dp_id,
        "description": "the operator's lab DP",
        "hardware": "Open vSwitch",
        "interfaces": {
            LOCAL: {"native_vlan": 100, "opstatus_reconf": False, "acls_in": ["allowall"]},
            7: {"description": "operator's printer", "native_vlan": 100},
        },
        "interface_ranges": {"20-29": {"native_vlan": 100}},
    }


def write_config(daemon: Daemon, dps: dict[str, Any]) -> str:
    daemon.config_dir.mkdir(parents=True, exist_ok=True)
    text = "# the operator's faucet.yaml\n" + yaml.safe_dump({**OPERATOR_CONFIG, "dps": dps},
                                                             sort_keys=False)
    daemon.faucet_yaml.write_text(text)
    return text


@dataclass
class Seeded:
    daemon: Daemon
    network: str  # the name of the pre-seeded DP, and of the network the tests create


@pytest.fixture
def seeded(docker_daemon: None, tmp_path: Path) -> Iterator[Seeded]:
    network = unique("seeded")
    write_config(Daemon(tmp_path, instance=OWN), {network: seeded_dp(0x7E9001)})
    with own_daemon(tmp_path, OWN) as own:
        yield Seeded(own, network)


def _create(docker: Docker, name: str, dpid: str, *options: str) -> None:
    argv = [DOCKER, "network", "create", "-d", docker.driver, "--subnet", SUBNET, "--internal",
            "-o", f"ovs.bridge.dpid={dpid}"]
    for option in options:
        argv += ["-o", option]
    run([*argv, name])
    docker.networks.append(name)


def _port_of(daemon: Daemon, network: str, container: str) -> int | None:
    for port, iface in ((daemon.dp(network) or {}).get("interfaces") or {}).items():
        if str(iface.get("description", "")).startswith(container + " "):
            return int(port)
    return None


def test_pre_seeded_dp_is_merged_kept_across_restart_and_put_back(seeded: Seeded) -> None:
    daemon, network = seeded.daemon, seeded.network
    original = daemon.dp(network)
    docker = Docker(driver=OWN.driver)
    try:
        _create(docker, network, "0x7e9001", "ovs.bridge.mode=nat")
        a, b = docker.run_container(network), docker.run_container(network)
        for name in (a, b):
            wait_until(lambda n=name: _port_of(daemon, network, n), 30, what=f"{name}'s port")
        dp = daemon.dp(network) or {}
        assert dp["description"] == "the operator's lab DP"
        assert dp["interface_ranges"] == {"20-29": {"native_vlan": 100}}
        assert dp["interfaces"][7] == {"description": "operator's printer", "native_vlan": 100}
        assert dp["interfaces"][LOCAL]["acls_in"] == ["allowall"]  # the operator's gateway ACL
        assert dp["interfaces"][LOCAL]["description"] == "gateway"  # merged with dovesnap's
        assert 7 not in {_port_of(daemon, network, a), _port_of(daemon, network, b)}
        # Real packets through the merged DP: container to container, and to the gateway.
        assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.3, "a -> b")
        assert wait_until(lambda: docker.ping(a, GATEWAY), 30, 0.3, "a -> gateway")
        docker.remove_container(b)
        wait_until(lambda: _port_of(daemon, network, b) is None, 20, what="b's port gone")
        assert (daemon.dp(network) or {})["interfaces"][7]["description"] == "operator's printer"

        daemon.stop()
        daemon.start()
        c = docker.run_container(network)
        wait_until(lambda: _port_of(daemon, network, c), 30, what="c's port after the restart")
        assert wait_until(lambda: docker.ping(c, docker.ip(a)), 30, 0.3, "c -> a after restart")
        assert (daemon.dp(network) or {})["description"] == "the operator's lab DP"

        docker.cleanup()
        wait_until(lambda: daemon.dp(network) == original, 20, what="the operator's DP back")
        assert "# the operator's faucet.yaml" in daemon.faucet_yaml.read_text()
    finally:
        docker.cleanup()


def test_cleanup_puts_the_pre_seeded_dp_back(seeded: Seeded) -> None:
    daemon, network = seeded.daemon, seeded.network
    original = daemon.dp(network)
    docker = Docker(driver=OWN.driver)
    try:
        _create(docker, network, "0x7e9001")
        a = docker.run_container(network)
        wait_until(lambda: _port_of(daemon, network, a), 30, what=f"{a}'s port")
        bridge = next(v["BridgeName"] for v in daemon.status().values() if v["NetworkName"] == network)
        daemon.stop()  # what it built stays behind
        result = run([sys.executable, "-m", "dovesnap.cli", "cleanup", "--driver", OWN.driver,
                      "--faucet-config-dir", str(daemon.config_dir), "--docker"], check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert network in result.stdout  # listed among the DPs put back
        assert bridge not in ovs_bridges()
        assert daemon.dp(network) == original
    finally:
        # Docker keeps the network until its plugin says it is gone: bring the plugin back and
        # remove the network properly (the DP is put back again).
        if daemon.proc is None:
            daemon.start()
        docker.cleanup()
    wait_until(lambda: daemon.dp(network) == original, 20, what="the operator's DP back")


def test_a_dp_with_the_dpid_under_another_name_gives_the_network_nothing(seeded: Seeded) -> None:
    daemon = seeded.daemon
    other = unique("other")
    before = daemon.faucet_yaml.read_text()
    config = yaml.safe_load(before)
    config["dps"]["opsw"] = seeded_dp(0x7E9002)
    daemon.faucet_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    before = daemon.faucet_yaml.read_text()
    docker = Docker(driver=OWN.driver)
    try:
        _create(docker, other, "0x7e9002")
        wait_until(lambda: any(v["NetworkName"] == other and v["Error"]
                               for v in daemon.status().values()), 20, what="the network's error")
        status = next(v for v in daemon.status().values() if v["NetworkName"] == other)
        assert "FAUCET DP opsw" in status["Error"]
        controllers = run(["ovs-vsctl", "get-controller", status["BridgeName"]]).stdout.split()
        assert controllers == []  # FAUCET would run opsw on it
        name = unique("c")
        started = run([DOCKER, "run", "-d", "--name", name, "--net", other,
                       "dovesnap-test-busybox:latest", "sleep", "60"], check=False)
        docker.containers.append(name)
        assert started.returncode != 0 and "FAUCET DP opsw" in started.stderr, started.stderr
        docker.cleanup()
        assert daemon.faucet_yaml.read_text() == before
    finally:
        docker.cleanup()
