"""The Docker adapter's pure parts: network and container summaries from the API's answers."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.adapters.docker_api import ContainerInfo, DockerSdkBackend, NetworkInfo


class FakeDockerApi:
    """The few docker.APIClient calls the adapter makes, answered from in-memory summaries."""

    def __init__(self, networks: list[dict[str, Any]], containers: list[dict[str, Any]]) -> None:
        self._networks = networks
        self._containers = containers
        self.container_filters: list[dict[str, Any] | None] = []  # each list asked for

    def networks(self, ids: list[str] | None = None, filters: dict[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
        found = self._networks
        if ids is not None:  # dockerd matches id prefixes
            found = [n for n in found if any(n["Id"].startswith(i) for i in ids)]
        if filters and "driver" in filters:  # one name, or any of several
            wanted = filters["driver"]
            wanted = wanted if isinstance(wanted, list) else [wanted]
            found = [n for n in found if n.get("Driver") in wanted]
        return found

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
        self.container_filters.append(filters)
        network = (filters or {}).get("network")
        states = (filters or {}).get("status")  # dockerd: any of the states listed
        return [c for c in self._containers
                if (network is None or network in c.get("_networks", ()))
                and (states is None or c.get("State", "created") in states)]

    def info(self) -> dict[str, Any]:
        return {"ID": "ABCD:EFGH:1234"}


NETWORKS: list[dict[str, Any]] = [
    {"Id": "n1" + "0" * 62, "Name": "net1", "Driver": "dovesnap", "Internal": True,
     "Options": {"ovs.bridge.dpid": "0x1"}, "EnableIPv6": False,
     "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]}},
    {"Id": "n1" + "0" * 61 + "1", "Name": "", "Driver": "dovesnap"},
    {"Id": "b2" + "0" * 62, "Name": "bridge", "Driver": "bridge"},
    {"Id": "m3" + "0" * 62, "Name": "viaplugin", "Driver": "dovesnap-plugin:latest"},
]
CONTAINERS: list[dict[str, Any]] = [
    {"Id": "c1" + "0" * 62, "Names": ["/web"], "Labels": {"a": "b"}, "State": "running",
     "_networks": [NETWORKS[0]["Id"]],
     "NetworkSettings": {"Networks": {"net1": {"EndpointID": "ep1"}}}},
    {"Id": "c2" + "0" * 62, "Names": None, "Labels": None, "_networks": [NETWORKS[0]["Id"]],
     "NetworkSettings": {"Networks": {"net1": {"EndpointID": "ep2"}, "x": {}}}},
    {"Id": "c3" + "0" * 62, "_networks": [NETWORKS[0]["Id"]], "NetworkSettings": None},
]


@pytest.fixture
def backend() -> DockerSdkBackend:
    sdk = DockerSdkBackend("unix:///nonexistent.sock")  # construction asks Docker nothing
    sdk._client = FakeDockerApi(NETWORKS, CONTAINERS)
    return sdk


def test_network_name(backend: DockerSdkBackend) -> None:
    assert backend.network_name(NETWORKS[0]["Id"]) == "net1"
    assert backend.network_name(NETWORKS[1]["Id"]) is None  # no name yet
    assert backend.network_name("n1") is None  # a prefix match is not the network
    assert backend.network_name("zz") is None


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("ep1", ContainerInfo("c1" + "0" * 62, "web", {"a": "b"}, state="running")),
        ("ep2", ContainerInfo("c2" + "0" * 62, "c20000000000", {})),
        ("ep3", None),
    ],
)
def test_container_for_endpoint(
    backend: DockerSdkBackend, endpoint: str, expected: ContainerInfo | None
) -> None:
    assert backend.container_for_endpoint(NETWORKS[0]["Id"], endpoint) == expected


def test_dovesnap_networks_and_engine(backend: DockerSdkBackend) -> None:
    nets = backend.dovesnap_networks()
    assert [n.name for n in nets] == ["net1", ""]
    managed = DockerSdkBackend("unix:///nonexistent.sock", aliases=("dovesnap-plugin:latest",))
    managed._client = backend._client  # a managed plugin's networks carry its NAME:TAG
    assert [n.name for n in managed.dovesnap_networks()] == ["net1", "", "viaplugin"]
    assert nets[0] == NetworkInfo(
        NETWORKS[0]["Id"], "net1", {"ovs.bridge.dpid": "0x1"}, True,
        ({"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"},), False,
    )
    assert backend.engine_id() == "ABCD:EFGH:1234"


def test_containers_carry_dockers_addresses_of_their_endpoints() -> None:
    summary = {
        "Id": "c4" + "0" * 62, "Names": ["/dual"], "_networks": [NETWORKS[0]["Id"]],
        "NetworkSettings": {"Networks": {
            "net1": {"EndpointID": "ep4", "IPAddress": "10.0.0.4", "IPPrefixLen": 24,
                     "GlobalIPv6Address": "fd42:1::4", "GlobalIPv6PrefixLen": 64},
            "v6only": {"EndpointID": "ep5", "IPAddress": "", "IPPrefixLen": 0,
                       "GlobalIPv6Address": "fd42:2::4", "GlobalIPv6PrefixLen": 64},
            "dhcp": {"EndpointID": "ep6", "IPAddress": "", "GlobalIPv6Address": ""},
        }},
    }
    sdk = DockerSdkBackend.__new__(DockerSdkBackend)
    sdk._client = FakeDockerApi(NETWORKS, [summary])
    sdk.driver_name = "dovesnap"
    found = sdk.container_for_endpoint(NETWORKS[0]["Id"], "ep6")
    assert found is not None and found.addresses == {
        "ep4": ("10.0.0.4/24", "fd42:1::4/64"), "ep5": ("", "fd42:2::4/64")}


def test_starting_containers_are_asked_for_without_the_running_ones(
    backend: DockerSdkBackend
) -> None:
    """Docker filters out the running containers (hundreds, on a busy host); what it returns
    is still checked for the network."""
    found = backend.starting_containers(NETWORKS[0]["Id"], "net1")
    assert [c.id for c in found] == ["c2" + "0" * 62]  # c1 runs; c3 is on no network
    assert backend.starting_containers("zz", "other") == []
    asked = backend._client.container_filters  # type: ignore[attr-defined]
    assert asked and all(f and "running" not in f["status"] and "created" in f["status"]
                         for f in asked)
