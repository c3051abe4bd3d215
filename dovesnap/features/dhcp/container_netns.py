"""Where a container's end of an endpoint's veth is (its network namespace and interface name),
and its IPv6 there: turned on, its global addresses, a socket that says when they change.

Blocking calls (netlink, /proc/sys, Docker API); the DHCP hooks run them in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pyroute2 import IPRoute, NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV6_IFADDR
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_DADFAILED, IFA_F_TEMPORARY, IFA_F_TENTATIVE

from dovesnap.adapters.docker_api import EngineApi
from dovesnap.adapters.netlink import in_netns
from dovesnap.blocking import run_blocking
from dovesnap.config import DOCKER_URL
from dovesnap.driver.state import Endpoint
from dovesnap.errors import BackendError
from dovesnap.model.names import IFNAME_RE

log = logging.getLogger(__name__)

SCOPE_GLOBAL = 0
NOT_USABLE = IFA_F_TENTATIVE | IFA_F_DADFAILED


class ContainerNetns(Protocol):
    def sandbox_key(self, container_id: str) -> str | None: ...
    def peer_ifname(self, host_ifname: str, netns_path: str) -> str | None: ...
    def enable_ipv6(self, netns_path: str, ifname: str) -> None: ...
    def ipv6_addresses(self, netns_path: str, ifname: str) -> list[str]: ...
    def watch_ipv6(self, netns_path: str) -> socket.socket: ...


async def wait_for_interface(
    netns: ContainerNetns, endpoint: Callable[[], Endpoint | None], timeout: float,
) -> tuple[str, str]:
    """(namespace path, interface name) of the endpoint's container side, once Docker has moved
    it into the container and renamed it; BackendError when the endpoint goes or time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    netns_path: str | None = None
    while True:
        ep = endpoint()
        if ep is None:
            raise BackendError("the endpoint is gone")
        netns_path = ep.sandbox_key or netns_path
        if netns_path is None and ep.container is not None:  # restored: no Join told us
            netns_path = await run_blocking(netns.sandbox_key, ep.container.id)
        ifname = None
        if netns_path is not None:
            ifname = await run_blocking(netns.peer_ifname, ep.host_ifname, netns_path)
        # Docker renames the veth (ethcXXXXX -> ethN) once it is in the namespace.
        if netns_path is not None and ifname is not None and ifname != ep.container_ifname:
            return netns_path, ifname
        if loop.time() > deadline:
            raise BackendError(
                f"the container's interface did not appear in {netns_path or 'its namespace'} "
                f"within {timeout:.0f}s"
            )
        # Docker makes the namespace in runc's prestart hook, a moment after Join: look often.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class KernelContainerNetns:
    """The real kernel (pyroute2) and dockerd (docker SDK)."""

    def __init__(self, docker_url: str = DOCKER_URL) -> None:
        self._docker_url = docker_url
        self._client: EngineApi | None = None

    def sandbox_key(self, container_id: str) -> str | None:
        """The netns path of a running container (used after a restart, when no Join told us).

        ``inspect`` takes the container's lock in dockerd, so it is only used for containers
        that are already running, never while one is starting.
        """
        import docker.errors

        if self._client is None:  # the API version negotiated for this engine, as elsewhere
            self._client = EngineApi(self._docker_url, timeout=10)
        try:
            details = self._client.inspect_container(container_id)
        except docker.errors.DockerException as err:
            log.debug("inspect %s failed: %s", container_id[:12], err)
            return None
        key = (details.get("NetworkSettings") or {}).get("SandboxKey")
        return key if isinstance(key, str) and key else None

    def peer_ifname(self, host_ifname: str, netns_path: str) -> str | None:
        """Name of the veth peer of ``host_ifname`` inside ``netns_path``; None until Docker has
        moved it there (its peer index must point back at ``host_ifname``)."""
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=host_ifname)
            if not found:
                return None
            host_index = found[0]
            peer_index = ipr.get_links(host_index)[0].get_attr("IFLA_LINK")
        if not peer_index:
            return None

        def lookup() -> str | None:
            with IPRoute() as ns:
                try:
                    link = ns.get_links(peer_index)[0]
                except NetlinkError:
                    return None
                if link.get_attr("IFLA_LINK") != host_index:
                    return None
                name = link.get_attr("IFLA_IFNAME")
                return name if isinstance(name, str) else None

        try:
            return in_netns(netns_path, lookup)
        except OSError as err:
            log.debug("cannot look into %s: %s", netns_path, err)
            return None

    def enable_ipv6(self, netns_path: str, ifname: str) -> None:
        """Turn IPv6 on on the container's interface (Docker turns it off in containers whose
        networks have no IPv6 of Docker's); SLAAC then follows the segment's router adverts."""
        if not IFNAME_RE.match(ifname):
            raise ValueError(f"odd interface name {ifname!r}")

        def write() -> None:
            # /proc/sys/net shows the namespace of the thread that opens it.
            Path("/proc/sys/net/ipv6/conf", ifname, "disable_ipv6").write_text("0")

        in_netns(netns_path, write)

    def ipv6_addresses(self, netns_path: str, ifname: str) -> list[str]:
        """The interface's usable global IPv6 addresses, ``x::y/len``, stable ones first."""

        def read() -> list[tuple[bool, str]]:
            with IPRoute() as ipr:
                found = ipr.link_lookup(ifname=ifname)
                if not found:
                    return []
                addresses = []
                for msg in ipr.get_addr(family=socket.AF_INET6, index=found[0]):
                    flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
                    if msg["scope"] != SCOPE_GLOBAL or flags & NOT_USABLE:
                        continue
                    text = f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}"
                    addresses.append((bool(flags & IFA_F_TEMPORARY), text))
                return addresses

        return [text for _, text in sorted(in_netns(netns_path, read), key=lambda a: a[0])]

    def watch_ipv6(self, netns_path: str) -> socket.socket:
        """A non-blocking netlink socket in the namespace that becomes readable whenever an IPv6
        address there comes, goes or changes (read it empty, then ask ``ipv6_addresses``)."""

        def open_socket() -> socket.socket:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK
                                 | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
            try:
                sock.bind((0, RTMGRP_IPV6_IFADDR))
            except OSError:
                sock.close()
                raise
            return sock

        # A socket stays in the namespace it was made in, whichever thread reads it later.
        return in_netns(netns_path, open_socket)
