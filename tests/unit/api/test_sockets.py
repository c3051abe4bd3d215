"""Plugin sockets bound before the driver is ready: Docker's early calls wait, then are answered."""

from __future__ import annotations

import asyncio
import http.client
import socket
from pathlib import Path

from aiohttp import web

from dovesnap.api.sockets import PluginSockets


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(self._path))


def _activate(path: Path) -> tuple[int, bytes]:
    conn = _UnixConnection(path)
    try:
        conn.request("POST", "/Plugin.Activate", body=b"{}")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def test_a_call_made_before_serving_is_answered_once_serving_starts(tmp_path: Path) -> None:
    own, managed = tmp_path / "plugins" / "dovesnap-x.sock", tmp_path / "managed" / "dovesnap.sock"
    sockets = PluginSockets([own, managed])
    sockets.bind()
    assert own.is_socket() and managed.is_socket()
    early = asyncio.create_task(asyncio.to_thread(_activate, own))  # Docker, before we are ready
    await asyncio.sleep(0.3)
    assert not early.done()  # it waits in the backlog; it was not refused

    async def activate(_: web.Request) -> web.Response:
        return web.json_response({"Implements": ["NetworkDriver"]})

    app = web.Application()
    app.router.add_post("/Plugin.Activate", activate)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await sockets.serve(runner)
        status, body = await asyncio.wait_for(early, 10)
        assert status == 200 and b"NetworkDriver" in body
        assert (await asyncio.to_thread(_activate, managed))[0] == 200  # both names, one driver
    finally:
        await runner.cleanup()
        sockets.close()
    assert not own.exists() and not managed.exists()
