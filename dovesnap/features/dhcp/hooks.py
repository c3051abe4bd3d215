"""DHCP networks: one udhcpc per container, kept running while the container is on the network.

- After Join (``endpoint_attached``) a keeper task waits for Docker to move the veth into the
  container, then starts ``nsenter --net=SANDBOX -- udhcpc ...`` and restarts it if it dies.
- The client's script configures the address inside the container and writes a line to
  dovesnap's FIFO; that sets the endpoint's address (status ``HostIP``, ``EndpointOperInfo``).
- Leave/DeleteEndpoint stop the client (it releases the lease) and reap it.
- With ``ovs.bridge.dhcp_ipv6=slaac`` each container also gets IPv6 on, and its SLAAC address is
  followed into the endpoint (``slaac.py``).
- Clients outlive a dovesnap restart (own session, pidfile per endpoint). On start the live ones
  are adopted by the restored networks that still have their endpoint, and asked to renew so
  the address is known again; the rest are stopped, at the latest after ``orphan_grace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dovesnap.driver.hooks import Hooks, Notify
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import BackendError, ConflictError
from dovesnap.features.dhcp.clients import ClientLauncher, ClientProcess
from dovesnap.features.dhcp.container_netns import ContainerNetns, wait_for_interface
from dovesnap.features.dhcp.events import LeaseReports
from dovesnap.features.dhcp.plan import (
    LEASE_EVENTS,
    LeaseEvent,
    RunPaths,
    client_plan,
    hostname_for,
    is_docker_id,
    orphans_of,
    parse_event,
    parse_pidfile_name,
    restart_delay,
)
from dovesnap.features.dhcp.slaac import SlaacWatches

log = logging.getLogger(__name__)

STOP_TIMEOUT = 3.0
STABLE_RUN = 30.0  # a client that ran this long before dying starts again without backoff


@dataclass
class _Client:
    net: Network
    endpoint_id: str
    process: ClientProcess | None = None
    task: asyncio.Task[None] | None = None
    stopping: bool = False
    lease: LeaseEvent | None = None

    @property
    def ep(self) -> Endpoint | None:
        return self.net.endpoints.get(self.endpoint_id)


def packaged_script() -> str:
    return (importlib.resources.files("dovesnap.features.dhcp") / "udhcpc-script.sh").read_text()


def install_script(path: Path, text: str) -> None:
    """Put the script where clients run it (root-only); replaced atomically when it changed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.read_text() == text and path.stat().st_mode & 0o777 == 0o700:
            return
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.chmod(0o700)
    os.replace(tmp, path)


