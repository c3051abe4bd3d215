"""nat and routed networks, published ports and iptables flavours, with real packets.

The "outside world" is a namespace host on a veth with no route back to container subnets: only
masqueraded traffic can get an answer from it. The NAT tests run with the plain ``iptables``
command pointing at each flavour in turn. Docker keeps its own rules in the flavour it started
with (nft on this host) whatever the alternatives say later, so under both settings dovesnap must
keep writing to Docker's flavour, and traffic must flow.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dovesnap.adapters.iptables import Iptables
from dovesnap.features.nat.plan import PortMapping, network_rules, publish_rules
from dovesnap.model.network import parse_network
from dovesnap.plan.firewall import network_tag
from tests.integration.netns_hosts import (
    NetnsHost,
    dovesnap_rules,
    elapsed_until,
    iptables_flavour,
    netns_host,
    outside_subnet,
    tcp_reply,
)
from tests.integration.rig import DOCKER, DRIVER, INSTANCE, Daemon, Docker, run, unique, wait_until

pytestmark = pytest.mark.integration

# Host ports the published-port test takes: its own per run, as another run may publish at the
# same time and a taken port is refused.
WEB_PORT = 8080 + 100 * INSTANCE

PEER_PORT = 7003
LOCAL_PORT = 0xFFFFFFFE
DOCKERS_FLAVOUR = "nft"  # where dockerd keeps its chains on this host (checked below)


def _net_status(daemon: Daemon, network: str) -> tuple[str, dict[str, Any]]:
    for net_id, value in daemon.status().items():
        if value["NetworkName"] == network:
            return net_id, value
    raise AssertionError(f"network {network} not in status")


def _all_rules(net_id: str) -> dict[str, list[str]]:
    tag = "dovesnap:" + net_id[:12]
    return {flavour: dovesnap_rules(flavour, tag) for flavour in ("nft", "legacy")}


def _container_ready(daemon: Daemon, docker: Docker, network: str, container: str) -> None:
    def has_port() -> bool:
        interfaces = (daemon.dp(network) or {}).get("interfaces") or {}
        return any(str(i.get("description", "")).startswith(container + " ")
                   for i in interfaces.values())

    wait_until(has_port, 20, 0.05, f"FAUCET port of {container}")


@pytest.fixture(params=["nft", "legacy"])
def alternative(request: pytest.FixtureRequest) -> Iterator[str]:
    """The plain iptables command's flavour during the test; restored afterwards."""
    assert run(["iptables-nft", "-t", "nat", "-S", "DOCKER"], check=False).returncode == 0, \
        "these tests expect dockerd to keep its rules in iptables-nft"
    with iptables_flavour(request.param):
        yield request.param


@pytest.fixture
def outside() -> Iterator[NetnsHost]:
    host_side, far_side = outside_subnet()
    with netns_host(far_side, host_side) as host:
        host.serve_peer_address(PEER_PORT)
        yield host


def _host_side_ip() -> str:
    return outside_subnet()[0].split("/")[0]


def test_nat_container_is_masqueraded(dovesnap: Daemon, alternative: str, outside: NetnsHost,
                                      docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3001", "ovs.bridge.mode=nat",
                         "ovs.bridge.nat_acl=allowall").args
    c = docker.run_container(net)
    net_id, status = _net_status(dovesnap, net)
    gateway = status["Gateway"]
    _container_ready(dovesnap, docker, net, c)
    # The gateway is FAUCET's LOCAL port, with the nat ACL.
    gateway_port = dovesnap.dp(net)["interfaces"][LOCAL_PORT]  # type: ignore[index]
    assert gateway_port["opstatus_reconf"] is False and gateway_port["acls_in"] == ["allowall"]
    assert wait_until(lambda: docker.ping(c, gateway), 20, 0.2, "ping the gateway")
    # Docker installs the default route via the gateway even on an --internal network.
    assert f"default via {gateway}" in docker.exec(c, "ip", "route").stdout
    # The outside host has no route to the container subnet: it answers only the host's address.
    reply = docker.exec(c, "nc", "-w", "3", outside.ip, str(PEER_PORT)).stdout
    assert reply.strip() == f"peer {_host_side_ip()}"
    assert docker.ping(c, outside.ip)
    # dovesnap followed Docker's flavour, not the iptables alternative.
    rules = _all_rules(net_id)
    assert rules[DOCKERS_FLAVOUR] and not rules["legacy" if DOCKERS_FLAVOUR == "nft" else "nft"]
    assert any("MASQUERADE" in r for r in rules[DOCKERS_FLAVOUR])
    docker.remove_container(c)
    docker.remove_network(net)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}


