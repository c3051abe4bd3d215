"""HTTP status server: ``GET /networks`` for clients inside ``--status-auth-ips``.

Other clients are cut off when they connect (``gate.py``); the 403 of the app itself stays as a
second line. It listens on ``--status-listen``, by default on loopback only when only loopback
may read it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from dovesnap.status.gate import Gate, Limits

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def parse_auth_ips(text: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in text.split(",") if part.strip())


def allowed(remote: str | None, networks: Sequence[IPNetwork]) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def make_status_app(
    get_status: Callable[[], dict[str, Any]],
    auth: Sequence[IPNetwork],
    extra_routes: Callable[[web.Application], None] | None = None,
) -> web.Application:
    @web.middleware
    async def only_allowed(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not allowed(request.remote, auth):
            return web.json_response({"error": "forbidden"}, status=403)
        return await handler(request)

    async def networks(_: web.Request) -> web.Response:
        return web.json_response(get_status())

    app = web.Application(middlewares=[only_allowed])
    app.router.add_get("/networks", networks)
    if extra_routes is not None:
        extra_routes(app)
    return app


def listen_hosts(listen: Sequence[str], auth: Sequence[IPNetwork]) -> tuple[str, ...] | None:
    """Where to listen: the addresses given; else loopback when only loopback may read the
    status, else every address (None)."""
    if listen:
        return tuple(listen)
    if auth and all(net.is_loopback for net in auth):
        return LOOPBACK_HOSTS
    return None


async def serve_gated(
    runner: web.AppRunner, hosts: tuple[str, ...] | None, port: int,
    auth: Sequence[IPNetwork], limits: Limits,
) -> tuple[Gate, list[asyncio.AbstractServer]]:
    """Listen on ``hosts`` (None: every address) behind a :class:`Gate`. An address that cannot
    be had (IPv6 off for ::1) is skipped with a warning; none at all raises OSError."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    gate = Gate(server, lambda host: allowed(host, auth), limits, lambda: len(server.connections))
    loop = asyncio.get_running_loop()
    listening: list[asyncio.AbstractServer] = []
    for host in hosts if hosts is not None else (None,):
        try:
            listening.append(await loop.create_server(gate, host, port, reuse_address=True))
        except OSError as err:
            if hosts is None or err.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                for done in listening:
                    done.close()
                raise
            log.warning("status server: cannot listen on %s: %s", host, err.strerror)
    if not listening:
        raise OSError(errno.EADDRNOTAVAIL, f"no address to listen on among {hosts}")
    return gate, listening
