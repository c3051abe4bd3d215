"""The DHCP hooks' life cycle against stateful fakes: processes that run until signalled, a
namespace where the container's interface appears when Docker moves it, pidfiles on disk."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import ConflictError
from dovesnap.features.dhcp.hooks import DhcpHooks
from dovesnap.features.dhcp.plan import ClientPlan, RunPaths, parse_pidfile_name
from dovesnap.model.names import container_veth, host_veth
from dovesnap.model.network import parse_network
from tests.unit.fakes import eventually

NET = "1" * 64
EP = "2" * 64
EP2 = "3" * 64
CONTAINER = "c" * 64
SANDBOX = "/run/docker/netns/0123abcd"
PROGRAM = (("/usr/sbin/udhcpc",), "/usr/bin/nsenter")


class FakeProcess:
    """Runs until TERM or KILL (or ``exit()``); remembers every signal."""

    next_pid = 1000

    def __init__(self, plan: ClientPlan | None = None) -> None:
        FakeProcess.next_pid += 1
        self._pid = FakeProcess.next_pid
        self.plan = plan
        self.signals: list[int] = []
        self.forgotten = False
        self._exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def running(self) -> bool:
        return not self._exited.done()

    def exit(self) -> None:
        if not self._exited.done():
            self._exited.set_result(None)

    def send(self, signum: int) -> None:
        if not self.running:
            return
        self.signals.append(signum)
        if signum in (signal.SIGTERM, signal.SIGKILL):
            self.exit()

    async def wait(self) -> None:
        await asyncio.shield(self._exited)

    def forget(self) -> None:
        self.forgotten = True


class FakeLauncher:
    """Starts FakeProcesses and writes their pidfiles, as the real launcher does."""

    def __init__(self) -> None:
        self.started: list[FakeProcess] = []
        self.left_running: dict[Path, FakeProcess] = {}  # by pidfile: from "an earlier run"

    def start(self, plan: ClientPlan) -> FakeProcess:
        process = FakeProcess(plan)
        plan.pidfile.parent.mkdir(parents=True, exist_ok=True)
        plan.pidfile.write_text(f"{process.pid}\n")
        self.started.append(process)
        return process

    def adopt(self, pidfile: Path, script: Path) -> FakeProcess | None:
        process = self.left_running.get(pidfile)
        return process if process is not None and process.running else None

    def running(self) -> list[FakeProcess]:
        return [p for p in [*self.started, *self.left_running.values()] if p.running]


class FakeNetns:
    """Containers' namespaces; an interface shows up once Docker has moved and renamed it."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, str] = {}
        self.peers: dict[tuple[str, str], str] = {}

    def sandbox_key(self, container_id: str) -> str | None:
        return self.sandboxes.get(container_id)

    def peer_ifname(self, host_ifname: str, netns_path: str) -> str | None:
        return self.peers.get((host_ifname, netns_path))


