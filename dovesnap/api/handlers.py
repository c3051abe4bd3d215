"""aiohttp handlers for the libnetwork remote driver protocol.

Each handler validates its body (``schemas.py``), calls the driver, and answers JSON; any
DovesnapError (or unexpected failure) becomes ``{"Err": message}`` so the docker CLI prints it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dovesnap.api.schemas import MAX_BODY, SCHEMAS, parse_body
from dovesnap.driver.core import Driver
from dovesnap.errors import DovesnapError, RequestError
from dovesnap.model.network import ipv4_gateway_address, ipv6_gateway_address
from dovesnap.model.port_policy import IFNAME_OPTION

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
GENERIC = "com.docker.network.generic"
INTERNAL = "com.docker.network.internal"

Handler = Callable[[Driver, dict[str, Any]], Awaitable[dict[str, Any]]]
Observer = Callable[[str, float, str | None], None]


def _generic_options(options: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    options = options or {}
    generic = options.get(GENERIC) or {}
    if not isinstance(generic, dict):
        generic = {}
    internal = bool(options.get(INTERNAL) or generic.get(INTERNAL))
    return generic, internal


async def activate(_: Driver, __: dict[str, Any]) -> dict[str, Any]:
    return {"Implements": ["NetworkDriver"]}


async def capabilities(_: Driver, __: dict[str, Any]) -> dict[str, Any]:
    return {"Scope": "local", "ConnectivityScope": "local"}


async def create_network(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    generic, internal = _generic_options(body.get("Options"))
    await driver.create_network(
        body["NetworkID"], generic, body.get("IPv4Data") or [], body.get("IPv6Data") or [],
        internal,
    )
    return {}


async def delete_network(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    await driver.delete_network(body["NetworkID"])
    return {}


async def create_endpoint(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    iface = body.get("Interface") or {}
    requested_mac = iface.get("MacAddress") or None
    if requested_mac is not None and not isinstance(requested_mac, str):
        requested_mac = None
    address, address_ipv6 = iface.get("Address") or None, iface.get("AddressIPv6") or None
    mac = await driver.create_endpoint(
        body["NetworkID"], body["EndpointID"], requested_mac,
        address if isinstance(address, str) else None,
        body.get("Options") or {},
        address_ipv6 if isinstance(address_ipv6, str) else None,
    )
    if requested_mac:
        # Docker refuses a reply that changes a MAC it chose.
        return {"Interface": {}}
    return {"Interface": {"MacAddress": mac}}


async def delete_endpoint(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    await driver.delete_endpoint(body["NetworkID"], body["EndpointID"])
    return {}


async def endpoint_oper_info(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    return {"Value": driver.endpoint_info(body["NetworkID"], body["EndpointID"])}


async def join(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    ep = await driver.join(body["NetworkID"], body["EndpointID"], body["SandboxKey"])
    reply: dict[str, Any] = {
        "InterfaceName": {"SrcName": ep.container_ifname, "DstPrefix": "eth"},
    }
    ifname = ep.kept_options.get(IFNAME_OPTION)
    if ifname:  # Docker 28's --driver-opt com.docker.network.endpoint.ifname=NAME
        reply["InterfaceName"]["DstName"] = ifname
    net = driver.network(body["NetworkID"])
    if net.spec.mode in ("nat", "routed"):
        # libnetwork reads Gateway as IPv4 and GatewayIPv6 as IPv6; each sets that default route.
        if ipv4_gateway_address(net.spec):
            reply["Gateway"] = ipv4_gateway_address(net.spec)
        if ipv6_gateway_address(net.spec):
            reply["GatewayIPv6"] = ipv6_gateway_address(net.spec)
    return reply


async def leave(driver: Driver, body: dict[str, Any]) -> dict[str, Any]:
    await driver.leave(body["NetworkID"], body["EndpointID"])
    return {}


async def nothing(_: Driver, __: dict[str, Any]) -> dict[str, Any]:
    return {}


ROUTES: dict[str, Handler] = {
    "/Plugin.Activate": activate,
    "/NetworkDriver.GetCapabilities": capabilities,
    "/NetworkDriver.CreateNetwork": create_network,
    "/NetworkDriver.DeleteNetwork": delete_network,
    "/NetworkDriver.CreateEndpoint": create_endpoint,
    "/NetworkDriver.DeleteEndpoint": delete_endpoint,
    "/NetworkDriver.EndpointOperInfo": endpoint_oper_info,
    "/NetworkDriver.Join": join,
    "/NetworkDriver.Leave": leave,
    "/NetworkDriver.AllocateNetwork": nothing,
    "/NetworkDriver.FreeNetwork": nothing,
    "/NetworkDriver.DiscoverNew": nothing,
    "/NetworkDriver.DiscoverDelete": nothing,
    "/NetworkDriver.ProgramExternalConnectivity": nothing,
    "/NetworkDriver.RevokeExternalConnectivity": nothing,
}
assert set(ROUTES) == set(SCHEMAS)


def _reply(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, content_type=CONTENT_TYPE)


def make_app(driver: Driver, observe: Observer | None = None) -> web.Application:
    """The plugin's web application; ``observe(path, seconds, error)`` sees every call."""

    async def dispatch(request: web.Request) -> web.Response:
        path = request.path
        handler = ROUTES.get(path)
        if handler is None:
            return _reply({"Err": f"dovesnap: unknown plugin call {path[:100]}"}, status=404)
        started = time.monotonic()
        error: str | None = None
        try:
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise RequestError(f"request body is larger than {MAX_BODY} bytes") from None
            body = parse_body(path, raw)
            result = await handler(driver, body)
        except DovesnapError as err:
            error = err.message
            log.warning("%s failed: %s", path, err.message)
            result = {"Err": err.message}
        except Exception as err:  # never let a bug kill the plugin; report it to Docker
            error = f"dovesnap: internal error in {path}: {err!r}"
            log.exception("%s crashed", path)
            result = {"Err": error}
        if observe is not None:
            observe(path, time.monotonic() - started, error)
        return _reply(result)

    app = web.Application(client_max_size=MAX_BODY + 1)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
