"""The status server: who may ask (the address check) and what it answers."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dovesnap.status.server import allowed, make_status_app, parse_auth_ips

NET = "0a1b2c3d4e5f"


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
