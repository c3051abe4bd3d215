"""What "a nat network works" means, checked with real packets after every kind of restart.

A ``NatRig`` is a nat network of the test's own making (addresses from the run's own range), a
server container publishing a port (``-p``), a client container, and an outside host: a
namespace on a veth whose host end carries an address of that range, with no route back to the
containers, so only masqueraded traffic gets its answer. ``check()`` says what works:
container to container, container to gateway, container to the outside host (masqueraded),
the published port from the host and from the outside host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.integration.netns_hosts import NetnsHost, netns_host, tcp_reply
from tests.integration.rig import INSTANCE, Docker, wait_until
from tests.integration.rig import own_subnet as rig_subnet

OUTSIDE_PORT = 7013  # the outside host's "which address did you come from" server
SERVER_PORT = 80  # inside the server container


def own_subnet(index: int) -> str:
    """A /24 of this run's own range, in the /16 these tests keep for themselves (the 9th)."""
    return rig_subnet(8 * 256 + index)


def own_outside(index: int) -> tuple[str, str]:
    """(host end, outside host) addresses of a /30 of this run's own range."""
    base = 4 * index
    return f"10.{INSTANCE * 10 + 9}.0.{base + 1}/30", f"10.{INSTANCE * 10 + 9}.0.{base + 2}/30"


@dataclass
class NatRig:
    docker: Docker
    network: str
    gateway: str
    host_ip: str  # the host end of the outside veth: where -p is published for the outside
    published: int  # the host port of the server's -p
    outside: NetnsHost
    server: str = ""
    client: str = ""
    seen: dict[str, bool] = field(default_factory=dict)

    def start_server(self, container: str) -> None:
        """(Again, after a restart of the container) serve ``hi`` on the published port."""
        self.docker.exec(container, "nc", "-ll", "-p", str(SERVER_PORT), "-e", "echo", "hi",
                         check=True, detach=True)

    def check(self) -> dict[str, bool]:
        """Each path, once (no waiting): what works right now."""
        d = self.docker
        server_ip = d.ip(self.server)
        outside_says = d.exec(self.client, "nc", "-w", "2", self.outside.ip,
                              str(OUTSIDE_PORT)).stdout.strip()
        self.seen = {
            "container": d.ping(self.client, server_ip),
            "gateway": d.ping(self.client, self.gateway),
            "nat": outside_says == f"peer {self.host_ip}",
            "published from host": tcp_reply(self.host_ip, self.published) == "hi\n",
            "published from outside": self.outside.exec(
                "busybox", "nc", "-w", "2", self.host_ip, str(self.published)).stdout == "hi\n",
        }
        return self.seen

    def all_work(self, timeout: float, what: str) -> None:
        try:
            wait_until(lambda: all(self.check().values()), timeout, 0.3, what)
        except AssertionError:
            broken = [k for k, ok in self.seen.items() if not ok]
            raise AssertionError(f"{what}: not working after {timeout}s: {broken}") from None


@contextlib.contextmanager
def outside_host(index: int) -> Iterator[NetnsHost]:
    """The outside host (removed afterwards): it tells each client the address it came from."""
    host_end, far_end = own_outside(index)
    with netns_host(far_end, host_end) as outside:
        outside.serve_peer_address(OUTSIDE_PORT)
        yield outside


def nat_rig(docker: Docker, outside: NetnsHost, dpid: str, index: int, published: int,
            run_extra: tuple[str, ...] = ()) -> NatRig:
    """A nat network with a publishing server and a client (``docker.cleanup()`` removes
    them); the outside host from ``outside_host(index)``."""
    subnet = own_subnet(index)
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    network = docker.network(f"ovs.bridge.dpid={dpid}", "ovs.bridge.mode=nat",
                             internal=False, subnet=subnet).args
    host_ip = own_outside(index)[0].split("/")[0]
    rig = NatRig(docker, network, gateway, host_ip, published, outside)
    rig.server = docker.run_container(network, "-p", f"{published}:{SERVER_PORT}", *run_extra)
    rig.client = docker.run_container(network, *run_extra)
    rig.start_server(rig.server)
    return rig
