"""Docker Engine API adapter (docker SDK, low-level client, summaries only).

Only summary calls are used while a container may be starting: ``inspect`` takes the
container's lock in dockerd and would wait for the start that is waiting for us.

The API version is negotiated with the engine on first contact, not at construction: dovesnap
starts before dockerd (which needs the plugin up). Docker 29 refuses clients older than 1.44,
Docker 20.10 refuses clients newer than 1.41, so no fixed version serves both.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dovesnap.config import DOCKER_URL, DRIVER_NAME

log = logging.getLogger(__name__)

# The newest Engine API version this client speaks. What dovesnap reads (network and container
# summaries, network and container inspect, info's ID, network connect events' Actor) is the same
# from 1.41 to 1.51 in Docker's API version history, and was checked against Docker 28.5 (1.51)
# and 26.1 (1.45) run by tests/engines. Docker 29 (1.52, which drops only the events' long-deprecated
# status/id/from fields) accepts 1.51.
NEWEST_API_VERSION = "1.51"
NEGOTIATION_TIMEOUT = 10

# Docker's answer (HTTP 400) to a version outside its range, e.g. "client version 1.41 is too old.
# Minimum supported API version is 1.44, ..." or "client version 1.51 is too new. Maximum ...".
_VERSION_REFUSED = re.compile(r"client version \S+ is too (old|new)")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def choose_api_version(engine_api: str, engine_min: str | None, newest: str = NEWEST_API_VERSION) -> str:
    """The version to speak: the engine's newest or ours, whichever is older, but never below
    the engine's minimum (the engine refuses anything older)."""
    chosen = min(engine_api, newest, key=_version_key)
    if engine_min and _version_key(chosen) < _version_key(engine_min):
        chosen = engine_min
    return chosen


def calls_for_renegotiation(err: BaseException) -> bool:
    """True when a failed call means the engine may have changed under us: it refused our API
    version, or it could not be reached (dockerd stopped or restarted, maybe upgraded)."""
    import docker.errors
    import requests

    if isinstance(err, requests.exceptions.ConnectionError):
        return True
    return isinstance(err, docker.errors.APIError) and bool(_VERSION_REFUSED.search(str(err)))


class EngineApiVersion:
    """The API version spoken with one engine, negotiated on first use and after a failure.

    One per Docker URL, shared by every client of that engine (the backend and the event
    stream) and by their threads.
    """

    def __init__(self, base_url: str, newest: str = NEWEST_API_VERSION) -> None:
        self._base_url = base_url
        self._newest = newest
        self._lock = threading.Lock()
        self._version: str | None = None

    def get(self) -> str:
        """The negotiated version; asks the engine first if there is none (raises if it cannot)."""
        with self._lock:
            if self._version is None:
                self._version = self._negotiate()
            return self._version

    def forget(self, version: str) -> None:
        """Renegotiate on next use, unless another thread has already done so since `version`."""
        with self._lock:
            if self._version == version:
                self._version = None

    def _negotiate(self) -> str:
        import docker.errors  # binds docker too

        # An explicit version makes no request at construction; /version is unversioned.
        client = docker.APIClient(
            base_url=self._base_url, timeout=NEGOTIATION_TIMEOUT, version=self._newest
        )
        try:
            found = client.version(api_version=False)
        finally:
            client.close()
        engine_api = found.get("ApiVersion")
        if not engine_api:
            raise docker.errors.DockerException(f"no ApiVersion in Docker's /version: {found}")
        engine_min = found.get("MinAPIVersion")
        chosen = choose_api_version(str(engine_api), str(engine_min) if engine_min else None,
                                    self._newest)
        log.info("Docker %s at %s: Engine API %s..%s, speaking %s", found.get("Version", "?"),
                 self._base_url, engine_min or "?", engine_api, chosen)
        return chosen


_ENGINES: dict[str, EngineApiVersion] = {}
_ENGINES_LOCK = threading.Lock()


def engine_api_version(base_url: str) -> EngineApiVersion:
    """The shared version holder for the engine at `base_url`."""
    with _ENGINES_LOCK:
        return _ENGINES.setdefault(base_url, EngineApiVersion(base_url))


