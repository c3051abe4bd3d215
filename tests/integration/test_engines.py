"""The smoke set on every engine dovesnap is tested with: the host's Docker 20.10, Debian trixie's
Docker 26.1, sid's Docker 28.5, and 28.5 refusing API versions below 1.44 (as Docker 29 does).

Create, join, ping, labels to ACLs, ``--mac-address``, ``--driver-opt``; nat with masquerade,
``-p`` and DNS (and DNS on ``--internal`` networks, which Docker 25+ no longer forwards); IPv6;
gateway priority (28); dovesnap restart recovery; revival of ``--restart always`` containers a
newer engine gave up on. Each engine gets a dovesnap of its own (``--docker-url``). Newer
engines run beside the host's (tests/engines; built with debootstrap when missing, which needs
the Debian mirror). Only this run's own addresses (rig.own_subnet/own_subnet6) are used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.engine_rig import (
    CASES,
    EngineCase,
    EngineRig,
    container_json,
    dns_server_argv,
    lookup,
)
from tests.integration.netns_hosts import NetnsHost, netns_host, tcp_reply
from tests.integration.rig import (
    INSTANCE,
    Daemon,
    Docker,
    instance_for,
    own_subnet,
    own_subnet6,
    run,
    wait_until,
)

# The first test on a fresh host also runs debootstrap (about a minute per engine).
pytestmark = [pytest.mark.integration, pytest.mark.engines, pytest.mark.timeout(900)]

ENGINES = instance_for(__name__)
ACL = "dovesnap.faucet.portacl"
PEER_PORT = 7015
DNS_ANSWER = f"10.{INSTANCE * 10 + 9}.250.250"  # an address of this run's, put on nothing
TIMES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module", params=CASES, ids=[c.label for c in CASES])
def rig(request: pytest.FixtureRequest, docker_daemon: None,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRig]:
    case: EngineCase = request.param
    made = EngineRig(case, ENGINES, Path(tmp_path_factory.mktemp(f"engine-{case.label}")))
    started = time.monotonic()
    try:
        TIMES[case.label] = {"engine_start": made.start_engine()}
        made.start_dovesnap()
        made.purge()  # what an interrupted earlier run left
        TIMES[case.label]["ready"] = time.monotonic() - started
        print(f"\n{case.label}: Docker {made.version}")
        yield made
    finally:
        made.close()
        TIMES.setdefault(case.label, {})["total"] = time.monotonic() - started
        print(f"\n{case.label} times: {TIMES[case.label]}")


@pytest.fixture
def docker(rig: EngineRig) -> Iterator[Docker]:
    objects = rig.objects()
    try:
        yield objects
    finally:
        objects.cleanup()


@pytest.fixture(scope="module")
def outside() -> Iterator[NetnsHost]:
    """A host beyond the NAT, with no route back to container subnets: a TCP server that says
    whose address it saw, and a DNS server."""
    subnet = own_subnet(60).rsplit(".", 1)[0]
    with netns_host(f"{subnet}.2/30", f"{subnet}.1/30") as host:
        host.serve_peer_address(PEER_PORT)
        host.servers.append(subprocess.Popen(
            ["ip", "netns", "exec", host.netns, *dns_server_argv(host.ip, DNS_ANSWER)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield host


def _daemon(rig: EngineRig) -> Daemon:
    assert rig.daemon is not None
    return rig.daemon


def _dpid(rig: EngineRig, n: int) -> str:
    return f"ovs.bridge.dpid=0x16{INSTANCE:02x}{CASES.index(rig.case):x}{n:x}"


def _subnet(rig: EngineRig, n: int) -> str:
    return own_subnet(64 + 12 * CASES.index(rig.case) + n)


def _port(daemon: Daemon, network: str, container: str) -> dict[str, object] | None:
    for number, iface in ((daemon.dp(network) or {}).get("interfaces") or {}).items():
        if str(iface.get("description", "")).startswith(container + " "):
            return {"number": number, **iface}
    return None


def _ready(rig: EngineRig, network: str, *containers: str) -> None:
    for name in containers:
        wait_until(lambda n=name: _port(_daemon(rig), network, n), 30, what=f"port of {name}")


def _ip_on(docker: Docker, container: str, network: str) -> str:
    return str(container_json(docker, container)["NetworkSettings"]["Networks"][network]["IPAddress"])


def _gateway(rig: EngineRig, network: str) -> str:
    return str(next(v["Gateway"] for v in _daemon(rig).status().values()
                    if v["NetworkName"] == network))


def test_create_join_ping_labels_mac_and_driver_opts(rig: EngineRig, docker: Docker) -> None:
    daemon = _daemon(rig)
    net = docker.network(_dpid(rig, 1), args=["--subnet", _subnet(rig, 1)]).args
    a = docker.run_container(net, "--mac-address", "0e:16:00:00:00:0a")
    b = docker.run_container(net)
    denied = docker.run_container(net, "--label", f"{ACL}=denyall")
    _ready(rig, net, a, b, denied)
    # dovesnap learned the network's name from this engine: a DP, and a name in status.
    status = next(v for v in daemon.status().values() if v["BridgeName"] and v["NetworkName"] == net)
    assert status["Error"] == ""
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "ping a -> b")
    assert not docker.ping(denied, docker.ip(b), count=2)
    assert _port(daemon, net, denied)["acls_in"] == ["denyall"]  # type: ignore[index]
    # --mac-address: per endpoint from API 1.44 on, per container before; honoured either way.
    assert docker.mac_in_container(a) == "0e:16:00:00:00:0a"
    macs = {c["Name"]: c["MacAddress"] for c in status["DynamicNetworkStates"]["Containers"].values()}
    assert macs[a] == "0e:16:00:00:00:0a"
    # A per-endpoint option on connect wins over the label; the ifname option is answered too.
    net2 = docker.network(_dpid(rig, 2), args=["--subnet", _subnet(rig, 2)]).args
    run([*docker.cli, "network", "connect", "--driver-opt", f"{ACL}=allowall", "--driver-opt",
         "com.docker.network.endpoint.ifname=dsmgmt0", net2, denied])
    run([*docker.cli, "network", "connect", net2, b])
    _ready(rig, net2, denied, b)
    denied_ip = _ip_on(docker, denied, net2)
    assert wait_until(lambda: docker.ping(b, denied_ip), 30, 0.2, "ping over the opted port")
    lines = docker.exec(denied, "ip", "-o", "-4", "addr").stdout.splitlines()
    ifname = next(line.split()[1] for line in lines if f" {denied_ip}/" in line)
    print(f"{rig.case.label}: ifname option gave {ifname}")  # every engine so far: eth<N>


def test_nat_masquerade_and_published_port(rig: EngineRig, docker: Docker,
                                           outside: NetnsHost) -> None:
    host_side = own_subnet(60).rsplit(".", 1)[0] + ".1"
    host_port = 30000 + 100 * INSTANCE + CASES.index(rig.case)
    net = docker.network(_dpid(rig, 3), "ovs.bridge.mode=nat", internal=False,
                         args=["--subnet", _subnet(rig, 3)]).args
    server = docker.run_container(net, "-p", f"{host_port}:80")
    client = docker.run_container(net, "--dns", outside.ip)
    _ready(rig, net, server, client)
    gateway = _gateway(rig, net)
    reply = wait_until(lambda: docker.exec(client, "nc", "-w", "3", outside.ip,
                                           str(PEER_PORT)).stdout, 30, 0.3, "the outside host")
    assert reply.strip() == f"peer {host_side}"  # masqueraded
    docker.exec(server, "nc", "-ll", "-p", "80", "-e", "echo", "hi", check=True, detach=True)
    assert wait_until(lambda: tcp_reply(gateway, host_port) == "hi\n", 20, 0.2, "-p via gateway")
    assert outside.exec("busybox", "nc", "-w", "3", host_side, str(host_port)).stdout == "hi\n"


def _forwards_from_internal(rig: EngineRig) -> bool:
    """Whether Docker's embedded DNS forwards a query to a (non-loopback) server from a container
    on --internal networks only: always before 25, never in 25.0 to 26.0.1, and again from 26.0.2
    on, from the container's namespace (so only where the network routes: nat or routed).
    From 25 on it never uses a resolver on the host's loopback for such a container (such as
    systemd-resolved's 127.0.0.53 in the host's resolv.conf); that case needs the host's
    resolv.conf changed, which a shared test host cannot have."""
    version = tuple(int(p) for p in rig.version["Version"].split("+")[0].split(".")[:3])
    return version < (25,) or version >= (26, 0, 2)


def test_dns_forwarding_on_nat_networks_with_and_without_internal(
    rig: EngineRig, docker: Docker, outside: NetnsHost
) -> None:
    open_net = docker.network(_dpid(rig, 10), "ovs.bridge.mode=nat", internal=False,
                              args=["--subnet", _subnet(rig, 4)]).args
    internal = docker.network(_dpid(rig, 11), "ovs.bridge.mode=nat",
                              args=["--subnet", _subnet(rig, 5)]).args
    # Docker's embedded resolver forwards to --dns from the container's namespace: through
    # dovesnap's gateway and NAT, under FAUCET's policy like any other packet.
    clients = {net: docker.run_container(net, "--dns", outside.ip) for net in (open_net, internal)}
    for net, name in clients.items():
        _ready(rig, net, name)
        gateway = _gateway(rig, net)
        wait_until(lambda n=name, g=gateway: docker.ping(n, g), 30, 0.2, "gateway")
    for net, name in clients.items():
        answered = DNS_ANSWER in lookup(docker, name, "probe.dovesnap.test")
        kind = "internal" if net == internal else "nat"
        print(f"{rig.case.label}: {kind} network: {'answered' if answered else 'no answer'}")
        assert answered is (net == open_net or _forwards_from_internal(rig)), (kind, rig.version)


def test_ipv6(rig: EngineRig, docker: Docker) -> None:
    index = 16 * CASES.index(rig.case)
    v6 = own_subnet6(index + 1)
    net = docker.network(_dpid(rig, 5), "ovs.bridge.mode=nat", args=[
        "--ipv6", "--subnet", _subnet(rig, 6), "--subnet", v6]).args
    c = docker.run_container(net)
    _ready(rig, net, c)
    gw6 = v6.replace("::/64", "::1")
    assert f"default via {gw6}" in docker.exec(c, "ip", "-6", "route").stdout
    assert wait_until(lambda: docker.exec(c, "ping6", "-c", "1", "-W", "1", gw6).returncode == 0,
                      60, 0.2, "IPv6 gateway")
    if rig.api < (1, 48):
        print(f"{rig.case.label}: no IPv6-only networks (--ipv4=false) before Docker 28")
        return
    v6only = own_subnet6(index + 2)
    only = docker.network(_dpid(rig, 6), "ovs.bridge.mode=nat", args=[
        "--ipv4=false", "--ipv6", "--subnet", v6only]).args
    alone = docker.run_container(only)
    _ready(rig, only, alone)
    gw_only = v6only.replace("::/64", "::1")
    assert "inet " not in docker.exec(alone, "ip", "-o", "addr", "show", "eth0").stdout
    assert wait_until(lambda: docker.exec(alone, "ping6", "-c", "1", "-W", "1", gw_only)
                      .returncode == 0, 60, 0.2, "IPv6-only network's gateway")


def test_gateway_priority(rig: EngineRig, docker: Docker) -> None:
    """Docker 28's --gw-priority picks which network's gateway is the default route. (A
    dual-stack network's gateway still wins over a single-stack one of higher priority, as
    Docker 28.5 documents in its code: keep both networks single-stack to choose.)"""
    if rig.api < (1, 48):
        pytest.skip(f"Docker {rig.version['Version']} has no --gw-priority (28.0, API 1.48)")
    first = docker.network(_dpid(rig, 12), "ovs.bridge.mode=nat",
                           args=["--subnet", _subnet(rig, 7)]).args
    second = docker.network(_dpid(rig, 13), "ovs.bridge.mode=nat",
                            args=["--subnet", _subnet(rig, 9)]).args
    c = docker.run_container(first)
    run([*docker.cli, "network", "connect", "--gw-priority", "10", second, c])
    _ready(rig, first, c)
    _ready(rig, second, c)
    assert f"default via {_gateway(rig, second)}" in docker.exec(c, "ip", "route").stdout


def test_restart_recovery(rig: EngineRig, docker: Docker) -> None:
    daemon = _daemon(rig)
    net = docker.network(_dpid(rig, 8), args=["--subnet", _subnet(rig, 8)]).args
    a, b = docker.run_container(net), docker.run_container(net, "--label", f"{ACL}=allowall")
    _ready(rig, net, a, b)
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "first ping")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGKILL)  # FAUCET and OVS keep forwarding meanwhile
    daemon.proc.wait(10)
    daemon.proc = None
    assert docker.ping(a, docker.ip(b), count=3)
    started = time.monotonic()
    rig.start_dovesnap()
    c = docker.run_container(net)
    _ready(rig, net, c)
    assert wait_until(lambda: docker.ping(c, docker.ip(a)), 30, 0.2, "new container after restart")
    TIMES[rig.case.label]["recovery"] = time.monotonic() - started
    assert _port(daemon, net, b)["acls_in"] == ["allowall"]  # type: ignore[index]


def test_revival_of_containers_the_engine_gave_up_on(rig: EngineRig, docker: Docker) -> None:
    if rig.case.suite is None:
        pytest.skip("the host's dockerd is shared: test_reboot.py restarts it (whole suite only)")
    daemon = _daemon(rig)
    net = docker.network(_dpid(rig, 9), args=["--subnet", _subnet(rig, 0)]).args
    a = docker.run_container(net, "--restart", "always")
    b = docker.run_container(net, "--restart", "always")
    _ready(rig, net, a, b)
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "first ping")
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.proc = None
    rig.stop_engine()  # dockerd stops the containers; their restart policy stays
    rig.start_engine()
    time.sleep(20)  # dockerd retries a missing network plugin for ~15 s, then gives up
    assert container_json(docker, a)["State"]["Running"] is False
    started = time.monotonic()
    rig.start_dovesnap()
    for name in (a, b):
        wait_until(lambda n=name: container_json(docker, n)["State"]["Running"], 60, 0.5,
                   what=f"{name} started by dovesnap")
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 60, 0.3, "ping after revival")
    TIMES[rig.case.label]["revival"] = time.monotonic() - started