class DhcpHooks(Hooks):
    name = "dhcp"

    def __init__(
        self,
        paths: RunPaths,
        launcher: ClientLauncher,
        netns: ContainerNetns,
        reports: LeaseReports,
        program: tuple[tuple[str, ...], str] | None,
        notify: Notify | None = None,
        ready_timeout: float = 30.0,
        orphan_grace: float = 120.0,
        backoff: Callable[[int], float] = restart_delay,
    ) -> None:
        self.paths = paths
        self.launcher = launcher
        self.netns = netns
        self.reports = reports
        self.program = program
        self.notify = notify
        self.ready_timeout = ready_timeout
        self.orphan_grace = orphan_grace
        self.backoff = backoff
        self.clients: dict[str, _Client] = {}  # endpoint id -> client
        # Live clients an earlier dovesnap left: (network id, endpoint id) -> process.
        self.orphans: dict[tuple[str, str], ClientProcess] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._sweeping: set[asyncio.Task[None]] = set()
        self._started = False
        self.slaac = SlaacWatches(netns, ready_timeout, notify)

    # -- daemon ------------------------------------------------------------------------------

    async def daemon_started(self) -> None:
        install_script(self.paths.script, packaged_script())
        self.reports.start(self.paths.fifo, self.on_report)
        self._started = True
        self._collect_orphans()
        if self.orphans:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(self.orphan_grace, self._stop_orphans_later)

    async def daemon_stopping(self) -> None:
        """Leave the clients running (they keep their leases); a restarted dovesnap adopts them."""
        if self._sweep is not None:
            self._sweep.cancel()
        self.slaac.close()
        for client in list(self.clients.values()):
            client.stopping = True
            if client.task is not None:
                client.task.cancel()
            if client.process is not None:
                client.process.forget()
        self.clients.clear()
        for process in self.orphans.values():
            process.forget()
        self.orphans.clear()
        if self._started:
            self.reports.stop()
            self._started = False

    def _collect_orphans(self) -> None:
        if not self.paths.clients.is_dir():
            return
        for pidfile in sorted(self.paths.clients.iterdir()):
            ids = parse_pidfile_name(pidfile.name)
            if ids is None:
                continue
            process = self.launcher.adopt(pidfile, self.paths.script)
            if process is None:
                self._remove_files(*ids)
                continue
            log.info("found DHCP client %d of endpoint %s from an earlier run",
                     process.pid, ids[1][:12])
            self.orphans[ids] = process

    def _stop_orphans_later(self) -> None:
        self._sweep = None
        for key in list(self.orphans):
            task = asyncio.get_running_loop().create_task(self._stop_orphan(*key))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)

    async def _stop_orphan(self, network_id: str, endpoint_id: str) -> None:
        process = self.orphans.pop((network_id, endpoint_id), None)
        if process is None:
            return
        log.info("stopping DHCP client %d: its endpoint %s is gone", process.pid, endpoint_id[:12])
        await self._terminate(process)
        self._remove_files(network_id, endpoint_id)

    # -- networks ----------------------------------------------------------------------------

    async def network_created(self, net: Network) -> None:
        if net.spec.dhcp and self.program is None:
            raise ConflictError(
                "DHCP networks need udhcpc and nsenter on the host",
                "install Debian's udhcpc (or busybox) and util-linux, then create the network again",
            )

    async def restored(self, net: Network) -> None:
        net_id = net.network_id
        adopt, stop = orphans_of(self.orphans, net_id, net.endpoints if net.spec.dhcp else ())
        for ep_id in stop:
            await self._stop_orphan(net_id, ep_id)
        for ep_id in adopt:
            self._adopt(net, ep_id)

    def _adopt(self, net: Network, endpoint_id: str) -> None:
        process = self.orphans.pop((net.network_id, endpoint_id))
        client = _Client(net, endpoint_id, process)
        self.clients[endpoint_id] = client
        client.task = asyncio.get_running_loop().create_task(self._keep(client))
        process.send(signal.SIGUSR1)  # renew now: the report tells us the address again
        log.info("adopted DHCP client %d of endpoint %s", process.pid, endpoint_id[:12])

    async def network_deleted(self, net: Network) -> None:
        await self.slaac.stop_network(net.network_id)
        for ep_id, client in list(self.clients.items()):
            if client.net.network_id == net.network_id:
                await self._stop(ep_id)

    # -- endpoints ---------------------------------------------------------------------------

    async def endpoint_attached(self, net: Network, ep: Endpoint) -> None:
        if not net.spec.dhcp:
            return
        if net.spec.dhcp_ipv6 == "slaac":
            self.slaac.start(net, ep)
        client = self.clients.get(ep.endpoint_id)
        if client is not None and not client.stopping:
            client.net = net  # adopted after a restart: nothing else to do
            if client.lease is not None and client.lease.kind in LEASE_EVENTS:
                ep.address = client.lease.address
            return
        if (net.network_id, ep.endpoint_id) in self.orphans:  # its network was not restored
            self._adopt(net, ep.endpoint_id)
            return
        if self.program is None:
            raise ConflictError("udhcpc or nsenter is missing on the host", "install udhcpc")
        if not (is_docker_id(net.network_id) and is_docker_id(ep.endpoint_id)):
            raise BackendError(f"endpoint {ep.endpoint_id[:70]!r} is not a Docker id")
        client = _Client(net, ep.endpoint_id)
        self.clients[ep.endpoint_id] = client
        client.task = asyncio.get_running_loop().create_task(self._keep(client))

    async def endpoint_left(self, net: Network, ep: Endpoint) -> None:
        await self.slaac.stop(ep.endpoint_id)
        if await self._stop(ep.endpoint_id):
            ep.address = None

    async def endpoint_deleted(self, net: Network, ep: Endpoint) -> None:
        await self.slaac.stop(ep.endpoint_id)
        await self._stop(ep.endpoint_id)
        await self._stop_orphan(net.network_id, ep.endpoint_id)

    # -- keeping a client running ------------------------------------------------------------

    async def _keep(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not client.stopping:
            if client.process is None:
                try:
                    client.process = await self._launch(client)
                except (BackendError, OSError) as err:
                    if not client.stopping:
                        log.error("no DHCP client for endpoint %s: %s", client.endpoint_id[:12],
                                  getattr(err, "what", err))
                    if self.clients.get(client.endpoint_id) is client:
                        del self.clients[client.endpoint_id]  # a later Join tries again
                    return
            started = loop.time()
            await client.process.wait()
            client.process = None
            if client.stopping:
                return
            if loop.time() - started > STABLE_RUN:
                failures = 0
            delay = self.backoff(failures)
            failures += 1
            log.warning("DHCP client of endpoint %s exited; starting it again in %.1fs",
                        client.endpoint_id[:12], delay)
            await asyncio.sleep(delay)

    async def _launch(self, client: _Client) -> ClientProcess:
        """Wait until the container has its end of the veth, then start the client there."""
        assert self.program is not None
        netns_path, ifname = await wait_for_interface(
            self.netns, lambda: client.ep, self.ready_timeout)
        ep = client.ep
        if ep is None:
            raise BackendError("the endpoint is gone")
        name = ep.container.name if ep.container is not None else ""
        plan = client_plan(
            self.paths, self.program[0], self.program[1], netns_path, ifname,
            client.net.network_id, client.endpoint_id, hostname_for(name),
        )
        if client.stopping:
            raise BackendError("the container left")
        # Started on the loop thread, with no await between start and record: a Leave that
        # comes now finds the process and stops it.
        process = self.launcher.start(plan)
        log.info("DHCP client %d for %s on %s (%s in %s)", process.pid, name or "?",
                 client.net.name or client.net.network_id[:12], ifname, netns_path)
        return process

    async def _terminate(self, process: ClientProcess) -> None:
        process.send(signal.SIGTERM)  # udhcpc -R releases the lease on the way out
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.send(signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)

    async def _stop(self, endpoint_id: str) -> bool:
        """Stop and reap the endpoint's client; True if there was one."""
        client = self.clients.pop(endpoint_id, None)
        if client is None:
            return False
        client.stopping = True
        if client.process is not None:
            await self._terminate(client.process)
        if client.task is not None:
            client.task.cancel()
            await asyncio.gather(client.task, return_exceptions=True)
        self._remove_files(client.net.network_id, endpoint_id)
        return True

    def _remove_files(self, network_id: str, endpoint_id: str) -> None:
        with contextlib.suppress(ValueError):
            for path in (self.paths.pidfile(network_id, endpoint_id),
                         self.paths.log_file(network_id, endpoint_id)):
                path.unlink(missing_ok=True)

    # -- reports from the clients' script ----------------------------------------------------

    def on_report(self, line: str) -> None:
        event = parse_event(line)
        if event is None:
            log.warning("ignoring a malformed DHCP report: %r", line[:200])
            return
        client = self.clients.get(event.endpoint_id)
        ep = client.ep if client is not None else None
        if client is None or ep is None or client.stopping:
            log.debug("DHCP %s for endpoint %s that has no client", event.kind, event.endpoint_id[:12])
            return
        name = ep.container.name if ep.container else ""
        if event.kind in LEASE_EVENTS:
            changed = ep.address != event.address
            ep.address = event.address
            client.lease = event
            if changed or event.kind == "bound":
                log.info("container %s leased %s (router %s, %ss)", name or event.endpoint_id[:12],
                         event.address, event.router or "-", event.lease_seconds or "?")
            if self.notify is not None:
                self.notify(
                    "dhcp_lease", network_id=client.net.network_id, network=client.net.name or "",
                    endpoint_id=event.endpoint_id, container=name, ip=event.ip,
                    address=event.address, router=event.router or "", lease=event.lease_seconds,
                    renewal=event.kind == "renew",
                )
        elif event.kind == "deconfig":
            ep.address = None
            client.lease = event
        else:
            log.info("DHCP %s for container %s", event.kind, name or event.endpoint_id[:12])
