"""``dovesnap acl`` / ``dovesnap mirror``: command lines to requests, against a real status server
serving a driver on fakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.cli import main
from dovesnap.driver.core import Driver
from dovesnap.status.control import policy_routes
from dovesnap.status.server import make_status_app, parse_auth_ips
from dovesnap.tools.policy_cli import describe, request_body
from tests.unit.fakes import FakeDocker
from tests.unit.scenario import EP, attach, iface, make_net


@pytest.mark.parametrize(
    ("command", "action", "words", "body"),
    [
        ("acl", "set", ["web", "a,b"], {"container": "web", "acls": ["a", "b"]}),
        ("acl", "set", ["web", "lab", "a"], {"container": "web", "network": "lab", "acls": ["a"]}),
        ("acl", "clear", ["web"], {"container": "web", "clear": ["acls"]}),
        ("acl", "clear", ["web", "lab"], {"container": "web", "network": "lab", "clear": ["acls"]}),
        ("mirror", "on", ["web"], {"container": "web", "mirror": True}),
        ("mirror", "off", ["web", "lab"], {"container": "web", "network": "lab", "mirror": False}),
        ("mirror", "clear", ["web"], {"container": "web", "clear": ["mirror"]}),
    ],
)
def test_request_bodies(command: str, action: str, words: list[str], body: dict[str, Any]) -> None:
    assert request_body(command, action, words) == body


@pytest.mark.parametrize(("command", "action", "words"), [
    ("acl", "set", ["web"]), ("acl", "set", ["web", "lab", "a", "extra"]),
    ("acl", "clear", ["web", "lab", "a"]), ("mirror", "on", ["web", "lab", "x"]),
    ("acl", "set", ["web", ","]),
])
def test_wrong_word_counts_are_usage_errors(command: str, action: str, words: list[str]) -> None:
    with pytest.raises(ValueError):
        request_body(command, action, words)


def test_describe_says_what_is_in_force_and_who_set_it() -> None:
    port = {"Container": "web", "Network": "lab", "OFPort": 3, "OperatorPolicy": {"acls": ["x"]},
            "InForce": {"acls_in": ["x"], "mirrored": True}, "FailClosed": ""}
    assert describe(port) == ("web on lab: port 3 acls_in x (set by operator), mirrored yes")


async def test_the_commands_change_a_running_containers_port(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    loopback = parse_auth_ips("127.0.0.0/8")
    app = make_status_app(lambda: {}, loopback, policy_routes(driver, loopback))
    async with TestServer(app, host="127.0.0.1") as server:
        addr = f"127.0.0.1:{server.port}"
        code = await asyncio.to_thread(main, ["acl", "set", "web", "denyall", "--status-addr", addr])
        assert code == 0
        assert capsys.readouterr().out == (
            "web on net1: port 1 acls_in denyall (set by operator), mirrored no\n")
        assert iface(store, "net1", 1)["acls_in"] == ["denyall"]  # type: ignore[index]
        code = await asyncio.to_thread(main, ["acl", "clear", "web", "net1", "--status-addr", addr])
        assert code == 0 and "acls_in allowall," in capsys.readouterr().out
        code = await asyncio.to_thread(main, ["mirror", "on", "web", "--status-addr", addr])
        assert code == 1  # asked, recorded, but with no mirror port nothing is mirrored
        assert "no mirror port" in capsys.readouterr().err
        code = await asyncio.to_thread(main, ["mirror", "on", "nobody", "--status-addr", addr])
        assert code == 1 and "no running container nobody" in capsys.readouterr().err
