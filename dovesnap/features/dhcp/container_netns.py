"""Where a container's end of an endpoint's veth is: its network namespace and interface name.

Blocking calls (netlink, Docker API); the DHCP hooks run them in worker threads.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pyroute2 import IPRoute, NetlinkError

from dovesnap.adapters.docker_api import EngineApi
from dovesnap.adapters.netlink import in_netns
from dovesnap.config import DOCKER_URL

log = logging.getLogger(__name__)


class ContainerNetns(Protocol):
    def sandbox_key(self, container_id: str) -> str | None: ...
    def peer_ifname(self, host_ifname: str, netns_path: str) -> str | None: ...


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
