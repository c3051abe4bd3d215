"""Seeing the network, end to end: graph, live page in Chromium, metrics, events, doctor."""

from __future__ import annotations

import html
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.rig import (
    FAUCET_OF_PORT,
    GAUGE_OF_PORT,
    PLUGIN_SOCKET,
    ROOT,
    STATUS_PORT,
    VENV_BIN,
    Daemon,
    Docker,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "test-artifacts"
BASE = f"http://127.0.0.1:{STATUS_PORT}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def container_in_status(daemon: Daemon, network: str, name: str) -> dict[str, Any] | None:
    for net in daemon.status().values():
        if net["NetworkName"] != network:
            continue
        for ep in net["DynamicNetworkStates"]["Containers"].values():
            if ep["Name"] == name and ep["OFPort"]:
                found: dict[str, Any] = ep
                return found
    return None


def joined(daemon: Daemon, network: str, name: str) -> dict[str, Any]:
    """Wait for the container's FAUCET port (so its join is complete)."""
    def ready() -> dict[str, Any] | None:
        ep = container_in_status(daemon, network, name)
        dp = daemon.dp(network) or {}
        if ep and (ep["FailClosed"] or ep["OFPort"] in (dp.get("interfaces") or {})):
            return ep
        return None

    found: dict[str, Any] = wait_until(ready, 20, 0.1, f"{name} joined {network}")
    return found


def get(path: str) -> str:
    with urllib.request.urlopen(BASE + path, timeout=10) as resp:
        return str(resp.read().decode())


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed (apt-get install chromium)"
    with tempfile.TemporaryDirectory(prefix="dovesnap-chromium-") as profile:
        return run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                    *args], check=False, timeout=timeout)


