"""POST /policy: who may change a port, what a request must look like, and the change itself
(through a driver on fakes, FAUCET's own parser checking the config it writes)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from dovesnap.driver.port_policy import PolicyChange
from dovesnap.errors import RequestError
from dovesnap.status.control import parse_policy_request, policy_routes
from dovesnap.status.server import make_status_app, parse_auth_ips
from tests.unit.fakes import FakeDocker
from tests.unit.scenario import EP, attach, iface, make_net

LOOPBACK = "127.0.0.0/8,::1/128"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"container": "web", "acls": ["a", "b"]}, ("web", None, PolicyChange(acls=("a", "b")))),
        ({"container": "web", "network": "lab", "mirror": False},
         ("web", "lab", PolicyChange(mirror=False))),
        ({"container": " web ", "clear": ["acls", "mirror"]},
         ("web", None, PolicyChange(clear=("acls", "mirror")))),
        ({"container": "web", "acls": ["a"], "mirror": True, "network": None},
         ("web", None, PolicyChange(acls=("a",), mirror=True))),
    ],
)
def test_requests(body: dict[str, Any], expected: tuple[str, str | None, PolicyChange]) -> None:
    assert parse_policy_request(body) == expected


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "JSON object"),
        ({"acls": ["a"]}, "container"),
        ({"container": "", "acls": ["a"]}, "container"),
        ({"container": "web"}, "nothing to change"),
        ({"container": "web", "acls": []}, "acls"),
        ({"container": "web", "acls": "allowall"}, "acls"),
        ({"container": "web", "acls": ["bad acl!"]}, "acls"),
        ({"container": "web", "mirror": "yes"}, "mirror"),
        ({"container": "web", "clear": ["everything"]}, "clear"),
        ({"container": "web", "acls": ["a"], "clear": ["acls"]}, "set and cleared"),
        ({"container": "web", "acl": ["a"]}, r"unknown field\(s\): acl"),
        ({"container": "web", "network": 5, "mirror": True}, "network"),
    ],
)
def test_malformed_requests_say_what_is_wrong(body: Any, says: str) -> None:
    with pytest.raises(RequestError, match=says):
        parse_policy_request(body)


def _app(driver: Driver, status_ips: str = LOOPBACK, control_ips: str = LOOPBACK) -> Any:
    return make_status_app(lambda: {}, parse_auth_ips(status_ips),
                           policy_routes(driver, parse_auth_ips(control_ips)))


async def test_an_allowed_client_changes_the_port_and_reads_what_is_in_force(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    async with TestClient(TestServer(_app(driver))) as client:
        resp = await client.post("/policy", json={"container": "web", "acls": ["denyall"]})
        assert resp.status == 200, await resp.text()
        [port] = (await resp.json())["ports"]
        assert port["InForce"]["acls_in"] == ["denyall"] and port["Container"] == "web"
        assert iface(store, "net1", 1)["acls_in"] == ["denyall"]  # type: ignore[index]
        missing = await client.post("/policy", json={"container": "nobody", "mirror": True})
        assert missing.status == 404 and "nobody" in (await missing.json())["error"]
        bad = await client.post("/policy", json={"container": "web"})
        assert bad.status == 400 and "nothing to change" in (await bad.json())["error"]
        unknown_acl = await client.post("/policy", json={"container": "web", "acls": ["nosuch"]})
        assert unknown_acl.status == 200  # FAUCET refuses it: the port fails closed, and says so
        assert (await unknown_acl.json())["ports"][0]["FailClosed"].startswith("FAUCET refused")


@pytest.mark.parametrize(("status_ips", "control_ips"), [(LOOPBACK, "10.0.0.0/8"),
                                                         ("10.0.0.0/8", LOOPBACK)])
async def test_clients_outside_either_list_are_refused(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, status_ips: str, control_ips: str
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    async with TestClient(TestServer(_app(driver, status_ips, control_ips))) as client:
        resp = await client.post("/policy", json={"container": "web", "acls": ["denyall"]})
        assert resp.status == 403
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]


async def test_only_json_bodies_so_no_web_page_can_post_one(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    async with TestClient(TestServer(_app(driver))) as client:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            resp = await client.post("/policy", data='{"container": "web", "acls": ["denyall"]}',
                                     headers={"Content-Type": content_type})
            assert resp.status == 415
        get = await client.get("/policy")
        assert get.status == 405
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
