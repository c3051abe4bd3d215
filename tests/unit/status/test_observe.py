"""The status port's page, picture, metrics and event stream, on a driver over fakes."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.features.events import EventHooks
from dovesnap.status.metrics import DovesnapMetrics, api_kind
from dovesnap.status.observe import Observability
from dovesnap.status.report import status
from dovesnap.status.server import make_status_app, parse_auth_ips
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, attach, make_net

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


@pytest.fixture
async def served(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore,
    settings: DriverSettings,
) -> AsyncIterator[tuple[Driver, Observability, TestClient[Any, Any]]]:
    observe = Observability(CollectorRegistry())
    events = EventHooks(observe.bus.publish)
    drv = make_driver(settings, ovs, netlink, docker, store, [events])

    def get_status() -> dict[str, Any]:
        return status(drv.networks, "e7e7e7")

    app = make_status_app(get_status, parse_auth_ips("127.0.0.0/8"),
                          observe.routes(get_status, drv, lambda: "e7e7e7"))
    async with TestClient(TestServer(app)) as client:
        yield drv, observe, client
    await events.close()
    await drv.close()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize(("path", "kind"), [
    ("/NetworkDriver.Join", "Join"), ("/Plugin.Activate", "Activate"),
    ("/NetworkDriver.CreateNetwork", "CreateNetwork"), ("/evil/" + "x" * 500, "other"),
])
def test_api_kind(path: str, kind: str) -> None:
    assert api_kind(path) == kind


def test_api_observer_counts_latency_operations_and_errors() -> None:
    registry = CollectorRegistry()
    metrics = DovesnapMetrics(registry)
    metrics.observe_api("/NetworkDriver.Join", 0.003, None)
    metrics.observe_api("/NetworkDriver.Join", 0.2, "dovesnap: no")
    metrics.observe_api("/NetworkDriver.Leave", 0.001, None)
    assert sample(registry, "dovesnap_operations_total", kind="Join") == 2
    assert sample(registry, "dovesnap_operation_errors_total", kind="Join") == 1
    assert sample(registry, "dovesnap_operation_errors_total", kind="Leave") == 0
    assert sample(registry, "dovesnap_api_request_seconds_count", endpoint="Join") == 2
    assert sample(registry, "dovesnap_api_request_seconds_bucket", endpoint="Join", le="0.005") == 1


def test_timed_validator_counts_checks_and_refusals() -> None:
    registry = CollectorRegistry()
    metrics = DovesnapMetrics(registry)
    refused: list[str] = []

    def validator(path: str) -> None:
        if path == "bad":
            refused.append(path)
            raise ValueError(path)

    check = metrics.timed_validator(validator)
    check("good")
    with pytest.raises(ValueError):
        check("bad")
    assert sample(registry, "dovesnap_faucet_config_check_seconds_count") == 2
    assert sample(registry, "dovesnap_faucet_config_refusals_total") == 1 and refused == ["bad"]


async def test_metrics_follow_the_driver(
    served: tuple[Driver, Observability, TestClient[Any, Any]], docker: FakeDocker
) -> None:
    driver, observe, client = served
    registry = observe.metrics.registry
    await make_net(driver, docker)
    # The DP shows in the file a moment before FAUCET is told to reload.
    await eventually(lambda: sample(registry, "dovesnap_faucet_reloads_total") >= 1)
    reloads = sample(registry, "dovesnap_faucet_reloads_total")
    assert reloads >= 1
    await attach(driver, docker, EP[0], "web")
    await attach(driver, docker, EP[1], "bad", {"dovesnap.faucet.portacl": "no-such-acl"})
    assert sample(registry, "dovesnap_network_ports", network="net1", bridge="odsbra1b2c",
                  kind="container") == 2
    assert sample(registry, "dovesnap_fail_closed_ports", network="net1", bridge="odsbra1b2c") == 1
    assert sample(registry, "dovesnap_faucet_reloads_total") > reloads
    text = await (await client.get("/metrics")).text()
    assert 'dovesnap_fail_closed_ports{bridge="odsbra1b2c",network="net1"} 1.0' in text
    assert "dovesnap_networks 1.0" in text
    changes = sample(registry, "dovesnap_faucet_changes_total")
    assert changes >= sample(registry, "dovesnap_faucet_reloads_total")
    assert sample(registry, "dovesnap_faucet_last_write_seconds") > 0
    assert "dovesnap_faucet_concurrent_edits_total 0.0" in text
    assert "dovesnap_faucet_held_renames_total 0.0" in text
    assert sample(registry, "dovesnap_port_states", network="net1", bridge="odsbra1b2c",
                  state="fail-closed") == 1
    assert sample(registry, "dovesnap_faucet_errors", network="net1", bridge="odsbra1b2c") == 0
    driver.networks[NET].faucet_error = "FAUCET refused the config: x"
    assert sample(registry, "dovesnap_faucet_errors", network="net1", bridge="odsbra1b2c") == 1


async def test_page_lists_containers_and_fail_closed_reason(
    served: tuple[Driver, Observability, TestClient[Any, Any]], docker: FakeDocker
) -> None:
    driver, _, client = served
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web<script>", {"dovesnap.faucet.portacl": "allowall"})
    await attach(driver, docker, EP[1], "bad", {"dovesnap.faucet.portacl": "no-such-acl"})
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    page = await resp.text()
    assert "web&lt;script&gt;" in page and "web<script>" not in page
    assert "FAIL-CLOSED</span>: FAUCET refused" in page
    web = driver.networks[NET].endpoints[EP[0]]
    web.state, web.state_reason = "not-applied", "FAUCET installed no flows for port 1"
    page = await (await client.get("/")).text()
    assert "NOT APPLIED by FAUCET</span>: FAUCET installed no flows for port 1" in page
    assert "1 not applied by FAUCET" in page
    assert '<script src="ui/page.js"></script>' in page
    body = await (await client.get("/ui/body")).text()
    assert "<html" not in body and "allowall" in body
    script = await client.get("/ui/page.js")
    assert "setInterval" in await script.text() and script.content_type == "text/javascript"


async def test_page_answers_while_faucet_yaml_is_broken(
    served: tuple[Driver, Observability, TestClient[Any, Any]], docker: FakeDocker,
    store: FaucetConfigStore,
) -> None:
    driver, _, client = served
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    store.path.write_text(store.path.read_text() + "acls: [\n")
    for path in ("/", "/ui/body", "/networks"):
        resp = await client.get(path)
        assert resp.status == 200, path
    assert "web" in await (await client.get("/ui/body")).text()


@needs_dot
async def test_picture_routes(
    served: tuple[Driver, Observability, TestClient[Any, Any]], docker: FakeDocker
) -> None:
    driver, _, client = served
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    svg = await client.get("/graph.svg")
    assert svg.content_type == "image/svg+xml" and ">web<" in await svg.text()
    png = await client.get("/graph.png")
    assert (await png.read()).startswith(b"\x89PNG")
    assert "<svg" in await (await client.get("/")).text()


async def test_event_stream_sees_join_and_leave(
    served: tuple[Driver, Observability, TestClient[Any, Any]], docker: FakeDocker
) -> None:
    driver, observe, client = served
    resp = await client.get("/events")
    assert resp.status == 200 and resp.content_type == "application/x-ndjson"
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    await driver.leave(NET, EP[0])

    async def next_event() -> dict[str, Any]:
        while True:
            line = await asyncio.wait_for(resp.content.readline(), 5)
            if line.strip():
                event: dict[str, Any] = json.loads(line)
                return event

    kinds = [(await next_event())["event"] for _ in range(3)]
    assert kinds == ["network_created", "container_joined", "container_left"]
    observe.bus.close()  # the daemon stopping ends the stream
    assert await asyncio.wait_for(resp.content.read(), 5) == b""


async def test_other_clients_are_refused_everything(
    ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker, store: FaucetConfigStore,
    settings: DriverSettings,
) -> None:
    observe = Observability(CollectorRegistry())
    drv = make_driver(settings, ovs, netlink, docker, store, [EventHooks(observe.bus.publish)])
    app = make_status_app(dict, parse_auth_ips("10.99.0.0/16"), observe.routes(dict, drv))
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/metrics", "/events", "/graph.svg", "/ui/body"):
            assert (await client.get(path)).status == 403
    await drv.close()