def test_routed_container_gets_no_answer(dovesnap: Daemon, alternative: str, outside: NetnsHost,
                                         docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3002", "ovs.bridge.mode=routed").args
    c = docker.run_container(net)
    net_id, status = _net_status(dovesnap, net)
    _container_ready(dovesnap, docker, net, c)
    assert wait_until(lambda: docker.ping(c, status["Gateway"]), 20, 0.2, "ping the gateway")
    before = outside.rx_packets()
    assert not docker.ping(c, outside.ip, count=3)
    # The pings did get there, from the container's own address: routed, not masqueraded.
    assert outside.rx_packets() - before >= 3
    assert docker.exec(c, "nc", "-w", "2", outside.ip, str(PEER_PORT)).stdout == ""
    rules = _all_rules(net_id)
    assert rules[DOCKERS_FLAVOUR] and not any("MASQUERADE" in r for r in rules[DOCKERS_FLAVOUR])
    docker.remove_container(c)
    docker.remove_network(net)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}


def test_published_port(dovesnap: Daemon, alternative: str, outside: NetnsHost,
                        docker: Docker) -> None:
    host_ip = _host_side_ip()
    # Docker hands port mappings only to endpoints on non-internal networks.
    net = docker.network("ovs.bridge.dpid=0x7e3003", "ovs.bridge.mode=nat", internal=False).args
    server = docker.run_container(net, "-p", f"{WEB_PORT}:80",
                                  "-p", f"{host_ip}:{WEB_PORT + 1}:80")
    client = docker.run_container(net)
    net_id, status = _net_status(dovesnap, net)
    gateway = status["Gateway"]
    _container_ready(dovesnap, docker, net, server)
    _container_ready(dovesnap, docker, net, client)
    docker.exec(server, "nc", "-ll", "-p", "80", "-e", "echo", "hi", check=True, detach=True)
    # From the host, via the gateway and via a host address.
    assert wait_until(lambda: tcp_reply(gateway, WEB_PORT) == "hi\n", 20, 0.2, "hi via the gateway")
    assert tcp_reply(host_ip, WEB_PORT) == "hi\n"
    # From another host, to this host's address.
    far = outside.exec("busybox", "nc", "-w", "3", host_ip, str(WEB_PORT)).stdout
    assert far == "hi\n"
    # A host IP in -p is honoured: WEB_PORT + 1 is published there only.
    assert tcp_reply(host_ip, WEB_PORT + 1) == "hi\n"
    assert tcp_reply(gateway, WEB_PORT + 1, timeout=1) == ""
    # A container on the same network reaches the published port through the gateway.
    assert docker.exec(client, "nc", "-w", "3", gateway, str(WEB_PORT)).stdout == "hi\n"
    # No docker-proxy: the mapping is dovesnap's DNAT.
    assert run(["pgrep", "-f", f"docker-proxy.*-host-port {WEB_PORT}"], check=False).returncode != 0
    endpoint_rules = [r for r in _all_rules(net_id)[DOCKERS_FLAVOUR] if "DNAT" in r]
    assert len(endpoint_rules) == 4  # PREROUTING+OUTPUT for each of the two ports
    docker.remove_container(server)
    assert not [r for r in _all_rules(net_id)[DOCKERS_FLAVOUR] if "DNAT" in r]
    assert tcp_reply(gateway, WEB_PORT, timeout=1) == ""
    docker.remove_container(client)
    docker.remove_network(net)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}


