"""IPv6 by SLAAC on DHCP networks (``ovs.bridge.dhcp_ipv6=slaac``).

Docker turns IPv6 off in a container whose networks have no IPv6 of Docker's, and a DHCP network
cannot have any (Docker's null IPAM refuses ``--ipv6``). So for each container dovesnap turns
IPv6 on on the container's interface; the container's kernel then takes its address from the
router advertisements of the segment's own router (autoconfiguration, default route and all),
and dovesnap follows that address into the endpoint (status ``HostIPv6``). Event-driven: a
netlink socket made in the container's namespace wakes the loop whenever an IPv6 address there
changes, and the addresses are read again in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass, field

from dovesnap.blocking import run_blocking
from dovesnap.driver.hooks import Notify
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import BackendError
from dovesnap.features.dhcp.container_netns import ContainerNetns, wait_for_interface

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    net: Network
    endpoint_id: str
    loop: asyncio.AbstractEventLoop = field(repr=False)
    task: asyncio.Task[None] | None = None
    sock: socket.socket | None = None
    netns_path: str = ""
    ifname: str = ""
    refresh: asyncio.Task[None] | None = None
    dirty: bool = False
    stopped: bool = False

    @property
    def ep(self) -> Endpoint | None:
        return self.net.endpoints.get(self.endpoint_id)


class SlaacWatches:
    """One watch per container on a SLAAC network, from Join (or restore) to Leave."""

    def __init__(self, netns: ContainerNetns, ready_timeout: float = 30.0,
                 notify: Notify | None = None) -> None:
        self.netns = netns
        self.ready_timeout = ready_timeout
        self.notify = notify
        self.watches: dict[str, _Watch] = {}  # endpoint id -> watch

    def start(self, net: Network, ep: Endpoint) -> None:
        watch = self.watches.get(ep.endpoint_id)
        if watch is not None and not watch.stopped:
            watch.net = net  # restored networks are new objects
            return
        watch = _Watch(net, ep.endpoint_id, asyncio.get_running_loop())
        self.watches[ep.endpoint_id] = watch
        watch.task = watch.loop.create_task(self._run(watch))

    async def _run(self, watch: _Watch) -> None:
        try:
            watch.netns_path, watch.ifname = await wait_for_interface(
                self.netns, lambda: watch.ep, self.ready_timeout)
            await run_blocking(self.netns.enable_ipv6, watch.netns_path, watch.ifname)
            sock = await run_blocking(self.netns.watch_ipv6, watch.netns_path)
        except (BackendError, OSError, ValueError) as err:
            if not watch.stopped:
                log.error("no IPv6 for endpoint %s: %s", watch.endpoint_id[:12],
                          getattr(err, "what", err))
            return
        if watch.stopped:
            sock.close()
            return
        watch.sock = sock
        watch.loop.add_reader(sock.fileno(), self._changed, watch)
        self._changed(watch)  # the addresses it may have already (a restart)

    def _changed(self, watch: _Watch) -> None:
        """The namespace's IPv6 addresses changed: drain the socket, read them again."""
        if watch.sock is not None:
            with contextlib.suppress(OSError):  # BlockingIOError when empty; ENOBUFS on overrun
                while watch.sock.recv(65536):
                    pass
        if watch.refresh is not None and not watch.refresh.done():
            watch.dirty = True  # the running read goes round once more
            return
        watch.refresh = watch.loop.create_task(self._refresh(watch))

    async def _refresh(self, watch: _Watch) -> None:
        watch.dirty = True
        while watch.dirty and not watch.stopped:
            watch.dirty = False
            try:
                found = await run_blocking(self.netns.ipv6_addresses, watch.netns_path,
                                           watch.ifname)
            except OSError as err:  # the container is going away
                log.debug("IPv6 addresses of %s not read: %s", watch.endpoint_id[:12], err)
                return
            ep = watch.ep
            if ep is None or watch.stopped:
                return
            address = found[0] if found else None
            if address != ep.address_ipv6:
                ep.address_ipv6 = address
                name = ep.container.name if ep.container else watch.endpoint_id[:12]
                log.info("container %s has IPv6 %s by SLAAC", name, address or "(none)")
                if self.notify is not None and address is not None:
                    self.notify("slaac_address", network_id=watch.net.network_id,
                                network=watch.net.name or "", endpoint_id=watch.endpoint_id,
                                container=name, address=address)

    async def stop(self, endpoint_id: str) -> bool:
        """Stop following the endpoint's IPv6; True if it was followed."""
        watch = self.watches.pop(endpoint_id, None)
        if watch is None:
            return False
        self._close(watch)
        for task in (watch.task, watch.refresh):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        ep = watch.ep
        if ep is not None:
            ep.address_ipv6 = None
        return True

    async def stop_network(self, network_id: str) -> None:
        for endpoint_id, watch in list(self.watches.items()):
            if watch.net.network_id == network_id:
                await self.stop(endpoint_id)

    def _close(self, watch: _Watch) -> None:
        watch.stopped = True
        for task in (watch.task, watch.refresh):
            if task is not None:
                task.cancel()
        if watch.sock is not None:
            watch.loop.remove_reader(watch.sock.fileno())
            watch.sock.close()
            watch.sock = None

    def close(self) -> None:
        """dovesnap is stopping: stop watching (the containers keep their addresses)."""
        for watch in self.watches.values():
            self._close(watch)
        self.watches.clear()