def test_live_page_in_chromium_shows_new_container(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e7001").args
    web = docker.run_container(net, "--label", "dovesnap.faucet.portacl=allowall")
    joined(dovesnap, net, web)
    # The page renders on the server, then its script refreshes it: --virtual-time-budget lets
    # the timer fire, so a dumped DOM that says "updated" proves the script ran under the CSP.
    dom = chromium("--virtual-time-budget=8000", "--dump-dom", BASE + "/")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert web in dom.stdout and net in dom.stdout
    assert "live, updated" in dom.stdout, dom.stdout[:3000]
    assert "<svg" in dom.stdout and "allowall" in dom.stdout
    later = docker.run_container(net, "--label", "dovesnap.faucet.portacl=no-such-acl")
    assert wait_until(lambda: (container_in_status(dovesnap, net, later) or {}).get("FailClosed"),
                      20, 0.2, "fail-closed container")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    taken = chromium(f"--screenshot={shot}", "--window-size=1400,1100", "--hide-scrollbars",
                     BASE + "/")
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    dom = chromium("--dump-dom", BASE + "/")
    assert later in dom.stdout and "FAIL-CLOSED" in dom.stdout


def test_graph_command_draws_png_and_svg(dovesnap: Daemon, docker: Docker, tmp_path: Path) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e7002").args
    names = [docker.run_container(net) for _ in range(2)]
    for name in names:
        joined(dovesnap, net, name)
    png = tmp_path / "graph.png"
    out = run([str(VENV_BIN / "graph_dovesnap"), "-o", str(png),
               "--status-addrs", f"127.0.0.1:{STATUS_PORT}",
               "--faucet-config", str(dovesnap.faucet_yaml)], check=False)
    assert out.returncode == 0, out.stderr
    described = run(["file", str(png)]).stdout
    assert "PNG image data" in described, described
    assert 5_000 < png.stat().st_size < 5_000_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png, ARTIFACTS / "graph.png")
    svg = tmp_path / "graph.svg"
    out = run([str(VENV_BIN / "dovesnap"), "graph", "--format", "svg", "-o", str(svg),
               "--status-addrs", f"127.0.0.1:{STATUS_PORT}",
               "--faucet-config", str(dovesnap.faucet_yaml)], check=False)
    assert out.returncode == 0, out.stderr
    text = html.unescape(svg.read_text())  # Graphviz writes "-" as &#45;
    assert all(f">{name}<" in text for name in names) and f">{net}<" in text


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def test_metrics_move_when_a_container_joins(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e7003").args
    wait_until(lambda: dovesnap.dp(net), 15, what="DP written")
    before = get("/metrics")
    assert metric(before, "dovesnap_network_ports", bridge=_bridge(dovesnap, net),
                  kind="container", network=net) == 0
    name = docker.run_container(net)
    joined(dovesnap, net, name)
    after = get("/metrics")
    for kind in ("CreateEndpoint", "Join"):
        assert metric(after, "dovesnap_operations_total", kind=kind) > \
            metric(before, "dovesnap_operations_total", kind=kind)
    assert metric(after, "dovesnap_api_request_seconds_count", endpoint="Join") > \
        metric(before, "dovesnap_api_request_seconds_count", endpoint="Join")
    assert metric(after, "dovesnap_network_ports", bridge=_bridge(dovesnap, net),
                  kind="container", network=net) == 1
    assert metric(after, "dovesnap_faucet_reloads_total") > metric(before, "dovesnap_faucet_reloads_total")
    assert metric(after, "dovesnap_faucet_config_check_seconds_count") > 0


def _bridge(daemon: Daemon, network: str) -> str:
    return next(str(n["BridgeName"]) for n in daemon.status().values() if n["NetworkName"] == network)


@pytest.fixture
def event_stream() -> Iterator[queue.Queue[dict[str, Any]]]:
    """A subscriber to GET /events in a thread; its events arrive in the queue."""
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    conn = http.client.HTTPConnection("127.0.0.1", STATUS_PORT, timeout=60)
    conn.request("GET", "/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("application/x-ndjson")

    def read() -> None:
        try:
            for line in resp:
                if line.strip():
                    events.put(json.loads(line))
        except (OSError, ValueError, http.client.HTTPException):
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield events
    finally:
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)  # ends the reader's blocking read
        conn.close()
        reader.join(5)


def next_event(events: queue.Queue[dict[str, Any]], kind: str, **match: Any) -> dict[str, Any]:
    deadline = 30.0
    while True:
        event = events.get(timeout=deadline)
        if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
            return event


def test_event_subscriber_sees_join_and_leave(
    dovesnap: Daemon, docker: Docker, event_stream: queue.Queue[dict[str, Any]]
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e7004").args
    created = next_event(event_stream, "network_created", network=net)
    assert created["dpid"] == "0x7e7004"
    name = docker.run_container(net, "--label", "dovesnap.faucet.portacl=no-such-acl")
    join = next_event(event_stream, "container_joined", container=name)
    assert join["network"] == net and join["port"] >= 1 and join["mac"]
    failed = next_event(event_stream, "port_fail_closed", container=name)
    assert "no-such-acl" in failed["reason"]
    docker.remove_container(name)
    left = next_event(event_stream, "container_left", network=net)
    assert left["endpoint_id"] == join["endpoint_id"]
    docker.remove_network(net)
    assert next_event(event_stream, "network_deleted", network=net)["dpid"] == "0x7e7004"
    assert '"container_joined"' in dovesnap.log_file.read_text()  # events are logged too


def doctor(*extra: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return run([str(VENV_BIN / "dovesnap"), "doctor", "--plugin-socket", str(PLUGIN_SOCKET),
                "--faucet-config-dir", str(config_dir), "--faucet-of-port", str(FAUCET_OF_PORT),
                "--gauge-of-port", str(GAUGE_OF_PORT), *extra], check=False, timeout=120)


def doctor_passes(config_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """doctor's answer once it passes; on a timeout, the failure says what doctor said last."""
    last: list[subprocess.CompletedProcess[str]] = []

    def passes() -> bool:
        last[:] = [doctor(config_dir=config_dir)]
        return last[0].returncode == 0

    try:
        wait_until(passes, timeout, 1, "doctor to pass")
    except AssertionError as err:
        raise AssertionError(f"{err}; doctor said:\n{last[0].stdout}{last[0].stderr}") from None
    return last[0]


def failed_checks(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAIL ")]


def faucet_child(daemon: Daemon) -> int:
    """The pid of this instance's FAUCET: the last one its log says it started, if still its child."""
    assert daemon.proc is not None
    started = re.findall(r"faucet started \(pid (\d+)\)", daemon.log_file.read_text())
    assert started, "dovesnap never logged starting FAUCET"
    pid = int(started[-1])
    ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid == daemon.proc.pid, "that FAUCET is not a child of this dovesnap"
    return pid


def test_doctor_names_one_broken_thing_at_a_time(
    dovesnap: Daemon, docker: Docker, tmp_path: Path
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e7005").args
    joined(dovesnap, net, docker.run_container(net))
    healthy = doctor_passes(dovesnap.config_dir)
    assert "all checks passed" in healthy.stdout
    assert "bridges" in healthy.stdout and "every controller connected" in healthy.stdout

    missing_plugin = run([str(VENV_BIN / "dovesnap"), "doctor", "--plugin-socket",
                          str(tmp_path / "none.sock"), "--faucet-config-dir", str(dovesnap.config_dir),
                          "--faucet-of-port", str(FAUCET_OF_PORT), "--gauge-of-port",
                          str(GAUGE_OF_PORT)], check=False, timeout=120)
    assert missing_plugin.returncode == 1 and failed_checks(missing_plugin) == ["plugin"]

    bad = tmp_path / "badconf"
    bad.mkdir()
    (bad / "faucet.yaml").write_text(
        "dps: {x: {dp_id: 1, interfaces: {1: {native_vlan: 100, acls_in: [nope]}}}}\n")
    refused = doctor(config_dir=bad)
    assert refused.returncode == 1 and failed_checks(refused) == ["faucet-config"]
    assert "fix:" in refused.stdout

    pid = faucet_child(dovesnap)
    os.kill(pid, signal.SIGSTOP)  # FAUCET stopped: it holds its port but answers nothing
    try:
        stopped = doctor(config_dir=dovesnap.config_dir)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert stopped.returncode == 1 and "faucet" in failed_checks(stopped), stopped.stdout
    assert "FAUCET on 127.0.0.1" in stopped.stdout and "does not speak OpenFlow" in stopped.stdout
    # Back to health once FAUCET runs again (OVS reconnects by itself).
    doctor_passes(dovesnap.config_dir)
