"""Status JSON (SPEC section 7 field names) and the status server's address check."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.driver.state import Endpoint, Network
from dovesnap.model.network import parse_network
from dovesnap.plan.faucet_dp import ExternalPort
from dovesnap.status.report import network_status, status
from dovesnap.status.server import allowed, make_status_app, parse_auth_ips

NET = "0a1b2c3d4e5f"
CTRL = ("tcp:127.0.0.1:6653",)

SPEC_FIELDS = {
    "NetworkName", "BridgeName", "BridgeDpid", "BridgeDpidUint", "BridgeVLAN", "MTU",
    "PreAllocatePorts", "Mode", "AddPorts", "AddCoproPorts", "Gateway", "GatewayMask",
    "FlatBindInterface", "UseDHCP", "Userspace", "NATAcl", "VLANOutAcl", "DefaultAcl",
    "OvsLocalMac", "Controller", "DynamicNetworkStates",
}
CONTAINER_FIELDS = {"Name", "Id", "OFPort", "MacAddress", "HostIP", "Labels", "IfName"}


def network(**options: str) -> Network:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x1f"} | options).items()}
    spec = parse_network(NET, opts, [{"Pool": "10.3.0.0/16", "Gateway": "10.3.0.1/16"}], (), CTRL)
    net = Network(spec, userspace=True, name="statnet")
    ep = Endpoint("ep0123456789", NET, "odsveep012", "ethcep012", 3, "0e:00:00:00:00:03",
                  address="10.3.0.5/16")
    ep.container = ContainerInfo("c0ffee123456", "web", {"dovesnap.faucet.portacl": "allowall"})
    net.endpoints[ep.endpoint_id] = ep
    net.endpoints["ep2"] = Endpoint("ep2", NET, "odsveep2", "ethcep2", 4, "0e:00:00:00:00:04")
    net.externals["eth1"] = ExternalPort(7, "eth1")
    return net


def test_status_has_the_go_field_names() -> None:
    report = status({NET: network(mode="nat")}, "abc123")
    assert list(report) == [NET]
    entry = report[NET]
    assert set(entry) >= SPEC_FIELDS
    dyn = entry["DynamicNetworkStates"]
    assert set(dyn) == {"ShortEngineId", "Containers", "ExternalPorts", "OtherBridgePorts"}
    assert dyn["ShortEngineId"] == "abc123"
    assert set(dyn["Containers"]["ep0123456789"]) >= CONTAINER_FIELDS
    assert set(dyn["ExternalPorts"]["eth1"]) == {"Name", "OFPort", "MacAddress"}


def test_status_values() -> None:
    entry = network_status(network(
        mode="nat", vlan="12", nat_acl="statnet:a,b/other:c", default_acl="d",
        add_ports="eth1/5/acl1/200,eth2", add_copro_ports="eth3/6/x", ovs_local_mac="0e:00:00:00:00:01",
    ), "e")
    assert entry["NetworkName"] == "statnet"
    assert entry["BridgeName"] == "odsbr0a1b2"
    assert (entry["BridgeDpid"], entry["BridgeDpidUint"]) == ("0x1f", 31)
    assert (entry["BridgeVLAN"], entry["MTU"], entry["Mode"]) == (12, 1500, "nat")
    assert (entry["Gateway"], entry["GatewayMask"]) == ("10.3.0.1", "255.255.0.0")
    assert entry["NATAcl"] == "a,b" and entry["DefaultAcl"] == "d" and entry["VLANOutAcl"] == ""
    assert entry["AddPorts"] == "eth1/5/acl1/200,eth2"
    assert entry["AddCoproPorts"] == "eth3/6/x"
    assert entry["Userspace"] is True and entry["UseDHCP"] is False
    assert entry["OvsLocalMac"] == "0e:00:00:00:00:01"
    assert entry["Controller"] == "tcp:127.0.0.1:6653"
    web = entry["DynamicNetworkStates"]["Containers"]["ep0123456789"]
    assert web == {
        "Name": "web", "Id": "c0ffee123456", "OFPort": 3, "MacAddress": "0e:00:00:00:00:03",
        "HostIP": "10.3.0.5", "Labels": {"dovesnap.faucet.portacl": "allowall"},
        "IfName": "odsveep012", "FailClosed": "",
    }
    unjoined = entry["DynamicNetworkStates"]["Containers"]["ep2"]
    assert (unjoined["Name"], unjoined["Id"], unjoined["HostIP"]) == ("", "", "")


def test_status_of_an_iterable_and_of_nothing() -> None:
    net = network()
    assert list(status([net], "e")) == [NET]
    assert status({}, "e") == {}


@pytest.mark.parametrize(
    ("remote", "nets", "expected"),
    [
        ("127.0.0.1", "127.0.0.0/8,::1/128", True),
        ("127.9.9.9", "127.0.0.0/8", True),
        ("::1", "127.0.0.0/8,::1/128", True),
        ("::ffff:127.0.0.1", "127.0.0.0/8", True),
        ("10.0.0.1", "127.0.0.0/8,::1/128", False),
        ("192.168.1.5", "192.168.0.0/16", True),
        ("fe80::1%eth0", "fe80::/10", True),
        ("fe80::1%eth0", "10.0.0.0/8", False),
        ("::2", "::1/128", False),
        ("10.0.0.1", "", False),
        (None, "0.0.0.0/0", False),
        ("", "0.0.0.0/0", False),
        ("not-an-ip", "0.0.0.0/0", False),
    ],
)
def test_allowed(remote: str | None, nets: str, expected: bool) -> None:
    assert allowed(remote, parse_auth_ips(nets)) is expected


def test_parse_auth_ips() -> None:
    assert parse_auth_ips(" 10.1.2.3/8 , ::1/128,") == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError):
        parse_auth_ips("nonsense")


@pytest.mark.parametrize(("auth", "code"), [("127.0.0.0/8,::1/128", 200), ("10.0.0.0/8", 403)])
async def test_status_server(auth: str, code: int) -> None:
    report: dict[str, Any] = {NET: {"NetworkName": "statnet"}}
    app = make_status_app(lambda: report, parse_auth_ips(auth))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/networks")
        assert resp.status == code
        body = await resp.json()
        if code == 200:
            assert body == report
        else:
            assert body == {"error": "forbidden"}
        missing = await client.get("/nothing-here")
        assert missing.status == (404 if code == 200 else 403)


async def test_status_server_extra_routes() -> None:
    from aiohttp import web

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hi")

    def routes(app: web.Application) -> None:
        app.router.add_get("/hello", hello)

    app = make_status_app(dict, parse_auth_ips("127.0.0.0/8"), routes)
    async with TestClient(TestServer(app)) as client:
        assert await (await client.get("/hello")).text() == "hi"
        assert await (await client.get("/networks")).json() == {}
