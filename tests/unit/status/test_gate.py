"""The status server's door, on a real loopback socket: not-allowed peers are cut off before a
byte is read, slow or oversized headers are cut off, the connection count is capped, and a
normal request still gets its answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from aiohttp import web

from dovesnap.status.gate import Gate, Limits
from dovesnap.status.server import listen_hosts, make_status_app, parse_auth_ips, serve_gated

LIMITS = Limits(max_connections=4, header_timeout=0.3, idle_timeout=5.0, max_header_bytes=2048)
REQUEST = b"GET /networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@asynccontextmanager
async def gated(auth: str, limits: Limits = LIMITS) -> AsyncIterator[tuple[Gate, int]]:
    runner = web.AppRunner(make_status_app(lambda: {"net": {}}, parse_auth_ips(auth)),
                           access_log=None, keepalive_timeout=limits.idle_timeout)
    await runner.setup()
    gate, servers = await serve_gated(runner, ("127.0.0.1",), 0, parse_auth_ips(auth), limits)
    port = servers[0].sockets[0].getsockname()[1]
    try:
        yield gate, port
    finally:
        for server in servers:
            server.close()
        await runner.cleanup()


@contextmanager
def connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    made = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(count)]
    try:
        yield made
    finally:
        for conn in made:
            conn.close()


async def closed_by_server(conn: socket.socket, within: float = 2.0) -> bool:
    """True if the server ends the connection (EOF or reset) within ``within`` seconds."""
    def read() -> bool:
        conn.settimeout(within)
        try:
            return conn.recv(100) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return await asyncio.to_thread(read)


async def ask(port: int, request: bytes = REQUEST) -> bytes:
    def talk() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
            conn.sendall(request)
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
            return reply
    return await asyncio.to_thread(talk)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_an_allowed_client_gets_its_answer() -> None:
    async with gated("127.0.0.0/8") as (gate, port):
        reply = await ask(port)
        assert reply.startswith(b"HTTP/1.1 200") and b'{"net": {}}' in reply
        await until(lambda: gate.open == 0)
        assert gate.refused == gate.shed == gate.timed_out == 0


async def test_a_peer_not_allowed_is_cut_off_before_it_sends_anything() -> None:
    async with gated("10.0.0.0/8") as (gate, port):
        with connections(port, 20) as conns:
            closed = await asyncio.gather(*(closed_by_server(c) for c in conns))
        assert all(closed)
        assert gate.refused == 20 and gate.open == 0


async def test_headers_must_come_in_time_and_not_too_long() -> None:
    async with gated("127.0.0.0/8") as (gate, port):
        with connections(port, 2) as (silent, chatty):
            chatty.sendall(b"GET /networks HTTP/1.1\r\nX: " + b"a" * 4000)
            assert await closed_by_server(chatty, 1.0)  # too long, cut at once
            assert await closed_by_server(silent, 2.0)  # nothing within 0.3 s
        assert gate.timed_out == 2
        await until(lambda: gate.open == 0)


async def test_a_request_sent_in_pieces_is_served() -> None:
    async with gated("127.0.0.0/8") as (_gate, port):
        def talk() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
                for piece in (REQUEST[:5], REQUEST[5:20], REQUEST[20:]):
                    conn.sendall(piece)
                return conn.recv(4096)
        assert (await asyncio.to_thread(talk)).startswith(b"HTTP/1.1 200")


async def test_connections_past_the_cap_are_cut_off_and_room_comes_back() -> None:
    limits = Limits(max_connections=3, header_timeout=30.0, idle_timeout=5.0, max_header_bytes=2048)
    async with gated("127.0.0.0/8", limits) as (gate, port):
        with connections(port, 3):
            await until(lambda: gate.open == 3)
            with connections(port, 2) as extra:
                assert all(await asyncio.gather(*(closed_by_server(c) for c in extra)))
            assert gate.shed == 2
        await until(lambda: gate.open == 0)
        assert (await ask(port)).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(("listen", "auth", "hosts"), [
    ((), "127.0.0.0/8,::1/128", ("127.0.0.1", "::1")),
    ((), "127.0.0.1/32", ("127.0.0.1", "::1")),
    ((), "127.0.0.0/8,10.0.0.0/8", None),
    ((), "0.0.0.0/0", None),
    (("10.1.2.3",), "127.0.0.0/8", ("10.1.2.3",)),
])
def test_listen_hosts(listen: tuple[str, ...], auth: str, hosts: tuple[str, ...] | None) -> None:
    assert listen_hosts(listen, parse_auth_ips(auth)) == hosts
