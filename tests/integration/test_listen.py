"""Who can reach what dovesnap listens on: the embedded FAUCET and Gauge (OpenFlow and
Prometheus) from a container and from the host; the status server under a flood of idle
connections from an address it does not serve, while Docker keeps starting containers.

Addresses are the run's own: 10.<run*10+1>.x.0/24 for networks and namespaces.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from tests.integration.rig import DOCKER, INSTANCE, Daemon, Docker, tcp_listening, wait_until

pytestmark = pytest.mark.integration

OWN_NET = 10 * INSTANCE + 1  # second octet of this module's addresses (run 6: 10.61.x.x)


def _subnet(third: int) -> str:
    return f"10.{OWN_NET}.{third}.0/24"


@contextlib.contextmanager
def greeter() -> Iterator[int]:
    """A TCP server on every host address that says hello and hangs up: the control that a
    container can reach the host at all. Yields its (kernel-chosen) port."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        server.close()


def _from_container(container: str, address: str, port: int) -> str:
    """'refused', 'hello' (the greeter) or 'open' (connected: FAUCET says an OpenFlow HELLO,
    in binary), from inside the container."""
    result = subprocess.run([DOCKER, "exec", container, "timeout", "4", "nc", "-w", "2", address,
                             str(port)], capture_output=True, timeout=30, check=False)
    said = (result.stdout + result.stderr).decode(errors="replace")
    if "refused" in said.lower():
        return "refused"
    return "hello" if "hello" in said else "open"


def _http_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_controllers_refuse_containers_and_answer_the_host(dovesnap: Daemon, docker: Docker) -> None:
    inst = dovesnap.instance
    net = docker.network("ovs.bridge.dpid=0x6e1001", "ovs.bridge.mode=nat",
                         subnet=_subnet(1)).args
    c = docker.run_container(net)
    gateway = f"10.{OWN_NET}.1.1"
    wait_until(lambda: docker.ping(c, gateway), 30, 0.2, "the container reaches its gateway")
    # Gauge serves metrics once a datapath is connected to it.
    ports = (inst.faucet_of_port, inst.gauge_of_port, inst.faucet_prom_port, inst.gauge_prom_port)
    wait_until(lambda: all(tcp_listening(p) for p in ports), 60, 0.5, "all four ports listening")
    with greeter() as control:
        assert _from_container(c, gateway, control) == "hello"  # the host is reachable
        seen = {port: _from_container(c, gateway, port) for port in ports}
    assert seen == dict.fromkeys(ports, "refused")
    # From the host they answer: OpenFlow (the bridge is connected) and both metrics pages.
    assert _http_ok(inst.faucet_prom_port) and _http_ok(inst.gauge_prom_port)
    assert all(tcp_listening(p) for p in ports)
