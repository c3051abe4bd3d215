"""Engine API version negotiation against a fake Docker engine.

The fake is a real HTTP server on a unix socket, stateful, that serves only the API versions in
its range and refuses others with Docker's own 400 answers, so the docker SDK, the sockets and the
connection pool are the real ones. It can be stopped and started again with another range, as
when Docker is restarted or upgraded under a running dovesnap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import docker.errors
import pytest
import requests

from dovesnap.adapters.docker_api import (
    NEWEST_API_VERSION,
    ContainerInfo,
    DockerSdkBackend,
    NetworkInfo,
    choose_api_version,
)
from dovesnap.adapters.docker_events import DockerEventWatcher
from dovesnap.features.dhcp.container_netns import KernelContainerNetns
from dovesnap.tools.doctor import DockerSeen
from dovesnap.tools.probes import SystemProbes

NET = "a1" + "0" * 62
OTHER_NET = "b2" + "0" * 62
CONTAINER = "c3" + "0" * 62
ENGINE_ID = "ABCD:EFGH:1234"

# (min, max) API versions served, and the version a negotiating dovesnap should then speak.
DOCKER_29 = ("1.44", "1.52")  # Docker 29, or Docker 28 run with DOCKER_MIN_API_VERSION=1.44
DOCKER_20 = ("1.12", "1.41")  # Debian 12's docker.io 20.10


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128  # as dockerd's: connect() to a full unix backlog fails with EAGAIN
    engine: FakeEngine


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as dockerd: the client pools connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.engine.opened(self.connection)

    def finish(self) -> None:
        self.server.engine.closed(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.engine.handle(self)


class FakeEngine:
    """The endpoints dovesnap reads, answered from networks and containers held here."""

    def __init__(self, sock: Path, min_api: str, max_api: str) -> None:
        self.sock = sock
        self.url = f"unix://{sock}"
        self.min_api, self.max_api = min_api, max_api
        self.requests: list[tuple[str, int]] = []  # (path without query, HTTP status)
        self.networks: list[dict[str, Any]] = [
            {"Id": NET, "Name": "net1", "Driver": "dovesnap", "Internal": True,
             "Options": {"ovs.bridge.dpid": "0x1"}, "EnableIPv6": False,
             "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]},
             "Containers": {CONTAINER: {"EndpointID": "ep1"}}},
            {"Id": OTHER_NET, "Name": "bridge", "Driver": "bridge", "Containers": {}},
        ]
        self.containers: list[dict[str, Any]] = [
            {"Id": CONTAINER, "Names": ["/web"], "Labels": {"a": "b"}, "State": "running",
             "NetworkSettings": {"Networks": {"net1": {"NetworkID": NET, "EndpointID": "ep1"}}}},
        ]
        self._events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------
    def start(self, min_api: str | None = None, max_api: str | None = None) -> None:
        self.min_api, self.max_api = min_api or self.min_api, max_api or self.max_api
        self.sock.unlink(missing_ok=True)
        self._server = _Server(str(self.sock), _Handler)
        self._server.engine = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """As dockerd stopping: the socket goes and every open connection is cut."""
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.sock.unlink(missing_ok=True)
        with self._cond:
            self._server = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._conns.clear()
            self._cond.notify_all()

    def opened(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.add(conn)

    def closed(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.discard(conn)

    def emit_connect(self, network_id: str, container_id: str) -> None:
        with self._cond:
            self._events.append({
                "Type": "network", "Action": "connect", "scope": "local", "time": int(time.time()),
                "Actor": {"ID": network_id, "Attributes": {"container": container_id}},
            })
            self._cond.notify_all()

    def versions_used(self) -> list[str]:
        """The API versions of the requests answered 200, in order ('' for unversioned)."""
        return [m.group(1) if (m := re.match(r"/v([\d.]+)/", p)) else ""
                for p, status in self.requests if status == 200]

    # -- HTTP --------------------------------------------------------------------------------
    def handle(self, req: _Handler) -> None:
        url = urlsplit(req.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        filters: dict[str, list[str]] = json.loads(query.get("filters") or "{}")
        match = re.match(r"^/v([\d.]+)(/.*)$", url.path)
        version, path = (match.group(1), match.group(2)) if match else (self.max_api, url.path)
        if _key(version) < _key(self.min_api):  # Docker's version middleware, word for word
            return self._reply(req, url.path, 400, {"message": (
                f"client version {version} is too old. Minimum supported API version is "
                f"{self.min_api}, please upgrade your client to a newer version")})
        if _key(version) > _key(self.max_api):
            return self._reply(req, url.path, 400, {"message": (
                f"client version {version} is too new. Maximum supported API version is "
                f"{self.max_api}")})
        if path == "/version":
            return self._reply(req, url.path, 200, {
                "Version": "fake", "ApiVersion": self.max_api, "MinAPIVersion": self.min_api})
        if path == "/info":
            return self._reply(req, url.path, 200, {"ID": ENGINE_ID, "ServerVersion": "fake"})
        if path == "/networks":
            nets = [n for n in self.networks  # dockerd matches id prefixes
                    if any(n["Id"].startswith(i) for i in filters.get("id", [""]))
                    and n["Driver"] in filters.get("driver", [n["Driver"]])]
            return self._reply(req, url.path, 200, nets)
        if path == "/containers/json":
            found = [c for c in self.containers
                     if all(any(n["NetworkID"] == want or name == want
                                for name, n in c["NetworkSettings"]["Networks"].items())
                            for want in filters.get("network", []))
                     and all(c["Id"].startswith(want) for want in filters.get("id", []))]
            return self._reply(req, url.path, 200, found)
        if path == "/events":
            return self._stream_events(req, url.path)
        if m := re.match(r"^/containers/([0-9a-f]+)/json$", path):
            for found in self.containers:
                if found["Id"] == m.group(1):  # inspect: the summary plus the sandbox
                    settings = {**found["NetworkSettings"], "SandboxKey": "/run/netns/fake"}
                    return self._reply(req, url.path, 200, {**found, "NetworkSettings": settings})
        if m := re.match(r"^/networks/([0-9a-f]+)$", path):
            for net in self.networks:
                if net["Id"] == m.group(1):
                    return self._reply(req, url.path, 200, net)
        return self._reply(req, url.path, 404, {"message": f"page not found: {path}"})

    def _reply(self, req: _Handler, path: str, status: int, body: Any) -> None:
        self.requests.append((path, status))
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Api-Version", self.max_api)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _stream_events(self, req: _Handler, path: str) -> None:
        self.requests.append((path, 200))
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        server = self._server
        while True:
            with self._cond:
                while not self._events and self._server is server:
                    self._cond.wait(0.2)
                if self._server is not server:
                    return
                event = self._events.pop(0)
            data = json.dumps(event).encode() + b"\n"
            try:
                req.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            except OSError:
                return


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[FakeEngine]:
    fake = FakeEngine(tmp_path / "docker.sock", *DOCKER_29)
    yield fake
    if fake._server is not None:
        fake.stop()


def check_backend(backend: DockerSdkBackend) -> None:
    assert backend.network_name(NET) == "net1"
    assert backend.network_name(NET[:4]) is None  # a prefix match is not the network
    assert backend.container_for_endpoint(NET, "ep1") == ContainerInfo(
        CONTAINER, "web", {"a": "b"}, state="running")
    assert backend.container_for_endpoint(NET, "nope") is None
    assert backend.dovesnap_networks() == [NetworkInfo(
        NET, "net1", {"ovs.bridge.dpid": "0x1"}, True,
        ({"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"},), False)]
    assert backend.engine_id() == ENGINE_ID
    assert backend.network_endpoints(NET) == {"ep1": CONTAINER}


@pytest.mark.parametrize(
    ("min_api", "max_api", "spoken"),
    [(*DOCKER_29, NEWEST_API_VERSION), (*DOCKER_20, "1.41")],
)
def test_the_fake_refuses_like_docker_and_a_pinned_client_fails(
    engine: FakeEngine, min_api: str, max_api: str, spoken: str
) -> None:
    engine.start(min_api, max_api)
    wrong = "1.41" if spoken != "1.41" else NEWEST_API_VERSION
    with pytest.raises(docker.errors.APIError) as err:
        docker.APIClient(base_url=engine.url, version=wrong).networks()
    assert err.value.response.status_code == 400
    word, limit = ("old", "Minimum", ) if wrong == "1.41" else ("new", "Maximum")
    assert f"client version {wrong} is too {word}. {limit} supported API version is" in str(err.value)


@pytest.mark.parametrize(
    ("min_api", "max_api", "spoken"),
    [(*DOCKER_29, NEWEST_API_VERSION), (*DOCKER_20, "1.41")],
)
def test_backend_negotiates_on_first_call(
    engine: FakeEngine, min_api: str, max_api: str, spoken: str
) -> None:
    engine.start(min_api, max_api)
    backend = DockerSdkBackend(engine.url)
    assert engine.requests == []  # construction asks Docker nothing
    check_backend(backend)
    assert engine.requests[0] == ("/version", 200)  # unversioned, once
    assert engine.versions_used() == [""] + [spoken] * (len(engine.requests) - 1)
    assert all(status == 200 for _, status in engine.requests)


def test_construction_without_docker_then_docker_comes_up(engine: FakeEngine) -> None:
    backend = DockerSdkBackend(engine.url)  # dovesnap starts before dockerd
    loop = asyncio.new_event_loop()
    DockerEventWatcher(engine.url, loop, lambda n, c: None)
    loop.close()
    with pytest.raises(requests.exceptions.ConnectionError):
        backend.engine_id()
    engine.start()
    check_backend(backend)
    assert engine.versions_used()[:2] == ["", NEWEST_API_VERSION]


@pytest.mark.parametrize(
    ("before", "after", "spoken_after"),
    [(DOCKER_20, DOCKER_29, NEWEST_API_VERSION), (DOCKER_29, DOCKER_20, "1.41")],
)
def test_restart_with_another_version_is_renegotiated(
    engine: FakeEngine, before: tuple[str, str], after: tuple[str, str], spoken_after: str
) -> None:
    engine.start(*before)
    backend = DockerSdkBackend(engine.url)
    assert backend.network_name(NET) == "net1"
    engine.stop()
    engine.start(*after)  # Docker upgraded (or downgraded) and restarted under us
    engine.requests.clear()
    assert backend.network_name(NET) == "net1"  # refused, renegotiated, asked once more
    assert [s for _, s in engine.requests] == [400, 200, 200]
    assert engine.requests[1] == ("/version", 200)
    assert engine.versions_used() == ["", spoken_after]
    check_backend(backend)


def test_call_while_docker_is_down_renegotiates_when_it_is_back(engine: FakeEngine) -> None:
    engine.start(*DOCKER_20)
    backend = DockerSdkBackend(engine.url)
    assert backend.engine_id() == ENGINE_ID
    engine.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        backend.engine_id()
    engine.start(*DOCKER_29)
    engine.requests.clear()
    assert backend.engine_id() == ENGINE_ID
    assert engine.requests == [("/version", 200), (f"/v{NEWEST_API_VERSION}/info", 200)]


def test_threads_share_one_negotiation(engine: FakeEngine) -> None:
    engine.start()
    backend = DockerSdkBackend(engine.url)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: backend.engine_id(), range(16)))
    assert ids == [ENGINE_ID] * 16
    assert engine.versions_used().count("") == 1


async def test_event_stream_speaks_the_negotiated_version_across_restarts(engine: FakeEngine) -> None:
    engine.start(*DOCKER_29)
    backend = DockerSdkBackend(engine.url)
    assert backend.engine_id() == ENGINE_ID  # negotiated once for this Docker URL
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    watcher = DockerEventWatcher(engine.url, asyncio.get_running_loop(),
                                 lambda n, c: seen.put_nowait((n, c)))
    watcher.start()
    try:
        engine.emit_connect(NET, CONTAINER)
        assert await asyncio.wait_for(seen.get(), 10) == (NET, CONTAINER)
        assert engine.versions_used() == ["", NEWEST_API_VERSION, NEWEST_API_VERSION,
                                          NEWEST_API_VERSION]  # /version, /info, /version, /events
        engine.stop()
        engine.start(*DOCKER_20)  # the stream is cut; Docker is back, older
        engine.requests.clear()
        engine.emit_connect(NET, "d4" + "0" * 62)
        assert await asyncio.wait_for(seen.get(), 10) == (NET, "d4" + "0" * 62)
        # One refused call, not a stream reopened and refused in a loop.
        assert engine.requests == [(f"/v{NEWEST_API_VERSION}/version", 400), ("/version", 200),
                                   ("/v1.41/version", 200), ("/v1.41/events", 200)]
        assert backend.engine_id() == ENGINE_ID  # the backend uses the stream's renegotiation
        assert engine.requests[-1] == ("/v1.41/info", 200)
    finally:
        watcher.stop()


@pytest.mark.parametrize(("min_api", "max_api", "spoken"),
                         [(*DOCKER_29, NEWEST_API_VERSION), (*DOCKER_20, "1.41")])
def test_doctor_and_dhcp_lookups_negotiate_too(
    engine: FakeEngine, min_api: str, max_api: str, spoken: str
) -> None:
    engine.start(min_api, max_api)
    assert SystemProbes().docker(engine.url, "dovesnap") == DockerSeen(
        version="fake", internal_networks=("net1",))
    assert KernelContainerNetns(engine.url).sandbox_key(CONTAINER) == "/run/netns/fake"
    assert all(status == 200 for _, status in engine.requests)
    # Each asked /version (unversioned) first, then spoke what dovesnap chooses, not the SDK's
    # "auto" (the engine's newest, 1.52, which this client was never checked against).
    assert set(engine.versions_used()) == {"", spoken}


@pytest.mark.parametrize(
    ("engine_api", "engine_min", "newest", "expected"),
    [
        ("1.52", "1.44", "1.51", "1.51"),  # Docker 29: ours is older, and accepted
        ("1.41", "1.12", "1.51", "1.41"),  # Docker 20.10: its newest
        ("1.51", "1.24", "1.51", "1.51"),
        ("1.52", "1.44", "1.41", "1.44"),  # ours too old for it: never below what it accepts
        ("1.9", None, "1.10", "1.9"),  # compared as numbers, not strings
    ],
)
def test_choose_api_version(engine_api: str, engine_min: str | None, newest: str, expected: str) -> None:
    assert choose_api_version(engine_api, engine_min, newest) == expected