class FakeReports:
    def __init__(self) -> None:
        self.on_line: Callable[[str], None] | None = None
        self.stopped = False

    def start(self, fifo: Path, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line

    def stop(self) -> None:
        self.stopped = True

    def send(self, line: str) -> None:
        assert self.on_line is not None
        self.on_line(line)


class Rig:
    def __init__(self, tmp_path: Path, program: Any = PROGRAM) -> None:
        self.paths = RunPaths(tmp_path / "dhcp")
        self.launcher = FakeLauncher()
        self.netns = FakeNetns()
        self.reports = FakeReports()
        self.events: list[dict[str, Any]] = []
        self.hooks = DhcpHooks(
            self.paths, self.launcher, self.netns, self.reports, program,
            lambda kind, **fields: self.events.append({"event": kind, **fields}),
            ready_timeout=2.0, orphan_grace=0.05, backoff=lambda _n: 0.0,
        )

    def network(self, dhcp: bool = True, network_id: str = NET) -> Network:
        options = {"ovs.bridge.dpid": "0x7e4020", "ovs.bridge.dhcp": str(dhcp).lower()}
        spec = parse_network(network_id, options, [], [], ("tcp:127.0.0.1:6653",), True)
        net = Network(spec, False, "dhcpnet")
        return net

    def endpoint(self, net: Network, endpoint_id: str = EP, joined: bool = True) -> Endpoint:
        ep = Endpoint(endpoint_id, net.network_id, host_veth(endpoint_id),
                      container_veth(endpoint_id), 1, "0e:00:00:00:00:01")
        if joined:
            ep.sandbox_key = SANDBOX
            ep.container = ContainerInfo(CONTAINER, "web_1")
        net.endpoints[endpoint_id] = ep
        return ep

    def docker_moves_interface(self, ep: Endpoint, netns: str = SANDBOX, name: str = "eth0") -> None:
        self.netns.peers[(ep.host_ifname, netns)] = name

    def bound(self, endpoint_id: str = EP, ip: str = "198.18.204.10") -> None:
        self.reports.send(f"dovesnap-dhcp1 event=bound ep={endpoint_id} ip={ip} mask=24 "
                          "router=198.18.204.1 lease=600")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield Rig(tmp_path)


async def started(rig: Rig, count: int = 1) -> FakeProcess:
    await eventually(lambda: len(rig.launcher.running()) >= count)
    return rig.launcher.running()[-1]


async def test_client_starts_in_the_container_once_docker_moved_its_interface(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    await rig.hooks.endpoint_attached(net, ep)
    await asyncio.sleep(0.1)
    assert rig.launcher.started == []  # still ethcXXXXX in the host: nothing to run on yet
    rig.docker_moves_interface(ep, name=ep.container_ifname)
    await asyncio.sleep(0.1)
    assert rig.launcher.started == []  # moved but not renamed yet
    rig.docker_moves_interface(ep)
    process = await started(rig)
    assert process.plan is not None
    argv = list(process.plan.argv)
    assert argv[1] == f"--net={SANDBOX}" and argv[argv.index("-i") + 1] == "eth0"
    assert argv[argv.index("-x") + 1] == "hostname:web_1"
    assert process.plan.pidfile.exists()

    rig.bound()
    assert ep.address == "198.18.204.10/24"
    assert rig.events[-1]["event"] == "dhcp_lease" and rig.events[-1]["container"] == "web_1"
    rig.reports.send(f"dovesnap-dhcp1 event=renew ep={EP} ip=198.18.204.10 mask=24 router= lease=")
    assert ep.address == "198.18.204.10/24" and rig.events[-1]["renewal"] is True

    await rig.hooks.endpoint_left(net, ep)
    assert process.signals == [signal.SIGTERM] and not process.running
    assert ep.address is None and not process.plan.pidfile.exists()
    await rig.hooks.endpoint_deleted(net, ep)  # idempotent
    assert rig.hooks.clients == {}


async def test_non_dhcp_networks_get_no_client(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network(dhcp=False)
    ep = rig.endpoint(net)
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)
    await asyncio.sleep(0.05)
    assert rig.launcher.started == [] and rig.hooks.clients == {}


async def test_a_client_that_dies_is_started_again(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)
    first = await started(rig)
    first.exit()
    second = await started(rig)
    assert second is not first and len(rig.launcher.started) == 2
    await rig.hooks.endpoint_left(net, ep)
    assert rig.launcher.running() == []


async def test_leave_before_the_interface_appeared_starts_nothing(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    await rig.hooks.endpoint_attached(net, ep)
    await asyncio.sleep(0.05)
    await rig.hooks.endpoint_left(net, ep)
    rig.docker_moves_interface(ep)
    await asyncio.sleep(0.1)
    assert rig.launcher.started == [] and rig.hooks.clients == {}


async def test_interface_that_never_appears_gives_up_and_a_later_join_tries_again(
    rig: Rig,
) -> None:
    rig.hooks.ready_timeout = 0.1
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    await rig.hooks.endpoint_attached(net, ep)
    await eventually(lambda: rig.hooks.clients == {})
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)
    await started(rig)


async def test_restart_adopts_live_clients_stops_the_rest(rig: Rig) -> None:
    other_net = "9" * 64
    kept = FakeProcess()
    gone_endpoint = FakeProcess()
    gone_network = FakeProcess()
    dead = rig.paths.pidfile(NET, "4" * 64)
    for pidfile, process in (
        (rig.paths.pidfile(NET, EP), kept),
        (rig.paths.pidfile(NET, EP2), gone_endpoint),
        (rig.paths.pidfile(other_net, EP2), gone_network),
    ):
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{process.pid}\n")
        rig.launcher.left_running[pidfile] = process
    dead.write_text("1\n")  # its process is gone: only the file is left

    await rig.hooks.daemon_started()
    assert not dead.exists()
    net = rig.network()
    ep = rig.endpoint(net, joined=False)  # restored from OVS: no Join, no sandbox key yet
    await rig.hooks.restored(net)
    assert kept.signals == [signal.SIGUSR1]  # renew, so that it reports the address again
    assert gone_endpoint.signals == [signal.SIGTERM]
    rig.bound()
    assert ep.address == "198.18.204.10/24"
    # Then dovesnap finds the container: the adopted client carries on, no second one.
    ep.container = ContainerInfo(CONTAINER, "web_1")
    await rig.hooks.endpoint_attached(net, ep)
    await asyncio.sleep(0.05)
    assert rig.launcher.started == [] and kept.running
    # The client of a network nobody restored is stopped after the grace period.
    await eventually(lambda: not gone_network.running)
    await eventually(lambda: {parse_pidfile_name(p.name) for p in rig.paths.clients.glob("*.pid")}
                     == {(NET, EP)})


async def test_restored_endpoint_without_client_finds_its_namespace_through_docker(
    rig: Rig,
) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net, joined=False)
    await rig.hooks.restored(net)
    ep.container = ContainerInfo(CONTAINER, "web_1")
    rig.netns.sandboxes[CONTAINER] = "/run/docker/netns/fromdocker"
    rig.docker_moves_interface(ep, "/run/docker/netns/fromdocker")
    await rig.hooks.endpoint_attached(net, ep)
    process = await started(rig)
    assert process.plan is not None and process.plan.argv[1] == "--net=/run/docker/netns/fromdocker"


async def test_daemon_stop_leaves_clients_running(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)
    process = await started(rig)
    await rig.hooks.daemon_stopping()
    assert process.running and process.forgotten and process.signals == []
    assert rig.reports.stopped and process.plan is not None and process.plan.pidfile.exists()


async def test_reports_that_do_not_fit_change_nothing(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)
    await started(rig)
    rig.reports.send("dovesnap-dhcp1 event=bound ep=zz ip=1.2.3.4 mask=24")
    rig.bound(endpoint_id=EP2)  # nobody's client
    rig.reports.send(f"dovesnap-dhcp1 event=bound ep={EP} ip=1.2.3 mask=24")
    assert ep.address is None and rig.events == []
    rig.bound()
    rig.reports.send(f"dovesnap-dhcp1 event=deconfig ep={EP} ip= mask=32 router= lease=")
    assert ep.address is None


async def test_network_network_deleted_stops_its_clients(rig: Rig) -> None:
    await rig.hooks.daemon_started()
    net = rig.network()
    for ep_id in (EP, EP2):
        ep = rig.endpoint(net, ep_id)
        rig.docker_moves_interface(ep)
        await rig.hooks.endpoint_attached(net, ep)
    await started(rig, 2)
    await rig.hooks.network_deleted(net)
    assert rig.launcher.running() == [] and rig.hooks.clients == {}


async def test_dhcp_network_refused_without_udhcpc(tmp_path: Path) -> None:
    rig = Rig(tmp_path, program=None)
    with pytest.raises(ConflictError, match="udhcpc"):
        await rig.hooks.network_created(rig.network())
    await rig.hooks.network_created(rig.network(dhcp=False))


async def test_join_of_an_endpoint_with_a_live_orphan_adopts_it(rig: Rig) -> None:
    orphan = FakeProcess()
    pidfile = rig.paths.pidfile(NET, EP)
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(f"{orphan.pid}\n")
    rig.launcher.left_running[pidfile] = orphan
    await rig.hooks.daemon_started()
    net = rig.network()
    ep = rig.endpoint(net)
    rig.docker_moves_interface(ep)
    await rig.hooks.endpoint_attached(net, ep)  # no restored() for this network before
    await asyncio.sleep(0.05)
    assert rig.launcher.started == [] and orphan.signals == [signal.SIGUSR1]
    await rig.hooks.endpoint_left(net, ep)
    assert not orphan.running and not pidfile.exists()
