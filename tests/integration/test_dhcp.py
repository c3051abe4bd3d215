"""DHCP networks with real packets: the network's own DHCP server leases the containers' addresses.

The server is busybox ``udhcpd`` in a namespace of the test's making, attached to the network
with ``add_ports`` through a veth. Its pool is in 198.18.0.0/15 (benchmarking addresses) with the
instance number in it, so parallel suites never clash.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.netns_hosts import NetnsHost, netns_host
from tests.integration.rig import (
    DOCKER,
    DRIVER,
    INSTANCE,
    PLUGIN_SOCKET,
    Daemon,
    Docker,
    run,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

THIRD = 200 + INSTANCE % 50
SERVER = f"198.18.{THIRD}.1"
POOL = ipaddress.ip_network(f"198.18.{THIRD}.0/24")
POOL_START, POOL_END = f"198.18.{THIRD}.10", f"198.18.{THIRD}.60"
LEASE_TIMEOUT = 15.0


@dataclass
class DhcpServer:
    host: NetnsHost
    lease_file: Path
    proc: subprocess.Popen[bytes]

    def leases(self) -> str:
        """``dumpleases`` after asking udhcpd to write its leases now (SIGUSR1)."""
        before = self.lease_file.stat().st_mtime_ns
        self.proc.send_signal(signal.SIGUSR1)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: self.lease_file.stat().st_mtime_ns != before, 2, 0.02)
        return run(["busybox", "dumpleases", "-f", str(self.lease_file)]).stdout


@pytest.fixture
def dhcp_server(tmp_path: Path) -> Iterator[DhcpServer]:
    with netns_host(ns_address=f"{SERVER}/24") as host:
        lease_file = tmp_path / "udhcpd.leases"
        lease_file.touch()
        conf = tmp_path / "udhcpd.conf"
        conf.write_text(
            f"start {POOL_START}\nend {POOL_END}\ninterface {host.ns_ifname}\n"
            f"lease_file {lease_file}\npidfile {tmp_path / 'udhcpd.pid'}\n"
            "option subnet 255.255.255.0\noption lease 600\nauto_time 3600\n"
        )
        log = open(tmp_path / "udhcpd.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "busybox", "udhcpd", "-f", str(conf)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: ":67 " in host.exec("ss", "-lun").stdout, 10, 0.05, "udhcpd up")
            yield DhcpServer(host, lease_file, proc)
        finally:
            proc.kill()
            proc.wait(5)
            log.close()


def dhcp_network(docker: Docker, dpid: str, server_if: str, *extra: str,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
    name = unique("dhcp")
    argv = [DOCKER, "network", "create", "-d", DRIVER, "--ipam-driver", "null",
            "-o", f"ovs.bridge.dpid={dpid}", "-o", "ovs.bridge.dhcp=true",
            "-o", f"ovs.bridge.add_ports={server_if}", *extra, name]
    result = run(argv, check=False)
    if result.returncode == 0:
        docker.networks.append(name)
    elif check:
        raise AssertionError(f"network create failed: {result.stderr}")
    result.args = name  # type: ignore[assignment]
    return result


def _net_status(daemon: Daemon, network: str) -> tuple[str, dict[str, Any]]:
    for net_id, value in daemon.status().items():
        if value["NetworkName"] == network:
            return net_id, value
    raise AssertionError(f"network {network} not in status")


def _container_status(daemon: Daemon, network: str, container: str) -> tuple[str, dict[str, Any]]:
    containers = _net_status(daemon, network)[1]["DynamicNetworkStates"]["Containers"]
    for ep_id, value in containers.items():
        if value["Name"] == container:
            return ep_id, value
    return "", {}


def _leased_ip(daemon: Daemon, network: str, container: str) -> str:
    ip = _container_status(daemon, network, container)[1].get("HostIP", "")
    return ip if ip and ipaddress.ip_address(ip) in POOL else ""


def _wait_lease(daemon: Daemon, network: str, container: str) -> tuple[str, float]:
    started = time.monotonic()
    ip = wait_until(lambda: _leased_ip(daemon, network, container), LEASE_TIMEOUT, 0.05,
                    f"a DHCP lease for {container}")
    return ip, time.monotonic() - started


def _clients(daemon: Daemon, endpoint_id: str = "") -> list[int]:
    """Host pids of the DHCP clients this daemon started (for one endpoint, if given)."""
    run_dir = str(daemon.workdir / "state" / "dhcp")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmdline]
        if not any(a.endswith("udhcpc") for a in args[:2]) or not any(run_dir in a for a in args):
            continue
        if endpoint_id and not any(endpoint_id in a for a in args):
            continue
        found.append(int(entry.name))
    return found


def _container_pid(container: str) -> int:
    return int(run([DOCKER, "inspect", "-f", "{{.State.Pid}}", container]).stdout.strip())


def _endpoint_oper_info(network_id: str, endpoint_id: str) -> dict[str, Any]:
    """Ask the plugin what Docker's EndpointOperInfo would get."""

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(str(PLUGIN_SOCKET))

    conn = UnixConnection("localhost")
    try:
        body = json.dumps({"NetworkID": network_id, "EndpointID": endpoint_id})
        conn.request("POST", "/NetworkDriver.EndpointOperInfo", body)
        reply: dict[str, Any] = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return reply


