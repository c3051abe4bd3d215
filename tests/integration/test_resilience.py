"""Survives everything, leaks nothing: kill -9 of each part, lost bridges, load, bad input.

This module runs its own dovesnap (instance 21), so it can kill -9 and restart it without
disturbing the suite's dovesnap. Both share one Open vSwitch: two userspace-datapath vswitchd
on one host fight over the "ovs-netdev" tap device, so a private OVS per daemon is not possible.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.reachability import NatRig, nat_rig, outside_host, own_subnet
from tests.integration.rig import INSTANCE as RUN
from tests.integration.rig import (
    Daemon,
    Docker,
    host_links,
    instance_for,
    plugin_answers,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

INSTANCE = instance_for(__name__)


class OwnOvsDaemon(Daemon):
    def vsctl(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ovs-vsctl", *argv], check=check)

    def child_pid(self, name: str) -> int:
        return int((self.workdir / "state" / f"{name}.pid").read_text().split()[0])

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="module")
def daemon(dovesnap: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnOvsDaemon]:
    workdir = Path(tmp_path_factory.mktemp("resilience"))
    own = OwnOvsDaemon(workdir, instance=INSTANCE)
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def docker(daemon: OwnOvsDaemon) -> Iterator[Docker]:
    objects = Docker(driver=INSTANCE.driver)
    try:
        yield objects
    finally:
        objects.cleanup()


def _restart(daemon: OwnOvsDaemon) -> float:
    started = time.monotonic()
    daemon.start()
    return time.monotonic() - started


def _pair(daemon: OwnOvsDaemon, docker: Docker, dpid: str, *opts: str) -> tuple[str, str, str]:
    net = docker.network(f"ovs.bridge.dpid={dpid}", *opts).args
    a, b = docker.run_container(net), docker.run_container(net)
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "first ping")
    return net, a, b


def _recovered_in(docker: Docker, a: str, b: str, timeout: float = 30) -> float:
    started = time.monotonic()
    wait_until(lambda: docker.ping(a, docker.ip(b)), timeout, 0.1, f"ping {a} -> {b}")
    return time.monotonic() - started


def test_kill9_dovesnap_keeps_connectivity_and_serves_again(
    daemon: OwnOvsDaemon, docker: Docker
) -> None:
    net, a, b = _pair(daemon, docker, "0x7e2101")
    faucet_pid = daemon.child_pid("faucet")
    daemon.kill9()
    # OVS and FAUCET outlive the daemon: the containers keep talking meanwhile.
    assert docker.ping(a, docker.ip(b), count=3)
    took = _restart(daemon)
    assert daemon.child_pid("faucet") == faucet_pid, "FAUCET was adopted, not restarted"
    assert _recovered_in(docker, a, b) < 5
    c = docker.run_container(net)
    assert wait_until(lambda: docker.ping(c, docker.ip(a)), 20, 0.2, "new container after restart")
    print(f"dovesnap restart to plugin ready: {took:.2f}s")


def test_faucet_killed_is_restarted_and_new_containers_join(
    daemon: OwnOvsDaemon, docker: Docker
) -> None:
    net, a, b = _pair(daemon, docker, "0x7e2103")
    before = daemon.faucet_yaml.read_text()
    os.kill(daemon.child_pid("faucet"), signal.SIGKILL)
    c = docker.run_container(net)  # joins while FAUCET is down
    started = time.monotonic()
    wait_until(lambda: docker.ping(c, docker.ip(a)), 40, 0.2, "container that joined meanwhile")
    print(f"FAUCET back and new container connected in {time.monotonic() - started:.2f}s")
    assert docker.ping(a, docker.ip(b))
    assert net in daemon.faucet_config()["dps"]
    assert set(json.dumps(before)) and "allowall" in daemon.faucet_yaml.read_text()


def test_deleted_bridge_is_rebuilt_with_ports_at_old_numbers(
    daemon: OwnOvsDaemon, docker: Docker
) -> None:
    net, a, b = _pair(daemon, docker, "0x7e2104")
    bridge = next(v["BridgeName"] for v in daemon.status().values() if v["NetworkName"] == net)
    ports_before = daemon.vsctl("--columns=name,ofport", "find", "Interface",
                                f"external_ids:dovesnap-network-id={_net_id(net)}").stdout
    daemon.vsctl("del-br", bridge)
    took = _recovered_in(docker, a, b, 30)

    def rows(text: str) -> list[str]:
        return sorted(row.strip() for row in text.split("\n\n") if row.strip())

    def ports_now() -> list[str]:
        return rows(daemon.vsctl("--columns=name,ofport", "find", "Interface",
                                 f"external_ids:dovesnap-network-id={_net_id(net)}").stdout)

    try:
        wait_until(lambda: ports_now() == rows(ports_before), 10, 0.2, "ports at old numbers")
    except AssertionError:
        raise AssertionError(f"before {rows(ports_before)}, after {ports_now()}") from None
    print(f"bridge deleted by hand: connectivity back in {took:.2f}s")


def _net_id(name: str) -> str:
    return run(["docker", "network", "inspect", "-f", "{{.Id}}", name]).stdout.strip()


def test_twenty_parallel_starts(daemon: OwnOvsDaemon, docker: Docker) -> None:
    """20 containers started at once, five times over: every one reaches its peers, the
    peer reaches every one, and each port is ok (its flows installed) in the status."""
    net = docker.network("ovs.bridge.dpid=0x7e2105", subnet=own_subnet(5)).args
    peer = docker.run_container(net)
    peer_ip = docker.ip(peer)
    first_lost = 0
    for round_no in range(5):
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            names = list(pool.map(lambda _: docker.run_container(net), range(20)))
        status = next(v for v in daemon.status().values() if v["NetworkName"] == net)
        ports = [c["OFPort"] for c in status["DynamicNetworkStates"]["Containers"].values()]
        assert len(ports) == 21 and len(set(ports)) == 21
        # Each pings the peer at once; the first answer counts only for the report.
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            first = list(pool.map(lambda n: docker.ping(n, peer_ip), names))
        first_lost += first.count(False)
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            ok = list(pool.map(lambda n: wait_until(
                lambda: docker.ping(n, peer_ip) and docker.ping(peer, docker.ip(n)), 10, 0.3,
                f"{n} and the peer reach each other"), names))
        assert all(ok)
        wait_until(lambda: all(
            c["State"] == "ok" for v in daemon.status().values() if v["NetworkName"] == net
            for c in v["DynamicNetworkStates"]["Containers"].values()), 20, 0.3, "ports ok")
        print(f"round {round_no + 1}: 20 parallel containers all connected "
              f"{time.monotonic() - started:.2f}s after the first docker run")
        for name in names:
            docker.remove_container(name)
    print(f"first pings lost in 100 parallel starts: {first_lost}")


def _published_port(offset: int) -> int:
    return 18000 + RUN * 100 + offset


def test_gateway_nat_and_published_ports_after_every_restart(
    daemon: OwnOvsDaemon, docker: Docker
) -> None:
    """Not only container-to-container traffic: the gateway, NAT to an outside host and -p
    publishing come back after dovesnap is killed and after its bridge is deleted."""
    with outside_host(21) as outside:
        rig = nat_rig(docker, outside, "0x7e2107", 21, _published_port(21))
        rig.all_work(60, "at the start")
        daemon.kill9()
        _restart(daemon)
        took = _back_in(rig, 30, "after kill -9 of dovesnap")
        print(f"dovesnap killed: every path works {took:.2f}s after its restart")
        bridge = next(v["BridgeName"] for v in daemon.status().values()
                      if v["NetworkName"] == rig.network)
        started = time.monotonic()
        daemon.vsctl("del-br", bridge)
        took = _back_in(rig, 30, "after ovs-vsctl del-br", started)
        print(f"bridge deleted: gateway back in {took:.2f}s (then container, NAT and -p)")
        # ovs-vswitchd killed and restarted: test_own_ovs.py (dovesnap's own OVS).


def _back_in(rig: NatRig, timeout: float, what: str, since: float | None = None) -> float:
    """Seconds until the gateway answers (polled finely: the figure the issue measured), after
    checking that every other path works too."""
    started = time.monotonic() if since is None else since
    wait_until(lambda: rig.docker.ping(rig.client, rig.gateway), timeout, 0.1,
               f"gateway {what}")
    took = time.monotonic() - started
    rig.all_work(timeout, what)
    return took


def test_cycles_leave_nothing_behind(daemon: OwnOvsDaemon, docker: Docker) -> None:
    bridges_before = set(daemon.vsctl("list-br").stdout.split())
    dps_before = set(daemon.faucet_config().get("dps") or {})
    made: set[str] = set()  # every veth end and bridge this test caused
    for cycle in range(15):
        net = docker.network(f"ovs.bridge.dpid=0x7e22{cycle:02x}",
                             "ovs.bridge.preallocate_ports=2").args
        for _ in range(2):
            docker.run_container(net)
        wait_until(lambda n=net: daemon.dp(n), 10, what="DP written")
        for value in daemon.status().values():
            made.add(value["BridgeName"])
            for ep_id in value["DynamicNetworkStates"]["Containers"]:
                made |= {"odsve" + ep_id[:5], "ethc" + ep_id[:5]}
        for name in list(docker.containers):
            docker.remove_container(name)
        docker.remove_network(net)
    assert len(made) >= 15 * 5
    def left() -> set[str]:
        return made & (set(host_links("odsve")) | set(host_links("ethc")) | set(host_links("odsbr")))

    try:
        wait_until(lambda: not left(), 15, what="links gone")
    except AssertionError:
        raise AssertionError(f"left behind: {sorted(left())}") from None
    assert not made & (set(daemon.vsctl("list-br").stdout.split()) - bridges_before)
    assert set(daemon.faucet_config().get("dps") or {}) == dps_before
    assert not daemon.status()


def test_hostile_labels_fail_closed_and_config_stays_valid(
    daemon: OwnOvsDaemon, docker: Docker
) -> None:
    net, a, _b = _pair(daemon, docker, "0x7e2106")
    hostile = {
        "dovesnap.faucet.portacl=denyall\n  injected: {dp_id: 1}": "yaml",
        "dovesnap.faucet.portacl=$(touch /tmp/dovesnap-pwned);`id`": "shell",
        "dovesnap.faucet.portacl=" + "a" * 5000: "huge",
        "dovesnap.faucet.mac_prefix=zz:zz": "mac",
        "dovesnap.faucet.mac_prefix=01:00": "multicast mac",
    }
    names = [docker.run_container(net, "--label", label) for label in hostile]

    def reasons() -> list[str]:
        status = next(v for v in daemon.status().values() if v["NetworkName"] == net)
        got = {c["Name"]: c["FailClosed"] for c in status["DynamicNetworkStates"]["Containers"].values()}
        return [got.get(n, "") for n in names]

    wait_until(lambda: all(reasons()), 20, what="every hostile container failed closed")
    assert not Path("/tmp/dovesnap-pwned").exists()
    check = run([sys.executable, "-m", "faucet.check_faucet_config", str(daemon.faucet_yaml)],
                check=False)
    assert check.returncode == 0
    assert "injected" not in daemon.faucet_yaml.read_text()
    for name in names:
        assert not docker.ping(name, docker.ip(a), count=1)
    c = docker.run_container(net)
    assert wait_until(lambda: docker.ping(c, docker.ip(a)), 20, 0.2, "daemon still serves")


def _raw(sock: Path, payload: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(sock))
        client.sendall(payload)
        chunks = []
        while True:
            data = client.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


@pytest.mark.parametrize(
    "payload",
    [
        b"POST /NetworkDriver.CreateNetwork HTTP/1.0\r\nContent-Length: 9\r\n\r\n{not json",
        b'POST /NetworkDriver.Join HTTP/1.0\r\nContent-Length: 17\r\n\r\n{"NetworkID": [1]}',
        b"POST /NetworkDriver.CreateNetwork HTTP/1.0\r\nContent-Length: 3000000\r\n\r\n"
        + b"[" * 3_000_000,
        b"\x00\xff garbage that is not HTTP at all\r\n\r\n",
    ],
)
def test_socket_garbage_gets_an_error_not_a_crash(daemon: OwnOvsDaemon, payload: bytes) -> None:
    reply = _raw(INSTANCE.socket, payload)
    assert reply.startswith(b"HTTP/1.")
    assert b" 500 " not in reply.split(b"\r\n")[0]
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert plugin_answers(INSTANCE.socket, timeout=10)  # the reply names NetworkDriver


def test_status_refuses_unauthorised_host(daemon: OwnOvsDaemon) -> None:
    ns, host_if, ns_if = "dstest-auth", "dsauth0", "dsauth1"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if])
        run(["ip", "link", "set", ns_if, "netns", ns])
        run(["ip", "addr", "add", "198.51.100.1/30", "dev", host_if])
        run(["ip", "link", "set", host_if, "up"])
        run(["ip", "netns", "exec", ns, "ip", "addr", "add", "198.51.100.2/30", "dev", ns_if])
        run(["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"])
        url = f"http://198.51.100.1:{INSTANCE.status_port}/networks"
        # Not even a 403: the connection is refused (the status server listens on loopback
        # while only loopback may read it), or cut off the moment it is accepted.
        code = run(["ip", "netns", "exec", ns, sys.executable, "-c",
                    "import sys, urllib.request, urllib.error\n"
                    "try:\n urllib.request.urlopen(sys.argv[1], timeout=5)\n print(200)\n"
                    "except urllib.error.HTTPError as e:\n print(e.code)\n"
                    "except (urllib.error.URLError, ConnectionError):\n print('no answer')",
                    url]).stdout.strip()
        assert code == "no answer"
        assert isinstance(daemon.status(), dict)  # loopback is allowed
    finally:
        run(["ip", "link", "del", host_if], check=False)
        run(["ip", "netns", "del", ns], check=False)