class EngineApi:
    """docker.APIClient calls made at the negotiated API version.

    Any APIClient method can be called on it (``api.networks(...)``). A call refused for its
    API version, or that found no Docker, renegotiates and is made once more.
    """

    def __init__(self, base_url: str, timeout: int | None = 10,
                 version: EngineApiVersion | None = None) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._version = version or engine_api_version(base_url)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def negotiated(self) -> str:
        return self._version.get()

    def client(self, version: str) -> Any:
        """The docker.APIClient for `version` (construction makes no request)."""
        import docker

        with self._lock:
            if version not in self._clients:
                self._clients[version] = docker.APIClient(
                    base_url=self._base_url, timeout=self._timeout, version=version
                )
            return self._clients[version]

    def note_failure(self, version: str, err: BaseException) -> bool:
        """After a call at `version` failed with `err`: renegotiate on next use if the engine may
        have changed. True if it may have (the call is worth making again)."""
        if not calls_for_renegotiation(err):
            return False
        log.debug("Docker API %s call failed (%s); renegotiating the version", version, err)
        self._version.forget(version)
        return True

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        version = self._version.get()
        try:
            return getattr(self.client(version), method)(*args, **kwargs)
        except Exception as err:
            if not self.note_failure(version, err):
                raise
        return getattr(self.client(self._version.get()), method)(*args, **kwargs)

    def close(self) -> None:
        """Close the HTTP connections of every client made so far."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, name)


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = ""
    state: str = ""
    # Docker's addresses of the container's endpoints: endpoint id -> (IPv4 "a.b.c.d/len" or "",
    # IPv6 "x::y/len" or ""), for the endpoints that have one.
    addresses: Mapping[str, tuple[str, str]] = field(default_factory=dict)


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
    def starting_containers(self, network_id: str, network_name: str) -> list[ContainerInfo]: ...
    def network_endpoints(self, network_id: str) -> dict[str, str] | None: ...
    def dovesnap_networks(self) -> list[NetworkInfo]: ...
    def engine_id(self) -> str: ...


# Docker's container states a container that is starting can be in (a restart passes "exited").
NOT_RUNNING = ("created", "restarting", "exited", "dead")


def starting_on_network(
    summaries: list[Mapping[str, Any]], network_id: str, network_name: str
) -> list[ContainerInfo]:
    """The containers that may be starting on a network: every one that is not running and has
    the network in its settings. During a start, Docker's container list (which never waits for
    the container's lock, unlike inspect) already shows the container, with its labels, as
    "created" or "exited" (a restart); a running container joins only by ``network connect``."""
    found = []
    for summary in summaries:
        if summary.get("State") == "running":
            continue
        networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
        if any(name == network_name or (net or {}).get("NetworkID") == network_id
               for name, net in networks.items()):
            found.append(_info(summary))
    return found


def _cidr(address: Any, prefixlen: Any) -> str:
    if not isinstance(address, str) or not address or not isinstance(prefixlen, int):
        return ""
    return f"{address}/{prefixlen}"


def _addresses(summary: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for net in ((summary.get("NetworkSettings") or {}).get("Networks") or {}).values():
        if not isinstance(net, Mapping) or not net.get("EndpointID"):
            continue
        ipv4 = _cidr(net.get("IPAddress"), net.get("IPPrefixLen"))
        ipv6 = _cidr(net.get("GlobalIPv6Address"), net.get("GlobalIPv6PrefixLen"))
        if ipv4 or ipv6:
            found[str(net["EndpointID"])] = (ipv4, ipv6)
    return found


def _info(summary: Mapping[str, Any]) -> ContainerInfo:
    names = summary.get("Names") or ["/" + summary["Id"][:12]]
    return ContainerInfo(
        id=summary["Id"],
        name=names[0].lstrip("/"),
        labels=dict(summary.get("Labels") or {}),
        state=summary.get("State", ""),
        addresses=_addresses(summary),
    )


class DockerSdkBackend:
    def __init__(
        self,
        base_url: str = DOCKER_URL,
        timeout: int = 10,
        driver_name: str = DRIVER_NAME,
        aliases: tuple[str, ...] = (),
    ) -> None:
        # No request here: dovesnap starts before dockerd; the version is negotiated on first use.
        self._client: Any = EngineApi(base_url, timeout)
        # Docker names a plugin after its socket file: dovesnap.sock serves "-d dovesnap". A
        # managed plugin's networks carry its name (NAME:TAG): ``aliases``.
        self.driver_name = driver_name
        self.driver_names = [driver_name, *aliases]

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

    def starting_containers(self, network_id: str, network_name: str) -> list[ContainerInfo]:
        """Containers that may be starting on the network now (see ``starting_on_network``).
        Docker leaves out the running ones itself: with hundreds up, the answer stays small."""
        summaries: list[Mapping[str, Any]] = self._client.containers(
            all=True, filters={"status": list(NOT_RUNNING)})
        return starting_on_network(summaries, network_id, network_name)

    def dovesnap_networks(self) -> list[NetworkInfo]:
        result = []
        for net in self._client.networks(filters={"driver": self.driver_names}):
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
