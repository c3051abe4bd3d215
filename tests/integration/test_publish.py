"""``docker run -p`` on a nat network takes only host ports nobody uses: refused, as Docker
refuses, when a program on the host listens on it or another container publishes it.

Addresses are the run's own: 10.<run*10+2>.x.0/24.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.rig import DOCKER, IMAGE, INSTANCE, Daemon, Docker, run, unique, wait_until

pytestmark = pytest.mark.integration

OWN_NET = 10 * INSTANCE + 2  # second octet of this module's addresses (run 6: 10.62.x.x)
ALLOCATED = "port is already allocated"


@contextlib.contextmanager
def bound(kind: int) -> Iterator[int]:
    """A socket of ``kind`` (SOCK_STREAM listening, or SOCK_DGRAM) on every address; its port."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(("0.0.0.0", 0))
        if kind == socket.SOCK_STREAM:
            sock.listen(4)
        yield sock.getsockname()[1]
    finally:
        sock.close()


def free_port() -> int:
    with bound(socket.SOCK_STREAM) as port:
        return port


def publish(docker: Docker, net: str, *ports: str) -> subprocess.CompletedProcess[str]:
    """``docker run -d -p ...``; the container is removed at the end whether it started or not."""
    name = unique("c")
    docker.containers.append(name)
    flags = [arg for port in ports for arg in ("-p", port)]
    return run([DOCKER, "run", "-d", "--name", name, "--net", net, *flags, IMAGE, "sleep", "3600"],
               check=False)


def test_a_host_port_a_program_listens_on_is_refused(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x6e2001", "ovs.bridge.mode=nat", internal=False,
                         subnet=f"10.{OWN_NET}.1.0/24").args
    with bound(socket.SOCK_STREAM) as tcp, bound(socket.SOCK_DGRAM) as udp:
        refused = publish(docker, net, f"{tcp}:80")
        assert refused.returncode != 0 and ALLOCATED in refused.stderr, refused.stderr
        assert f"0.0.0.0:{tcp}/tcp" in refused.stderr
        refused = publish(docker, net, f"{udp}:53/udp")
        assert refused.returncode != 0 and ALLOCATED in refused.stderr, refused.stderr
        # the same port in the other protocol is free
        assert publish(docker, net, f"{tcp}:53/udp").returncode == 0


def test_a_host_port_another_container_publishes_is_refused_until_it_goes(
    dovesnap: Daemon, docker: Docker
) -> None:
    first_net = docker.network("ovs.bridge.dpid=0x6e2002", "ovs.bridge.mode=nat", internal=False,
                               subnet=f"10.{OWN_NET}.2.0/24").args
    other_net = docker.network("ovs.bridge.dpid=0x6e2003", "ovs.bridge.mode=nat", internal=False,
                               subnet=f"10.{OWN_NET}.3.0/24").args
    port = free_port()
    first = publish(docker, first_net, f"{port}:80")
    assert first.returncode == 0, first.stderr
    for net in (first_net, other_net):
        second = publish(docker, net, f"{port}:8080")
        assert second.returncode != 0 and ALLOCATED in second.stderr, second.stderr
    docker.remove_container(docker.containers[0])

    def published_again() -> bool:
        return publish(docker, other_net, f"{port}:8080").returncode == 0

    wait_until(published_again, 30, 1.0, "the port free again once its container is gone")
