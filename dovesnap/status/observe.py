"""What an operator can watch on the status port besides ``/networks``.

``Observability`` holds one daemon's metrics registry and event bus (which the event hooks of
``features/events.py`` publish to), and adds the routes: ``/`` (live page), ``/ui/body`` and
``/ui/page.js`` (its refresh), ``/graph.svg`` and ``/graph.png`` (the topology picture),
``/metrics`` (Prometheus) and ``/events`` (NDJSON stream).
They sit behind the status server's address check like ``/networks``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from dovesnap.blocking import run_blocking
from dovesnap.driver.core import Driver
from dovesnap.errors import DovesnapError
from dovesnap.features.events import EventBus, stream_events
from dovesnap.graph.facts import all_network_facts
from dovesnap.graph.model import Topology, build_topology
from dovesnap.graph.render import dot_available, render, to_dot
from dovesnap.status.metrics import DovesnapMetrics
from dovesnap.status.page import CSP, SCRIPT, render_body, render_page

log = logging.getLogger(__name__)

StatusGetter = Callable[[], dict[str, Any]]


class GraphCache:
    """Renders a topology with Graphviz once per distinct picture (the page asks every 3 s)."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = asyncio.Lock()

    async def render(self, topology: Topology, fmt: str) -> bytes:
        key = (to_dot(topology).source, fmt)
        async with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = await run_blocking(render, topology, fmt)
                if len(self._cache) >= self._size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = found
            return found

    async def svg_element(self, topology: Topology) -> tuple[str | None, str]:
        """The inline ``<svg>`` or None, and why not."""
        if not dot_available():
            return None, "Install Graphviz (apt-get install graphviz) to see the topology picture."
        try:
            text = (await self.render(topology, "svg")).decode("utf-8", errors="replace")
        except DovesnapError as err:
            return None, err.message
        start = text.find("<svg")
        return (text[start:] if start >= 0 else text), ""


class Observability:
    def __init__(self, registry: CollectorRegistry | None = None, bus: EventBus | None = None) -> None:
        self.metrics = DovesnapMetrics(registry if registry is not None else CollectorRegistry())
        self.bus = bus if bus is not None else EventBus()
        self.graphs = GraphCache()

    def routes(
        self, get_status: StatusGetter, driver: Driver, host: Callable[[], str] = lambda: "",
    ) -> Callable[[web.Application], None]:
        """The ``extra_routes`` callback for ``make_status_app``."""
        self.metrics.watch_state(lambda: driver.networks, lambda: driver.faucet)

        def faucet_config() -> Mapping[str, Any] | None:
            try:
                return driver.faucet.read()
            except DovesnapError as err:
                log.warning("status page: %s", err.message)
                return None

        async def snapshot() -> tuple[dict[str, Any], Mapping[str, Any] | None]:
            return get_status(), await run_blocking(faucet_config)

        async def body() -> str:
            status, faucet = await snapshot()
            facts = all_network_facts(status, faucet)
            svg, note = await self.graphs.svg_element(build_topology([status], faucet))
            return render_body(facts, svg, note)

        def html_response(text: str) -> web.Response:
            return web.Response(text=text, content_type="text/html", charset="utf-8",
                                headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

        async def page(_: web.Request) -> web.Response:
            return html_response(render_page(await body(), host()))

        async def page_body(_: web.Request) -> web.Response:
            return html_response(await body())

        async def script(_: web.Request) -> web.Response:
            return web.Response(text=SCRIPT, content_type="text/javascript", charset="utf-8")

        async def picture(request: web.Request) -> web.Response:
            fmt = request.match_info["fmt"]
            status, faucet = await snapshot()
            try:
                data = await self.graphs.render(build_topology([status], faucet), fmt)
            except DovesnapError as err:
                return web.Response(status=503, text=err.message + "\n")
            kind = "image/svg+xml" if fmt == "svg" else "image/png"
            return web.Response(body=data, content_type=kind, headers={"Cache-Control": "no-store"})

        async def metrics(_: web.Request) -> web.Response:
            data, content_type = self.metrics.exposition()
            return web.Response(body=data, headers={"Content-Type": content_type})

        async def events(request: web.Request) -> web.StreamResponse:
            return await stream_events(self.bus, request)

        async def close_streams(_: web.Application) -> None:
            self.bus.close()

        def add(app: web.Application) -> None:
            app.router.add_get("/", page)
            app.router.add_get("/ui/body", page_body)
            app.router.add_get("/ui/page.js", script)
            app.router.add_get(r"/graph.{fmt:(svg|png)}", picture)
            app.router.add_get("/metrics", metrics)
            app.router.add_get("/events", events)
            app.on_shutdown.append(close_streams)

        return add
