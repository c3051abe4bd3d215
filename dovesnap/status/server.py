"""HTTP status server: ``GET /networks`` for clients inside ``--status-auth-ips``, 403 otherwise."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