def test_containers_lease_from_the_networks_dhcp_server(
    dovesnap: Daemon, docker: Docker, dhcp_server: DhcpServer
) -> None:
    server_if = dhcp_server.host.host_ifname
    net = dhcp_network(docker, "0x7e4001", server_if, "--internal",
                       "-o", "ovs.bridge.preallocate_ports=2").args
    net_id, net_status = _net_status(dovesnap, net)
    assert net_status["UseDHCP"] is True
    # The server's port stays out of the preallocated range, which is kept for containers.
    server_port = net_status["DynamicNetworkStates"]["ExternalPorts"][server_if]["OFPort"]
    assert server_port not in (1, 2)

    name = docker.run_container(net)
    ip, seconds = _wait_lease(dovesnap, net, name)
    print(f"first lease after {seconds:.2f}s")
    ep_id, ep_status = _container_status(dovesnap, net, name)
    assert ep_status["OFPort"] == 1
    # The client configured the container's interface, and packets flow to the server.
    assert f"inet {ip}/24" in docker.exec(name, "ip", "-4", "addr", "show", "eth0").stdout
    assert wait_until(lambda: docker.ping(name, SERVER), 10, 0.2, "ping the DHCP server")
    # Docker's EndpointOperInfo reports the lease too.
    assert _endpoint_oper_info(net_id, ep_id)["Value"]["Address"] == f"{ip}/24"
    # The server leased that address to the container's name.
    leases = wait_until(lambda: (lambda t: t if name in t else "")(dhcp_server.leases()), 5, 0.2,
                        "the container's name in the server's leases")
    assert any(ip in line and name in line for line in leases.splitlines())
    # The client is outside the container's PID namespace but inside its network namespace.
    assert "udhcpc" not in docker.exec(name, "ps").stdout
    clients = _clients(dovesnap, ep_id)
    assert len(clients) == 1
    container_pid = _container_pid(name)
    assert os.readlink(f"/proc/{clients[0]}/ns/net") == os.readlink(f"/proc/{container_pid}/ns/net")
    assert os.readlink(f"/proc/{clients[0]}/ns/pid") != os.readlink(f"/proc/{container_pid}/ns/pid")

    # A client that dies is started again and gets the lease back.
    os.kill(clients[0], signal.SIGKILL)
    wait_until(lambda: _clients(dovesnap, ep_id) and _clients(dovesnap, ep_id) != clients, 10,
               0.05, "a new client after the old one died")
    _wait_lease(dovesnap, net, name)

    # docker restart: a new endpoint, a new client, a lease again; the old client is gone.
    run([DOCKER, "restart", "-t", "0", name])
    restarted_ip, seconds = _wait_lease(dovesnap, net, name)
    print(f"lease after docker restart in {seconds:.2f}s")
    new_ep_id = _container_status(dovesnap, net, name)[0]
    assert new_ep_id != ep_id
    assert not _clients(dovesnap, ep_id)
    assert len(_clients(dovesnap, new_ep_id)) == 1
    assert f"inet {restarted_ip}/24" in docker.exec(name, "ip", "-4", "addr", "show").stdout

    # Removing the container stops and reaps its client.
    docker.remove_container(name)
    wait_until(lambda: not _clients(dovesnap, new_ep_id), 10, 0.05, "the client to stop")
    assert not any(
        Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0
        for pid in _clients(dovesnap)
        if Path(f"/proc/{pid}").exists()
    )


