"""Docker Engine API adapter (docker SDK, low-level client, summaries only).

Only summary calls are used while a container may be starting: ``inspect`` takes the
container's lock in dockerd and would wait for the start that is waiting for us.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dovesnap.config import DOCKER_URL, DRIVER_NAME

log = logging.getLogger(__name__)

API_VERSION = "1.41"


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = ""
    state: str = ""


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    options: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
    ipam_config: tuple[Mapping[str, str], ...] = ()
    ipv6: bool = False


class DockerBackend(Protocol):
    def network_name(self, network_id: str) -> str | None: ...
    def container_for_endpoint(self, network_id: str, endpoint_id: str) -> ContainerInfo | None: ...
    def container_by_id(self, container_id: str) -> ContainerInfo | None: ...
    def dovesnap_networks(self) -> list[NetworkInfo]: ...
    def engine_id(self) -> str: ...


def _info(summary: Mapping[str, Any]) -> ContainerInfo:
    names = summary.get("Names") or ["/" + summary["Id"][:12]]
    return ContainerInfo(
        id=summary["Id"],
        name=names[0].lstrip("/"),
        labels=dict(summary.get("Labels") or {}),
        state=summary.get("State", ""),
    )


class DockerSdkBackend:
    def __init__(
        self,
        base_url: str = DOCKER_URL,
        timeout: int = 10,
        driver_name: str = DRIVER_NAME,
    ) -> None:
        import docker

        # A fixed API version: the client must not ask Docker for one at start, because dovesnap
        # starts before dockerd (which needs the plugin up); 1.41 is Docker 20.10's and newer
        # engines still serve it.
        self._client = docker.APIClient(base_url=base_url, timeout=timeout, version=API_VERSION)
        # Docker names a plugin after its socket file: dovesnap.sock serves "-d dovesnap".
        self.driver_name = driver_name

    def network_name(self, network_id: str) -> str | None:
        import docker.errors

        try:
            found = self._client.networks(ids=[network_id])
        except docker.errors.DockerException as err:
            log.debug("network lookup %s failed: %s", network_id[:12], err)
            return None
        for net in found:
            if net.get("Id") == network_id:
                name: str = net.get("Name", "")
                return name or None
        return None

    def container_by_id(self, container_id: str) -> ContainerInfo | None:
        """A container's name and labels from its summary (no lock in dockerd, unlike inspect)."""
        for summary in self._client.containers(all=True, filters={"id": container_id}):
            if summary.get("Id") == container_id:
                return _info(summary)
        return None

    def container_for_endpoint(self, network_id: str, endpoint_id: str) -> ContainerInfo | None:
        summaries: list[dict[str, Any]] = self._client.containers(
            all=True, filters={"network": network_id}
        )
        for summary in summaries:
            networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
            for net in networks.values():
                if net.get("EndpointID") == endpoint_id:
                    return _info(summary)
        return None

    def dovesnap_networks(self) -> list[NetworkInfo]:
        result = []
        for net in self._client.networks(filters={"driver": self.driver_name}):
            ipam = net.get("IPAM") or {}
            result.append(NetworkInfo(
                id=net["Id"],
                name=net["Name"],
                options=dict(net.get("Options") or {}),
                internal=bool(net.get("Internal")),
                ipam_config=tuple(ipam.get("Config") or ()),
                ipv6=bool(net.get("EnableIPv6")),
            ))
        return result

    def network_endpoints(self, network_id: str) -> dict[str, str] | None:
        """Endpoint id -> container id of the containers Docker has on the network now."""
        import docker.errors

        try:
            net = self._client.inspect_network(network_id)
        except docker.errors.NotFound:
            return {}
        except docker.errors.DockerException:
            return None
        return {
            str(c.get("EndpointID", "")): str(cid)
            for cid, c in (net.get("Containers") or {}).items()
            if c.get("EndpointID")
        }

    def revivable_containers(self, network_ids: list[str]) -> list[str]:
        """Stopped containers on these networks that have a restart policy and that Docker
        failed to start (State.Error set): Docker gives up on them when the plugin is late."""
        found: list[str] = []
        for network_id in network_ids:
            for summary in self._client.containers(all=True, filters={"network": network_id}):
                if summary.get("State") == "running" or summary["Id"] in found:
                    continue
                details = self._client.inspect_container(summary["Id"])
                policy = ((details.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name")
                state = details.get("State") or {}
                if policy in ("always", "unless-stopped") and state.get("Error"):
                    found.append(summary["Id"])
        return found

    def start_container(self, container_id: str) -> None:
        self._client.start(container_id)

    def engine_id(self) -> str:
        info = self._client.info()
        return str(info.get("ID", ""))