def test_gateway_comes_back_and_restart_adds_nothing(dovesnap: Daemon, outside: NetnsHost,
                                                     docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3004", "ovs.bridge.mode=nat").args
    c = docker.run_container(net)
    net_id, status = _net_status(dovesnap, net)
    gateway, bridge = status["Gateway"], status["BridgeName"]
    prefix = ipaddress.ip_network(f"0.0.0.0/{status['GatewayMask']}").prefixlen
    _container_ready(dovesnap, docker, net, c)
    assert wait_until(lambda: docker.ping(c, outside.ip), 20, 0.2, "ping outside")
    before = _all_rules(net_id)

    def has_gateway() -> bool:
        return f"inet {gateway}/{prefix}" in run(["ip", "-4", "addr", "show", bridge]).stdout

    run(["ip", "addr", "del", f"{gateway}/{prefix}", "dev", bridge])
    took = elapsed_until(has_gateway, 5)
    print(f"gateway address restored after {took * 1000:.0f} ms")
    dovesnap.stop()
    dovesnap.start()
    time.sleep(1)  # restore runs before the plugin socket answers; give late work a moment
    assert _all_rules(net_id) == before  # nothing added twice
    assert wait_until(lambda: docker.ping(c, outside.ip), 20, 0.2, "ping outside after restart")
    docker.remove_container(c)
    docker.remove_network(net)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}


def test_dual_stack_nat(dovesnap: Daemon, outside: NetnsHost, docker: Docker) -> None:
    name = unique("net6")
    created = run([DOCKER, "network", "create", "-d", DRIVER, "--internal", "--ipv6",
                   "--subnet", f"fd42:{INSTANCE}:7e3::/64", "-o", "ovs.bridge.dpid=0x7e3005",
                   "-o", "ovs.bridge.mode=nat", name], check=False)
    assert created.returncode == 0, created.stderr
    docker.networks.append(name)
    c = docker.run_container(name)
    net_id, status = _net_status(dovesnap, name)
    _container_ready(dovesnap, docker, name, c)
    assert wait_until(lambda: docker.ping(c, status["Gateway"]), 20, 0.2, "IPv4 gateway")
    routes6 = docker.exec(c, "ip", "-6", "route").stdout
    assert f"default via fd42:{INSTANCE}:7e3::1" in routes6
    assert wait_until(lambda: docker.exec(c, "ping6", "-c", "1", "-W", "1", f"fd42:{INSTANCE}:7e3::1")
                      .returncode == 0, 20, 0.2, "IPv6 gateway")
    reply = docker.exec(c, "nc", "-w", "3", outside.ip, str(PEER_PORT)).stdout
    assert reply.strip() == f"peer {_host_side_ip()}"
    docker.remove_container(c)
    docker.remove_network(name)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}



@pytest.mark.parametrize("forced", ["nft", "legacy"])
def test_adapter_round_trip_on_the_real_commands(forced: str) -> None:
    """The adapter against each real iptables binary: add once, list back, delete, nothing left.

    Docker's chains pick nft on this host, so legacy is reached by hiding the nft command; the
    rules name a bridge that does not exist and a host address no one has, so they match nothing.
    """
    net_id = "d5" + unique("x").encode().hex()[-20:]
    spec = parse_network(net_id, {"ovs.bridge.dpid": "0x7e30fe", "ovs.bridge.mode": "nat",
                                  "ovs.bridge.name": "dsnobr3"},
                         [{"Pool": "198.18.250.0/24", "Gateway": "198.18.250.1/24"}], (),
                         ("tcp:127.0.0.1:6653",))
    rules = network_rules(spec) + publish_rules(
        spec, "e" * 32, "198.18.250.5/24", [PortMapping("udp", 53, 5353, 5353, "198.18.251.1")])
    hidden = "nft" if forced == "legacy" else "legacy"
    ipt = Iptables(which=lambda name: None if name == f"iptables-{hidden}" else shutil.which(name))
    tag = network_tag(net_id)
    try:
        assert ipt.ensure(rules) == forced
        assert ipt.ensure(rules) == forced  # again: nothing added
        assert len(dovesnap_rules(forced, tag)) == len(rules)
        assert sorted(ipt.owned(tag), key=repr) == sorted(rules, key=repr)
    finally:
        removed = Iptables().remove_owned(tag)  # the normal adapter looks in every flavour
    assert removed == len(rules)
    assert _all_rules(net_id) == {"nft": [], "legacy": []}