def test_dovesnap_restart_adopts_clients(
    dovesnap: Daemon, docker: Docker, dhcp_server: DhcpServer
) -> None:
    net = dhcp_network(docker, "0x7e4002", dhcp_server.host.host_ifname, "--internal").args
    name, killed = docker.run_container(net), docker.run_container(net)
    ip, _ = _wait_lease(dovesnap, net, name)
    _wait_lease(dovesnap, net, killed)
    ep_id = _container_status(dovesnap, net, name)[0]
    killed_ep_id = _container_status(dovesnap, net, killed)[0]
    before = _clients(dovesnap, ep_id)
    assert len(before) == 1
    try:
        dovesnap.stop()
        # The client keeps the container's lease while dovesnap is down.
        assert _clients(dovesnap, ep_id) == before
        assert f"inet {ip}/24" in docker.exec(name, "ip", "-4", "addr", "show", "eth0").stdout
        # The other client dies meanwhile (as when a service manager kills what is left).
        for pid in _clients(dovesnap, killed_ep_id):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _clients(dovesnap, killed_ep_id), 5, 0.02, "the client gone")
    finally:
        dovesnap.start()
    # Adopted, not duplicated, and asked to renew, so the address is known again at once.
    again, seconds = _wait_lease(dovesnap, net, name)
    print(f"lease known again {seconds:.2f}s after dovesnap answered")
    assert again == ip
    assert _clients(dovesnap, ep_id) == before
    # The container whose client died gets a new one (its namespace found through Docker).
    _wait_lease(dovesnap, net, killed)
    assert len(_clients(dovesnap, killed_ep_id)) == 1
    for container, endpoint in ((name, ep_id), (killed, killed_ep_id)):
        docker.remove_container(container)
        wait_until(lambda e=endpoint: not _clients(dovesnap, e), 10, 0.05, "the client to stop")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("--internal", "-o", "ovs.bridge.mode=nat"), "mode flat"),
        (("--internal", "-o", "ovs.bridge.mode=routed"), "mode flat"),
        ((), "--internal"),
    ],
)
def test_dhcp_network_must_be_flat_and_internal(
    dovesnap: Daemon, docker: Docker, extra: tuple[str, ...], reason: str
) -> None:
    with netns_host() as host:
        result = dhcp_network(docker, "0x7e4003", host.host_ifname, *extra, check=False)
        assert result.returncode != 0
        assert "ovs.bridge.dhcp" in result.stderr and reason in result.stderr
        assert not any(v["BridgeDpid"] == "0x7e4003" for v in dovesnap.status().values())


def test_dhcp_network_needs_null_ipam(dovesnap: Daemon, docker: Docker) -> None:
    result = docker.network("ovs.bridge.dpid=0x7e4004", "ovs.bridge.dhcp=true", check=False)
    assert result.returncode != 0
    assert "ovs.bridge.dhcp" in result.stderr and "--ipam-driver null" in result.stderr
