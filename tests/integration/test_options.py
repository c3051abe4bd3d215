"""Bad options fail docker network create with a clear message and change nothing."""

from __future__ import annotations

import pytest

from tests.integration.rig import Daemon, Docker, host_links, ovs_bridges, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (("ovs.bridge.dpid=0x7e0101", "ovs.bridge.mode=bogus"), "ovs.bridge.mode"),
        (("ovs.bridge.dpid=0x7e0102", "ovs.bridge.vlan=5000"), "ovs.bridge.vlan"),
        (("ovs.bridge.dpid=zz",), "ovs.bridge.dpid"),
        (("ovs.bridge.vlan=100",), "ovs.bridge.dpid"),
        (("ovs.bridge.dpid=0x7e0103", "ovs.bridge.default_acl=nosuchacl"), "nosuchacl"),
        (("ovs.bridge.dpid=0x7e0104", "ovs.bridge.ovs_local_mac=01:00:00:00:00:01"),
         "ovs.bridge.ovs_local_mac"),
        (("ovs.bridge.dpid=0x7e0105", "ovs.bridge.frobnicate=1"), "ovs.bridge.frobnicate"),
    ],
)
def test_bad_option_is_refused(dovesnap: Daemon, docker: Docker, options: tuple[str, ...],
                               needle: str) -> None:
    before_yaml = dovesnap.faucet_yaml.read_bytes()
    before_bridges = set(ovs_bridges())
    result = docker.network(*options, check=False)
    assert result.returncode != 0
    assert needle in result.stderr
    assert dovesnap.faucet_yaml.read_bytes() == before_yaml
    assert set(ovs_bridges()) == before_bridges


def test_duplicate_dpid_is_refused(dovesnap: Daemon, docker: Docker) -> None:
    first = docker.network("ovs.bridge.dpid=0x7e0110").args
    wait_until(lambda: dovesnap.dp(first), 10, what="first DP")
    before_yaml = dovesnap.faucet_yaml.read_bytes()
    before_bridges = set(ovs_bridges())
    second = docker.network("ovs.bridge.dpid=0x7e0110", check=False)
    assert second.returncode != 0
    assert "ovs.bridge.dpid" in second.stderr and "already" in second.stderr
    assert dovesnap.faucet_yaml.read_bytes() == before_yaml
    assert set(ovs_bridges()) == before_bridges


def test_nothing_left_after_removal(dovesnap: Daemon, docker: Docker) -> None:
    before_links = set(host_links("odsve"))
    net = docker.network("ovs.bridge.dpid=0x7e0120", "ovs.bridge.preallocate_ports=2").args
    containers = [docker.run_container(net) for _ in range(3)]
    wait_until(lambda: len(set(host_links("odsve")) - before_links) == 3, 15, what="3 veths")
    bridge = next(v["BridgeName"] for v in dovesnap.status().values() if v["NetworkName"] == net)
    assert bridge in ovs_bridges()
    for name in containers:
        docker.remove_container(name)
    wait_until(lambda: not (set(host_links("odsve")) - before_links), 15, what="veths removed")
    docker.remove_network(net)
    wait_until(lambda: dovesnap.dp(net) is None, 10, what="DP removed")
    assert bridge not in ovs_bridges()
    assert not host_links(bridge)
    assert all(v["NetworkName"] != net for v in dovesnap.status().values())
    # The operator's ACLs and meter are still there.
    config = dovesnap.faucet_config()
    assert {"allowall", "denyall", "ratelimitit"} <= set(config["acls"])
    assert "lossymeter" in config["meters"]
