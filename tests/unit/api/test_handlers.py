"""The libnetwork remote driver HTTP API against a driver on fakes (aiohttp's own test client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.adapters.ovsdb import OvsPort
from dovesnap.api.handlers import CONTENT_TYPE, ROUTES, make_app
from dovesnap.driver.core import Driver, DriverSettings
from tests.unit.factories import make_driver
from tests.unit.fakes import (
    CONTROLLERS,
    OPERATOR_YAML,
    CountingReloader,
    FakeDocker,
    FakeNetlink,
    FakeOvs,
    eventually,
)

NET = "5e7a1b2c3d4e5f60718293a4b5c6d7e8"
EP = "e9d8c7b6a5f4e3d2c1b0a99887766554"
GENERIC = "com.docker.network.generic"

Observed = list[tuple[str, float, "str | None"]]


@pytest.fixture
async def observed() -> Observed:
    return []


@pytest.fixture
async def client(driver: Driver, observed: Observed) -> AsyncIterator[TestClient[Any, Any]]:
    app = make_app(driver, lambda path, secs, err: observed.append((path, secs, err)))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def call(client: TestClient[Any, Any], path: str, body: Any) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await client.post(path, data=data)
    assert resp.status == 200
    assert resp.content_type == CONTENT_TYPE
    reply: dict[str, Any] = json.loads(await resp.read())
    return reply


async def create(client: TestClient[Any, Any], docker: FakeDocker, **options: str) -> dict[str, Any]:
    docker.add_network(NET, "apinet")
    generic = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x20"} | options).items()}
    return await call(client, "/NetworkDriver.CreateNetwork", {
        "NetworkID": NET,
        "Options": {GENERIC: generic, "com.docker.network.enable_ipv6": False},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": "10.7.0.0/24",
                      "Gateway": "10.7.0.1/24"}],
        "IPv6Data": [],
    })


async def test_activate_and_capabilities(client: TestClient[Any, Any]) -> None:
    assert await call(client, "/Plugin.Activate", b"") == {"Implements": ["NetworkDriver"]}
    caps = await call(client, "/NetworkDriver.GetCapabilities", {})
    assert caps["Scope"] == "local" and caps["ConnectivityScope"] == "local"


async def test_create_network_happy_path(
    client: TestClient[Any, Any], driver: Driver, docker: FakeDocker, ovs: FakeOvs
) -> None:
    assert await create(client, docker, mode="routed") == {}
    assert driver.networks[NET].spec.dpid == 0x20
    assert driver.networks[NET].spec.gateway == "10.7.0.1"
    assert "odsbr5e7a1" in ovs.bridges_by_name
    await eventually(lambda: driver.networks[NET].name == "apinet")


async def test_create_network_bad_option(
    client: TestClient[Any, Any], driver: Driver, docker: FakeDocker, observed: Observed
) -> None:
    reply = await create(client, docker, vlan="5000")
    assert "ovs.bridge.vlan" in reply["Err"]
    assert driver.networks == {}
    assert observed[-1][0] == "/NetworkDriver.CreateNetwork"
    assert observed[-1][2] is not None and "ovs.bridge.vlan" in observed[-1][2]


async def test_internal_flag_reaches_the_driver(
    client: TestClient[Any, Any], driver: Driver, docker: FakeDocker
) -> None:
    docker.add_network(NET, "dhcpnet")
    generic = {"ovs.bridge.dpid": "0x21", "ovs.bridge.dhcp": "true"}
    body = {"NetworkID": NET, "IPv4Data": None,
            "Options": {"com.docker.network.internal": True, GENERIC: generic}}
    assert await call(client, "/NetworkDriver.CreateNetwork", body) == {}
    assert driver.networks[NET].spec.dhcp and driver.networks[NET].spec.internal
    body = {"NetworkID": NET[::-1], "Options": {GENERIC: generic}}
    reply = await call(client, "/NetworkDriver.CreateNetwork", body)
    assert "ovs.bridge.dhcp" in reply["Err"] and "--internal" in reply["Err"]


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/NetworkDriver.CreateNetwork", b"{not json", "not JSON"),
        ("/NetworkDriver.CreateNetwork", b"\xff\xfe", "not JSON"),
        ("/NetworkDriver.CreateNetwork", [1, 2], "JSON object"),
        ("/NetworkDriver.CreateNetwork", "text", "JSON object"),
        ("/NetworkDriver.CreateNetwork", {}, "NetworkID is missing"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": 5}, "NetworkID must be a string"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": True}, "NetworkID must be a string"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": ""}, "must not be empty"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": NET, "Options": []}, "Options must be"),
        ("/NetworkDriver.CreateNetwork", {"NetworkID": NET, "IPv4Data": {}}, "IPv4Data must be"),
        ("/NetworkDriver.Join", {"NetworkID": NET, "EndpointID": EP}, "SandboxKey is missing"),
        ("/NetworkDriver.DiscoverNew", {"DiscoveryType": "x"}, "DiscoveryType must be a number"),
        ("/NetworkDriver.Join", {"NetworkID": NET, "EndpointID": EP, "SandboxKey": "/x"},
         "not a dovesnap network"),
    ],
)
async def test_bad_requests_answer_err(
    client: TestClient[Any, Any], path: str, body: Any, words: str
) -> None:
    reply = await call(client, path, body)
    assert words in reply["Err"]


async def test_large_valid_body_is_read_whole(client: TestClient[Any, Any]) -> None:
    body = json.dumps({"Padding": "x" * 300_000}).encode()
    assert await call(client, "/Plugin.Activate", body) == {"Implements": ["NetworkDriver"]}


async def test_too_large_body_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/NetworkDriver.CreateNetwork", data=b" " * ((1 << 20) + 10))
    if resp.status == 200:
        assert "larger than" in (await resp.json(content_type=None))["Err"]
    else:
        assert resp.status == 413


async def test_unknown_path_is_404(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/NetworkDriver.Bogus", data=b"{}")
    assert resp.status == 404
    assert "unknown plugin call" in (await resp.json(content_type=None))["Err"]


async def test_endpoint_lifecycle(
    client: TestClient[Any, Any], driver: Driver, docker: FakeDocker, netlink: FakeNetlink,
    ovs: FakeOvs,
) -> None:
    await create(client, docker, mode="nat")
    ids = {"NetworkID": NET, "EndpointID": EP}
    reply = await call(client, "/NetworkDriver.CreateEndpoint",
                       ids | {"Interface": {"Address": "10.7.0.2/24", "MacAddress": ""}})
    assert reply == {"Interface": {"MacAddress": netlink.links["ethce9d8c"].mac}}
    other = ids | {"EndpointID": "f" * 32}
    reply = await call(client, "/NetworkDriver.CreateEndpoint",
                       other | {"Interface": {"MacAddress": "0e:00:00:00:00:01"}})
    assert reply == {"Interface": {}}
    assert netlink.links["ethcfffff"].mac == "0e:00:00:00:00:01"

    info = await call(client, "/NetworkDriver.EndpointOperInfo", ids)
    assert info["Value"]["OFPort"] == 1 and info["Value"]["Address"] == "10.7.0.2/24"

    joined = await call(client, "/NetworkDriver.Join", ids | {"SandboxKey": "/var/run/netns/x"})
    assert joined["InterfaceName"] == {"SrcName": "ethce9d8c", "DstPrefix": "eth"}
    assert joined["Gateway"] == "10.7.0.1"

    for path in ("/NetworkDriver.ProgramExternalConnectivity", "/NetworkDriver.Leave",
                 "/NetworkDriver.RevokeExternalConnectivity", "/NetworkDriver.DeleteEndpoint"):
        assert await call(client, path, ids) == {}
    assert "odsve9d8c" not in netlink.links
    assert await call(client, "/NetworkDriver.DeleteNetwork", {"NetworkID": NET}) == {}
    assert driver.networks == {} and ovs.bridges_by_name == {}


async def test_flat_join_has_no_gateway(client: TestClient[Any, Any], docker: FakeDocker) -> None:
    await create(client, docker)
    ids = {"NetworkID": NET, "EndpointID": EP}
    await call(client, "/NetworkDriver.CreateEndpoint", ids)
    joined = await call(client, "/NetworkDriver.Join", ids | {"SandboxKey": "/x"})
    assert "Gateway" not in joined


async def test_endpoint_options_interface_name_and_refusal(
    client: TestClient[Any, Any], docker: FakeDocker, netlink: FakeNetlink
) -> None:
    await create(client, docker)
    ids = {"NetworkID": NET, "EndpointID": EP}
    named = {"com.docker.network.endpoint.ifname": "mgmt0", "dovesnap.faucet.portacl": "a"}
    await call(client, "/NetworkDriver.CreateEndpoint", ids | {"Options": named})
    joined = await call(client, "/NetworkDriver.Join", ids | {"SandboxKey": "/x"})
    # DstName, as libnetwork's remote API spells it; engines up to 28.5 still use DstPrefix.
    assert joined["InterfaceName"] == {"SrcName": "ethce9d8c", "DstPrefix": "eth",
                                       "DstName": "mgmt0"}
    bad = ids | {"EndpointID": "f" * 32, "Options": {"dovesnap.faucet.portacl": "bad acl!"}}
    reply = await call(client, "/NetworkDriver.CreateEndpoint", bad)
    assert "dovesnap.faucet.portacl" in reply["Err"] and "ethcfffff" not in netlink.links


class CrashingOvs(FakeOvs):
    def ports(self, bridge: str) -> list[OvsPort]:
        raise RuntimeError("ovsdb went away")


async def test_unexpected_failure_is_reported_not_raised(
    netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore, settings: DriverSettings,
) -> None:
    drv = make_driver(settings, CrashingOvs(netlink), netlink, docker, store)
    async with TestClient(TestServer(make_app(drv))) as crash_client:
        await create(crash_client, docker)
        reply = await call(crash_client, "/NetworkDriver.CreateEndpoint",
                           {"NetworkID": NET, "EndpointID": EP})
        assert "internal error" in reply["Err"] and "ovsdb went away" in reply["Err"]
    await drv.close()


# --- property: no request makes the plugin answer 500 or non-JSON -----------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
_fields = st.fixed_dictionaries({}, optional={
    "NetworkID": st.one_of(st.just(NET), st.text(max_size=8), _json),
    "EndpointID": st.one_of(st.just(EP), st.text(max_size=8), _json),
    "SandboxKey": st.one_of(st.text(max_size=8), _json),
    "Interface": st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["MacAddress", "Address", "AddressIPv6"]), _json, max_size=3)),
    "Options": st.one_of(st.none(), _json, st.fixed_dictionaries({GENERIC: st.dictionaries(
        st.sampled_from(["ovs.bridge.dpid", "ovs.bridge.vlan", "ovs.bridge.mode", "other"]),
        _json, max_size=3)})),
    "IPv4Data": st.one_of(st.none(), _json, st.lists(st.dictionaries(
        st.sampled_from(["Pool", "Gateway"]), _json, max_size=2), max_size=2)),
    "IPv6Data": _json,
})
_bodies = st.one_of(
    st.binary(max_size=64),
    _json.map(lambda v: json.dumps(v).encode()),
    _fields.map(lambda v: json.dumps(v).encode()),
)


def test_no_request_makes_a_500(tmp_path: Path, faucet_check: FaucetCheckProcess) -> None:
    (tmp_path / "faucet.yaml").write_text(OPERATOR_YAML)
    store = FaucetConfigStore(tmp_path / "faucet.yaml", faucet_check, CountingReloader())
    netlink = FakeNetlink()
    docker = FakeDocker()
    docker.add_network(NET, "fuzz")
    fast = DriverSettings(CONTROLLERS, attach_timeout=0.05, name_timeout=0.05)
    drv = make_driver(fast, FakeOvs(netlink), netlink, docker, store)
    loop = asyncio.new_event_loop()

    async def start() -> TestClient[Any, Any]:
        started: TestClient[Any, Any] = TestClient(TestServer(make_app(drv)))
        await started.start_server()
        return started

    test_client = loop.run_until_complete(start())

    async def post(path: str, body: bytes) -> None:
        resp = await test_client.post(path, data=body)
        assert resp.status == (200 if path in ROUTES else 404)
        reply = json.loads(await resp.read())
        assert isinstance(reply, dict)
        assert "internal error" not in str(reply.get("Err", "")), reply

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from([*ROUTES, "/NetworkDriver.Nope", "/"]), body=_bodies)
    def check(path: str, body: bytes) -> None:
        loop.run_until_complete(post(path, body))

    try:
        check()
    finally:
        loop.run_until_complete(drv.close())
        loop.run_until_complete(test_client.close())
        loop.close()
