"""The integration test rig: real dockerd, OVS, FAUCET, dovesnap; helpers that clean up."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dovesnap.tools import service_ready

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "dovesnap-test-busybox:latest"
# DOVESNAP_TEST_INSTANCE=N runs the suite against its own plugin "dovesnap-tN" with its own
# FAUCET/Gauge/status ports, so several suites can share one dockerd and OVS.
INSTANCE = int(os.environ.get("DOVESNAP_TEST_INSTANCE", "0") or 0)
DRIVER = f"dovesnap-t{INSTANCE}" if INSTANCE else "dovesnap"
PLUGIN_SOCKET = Path(f"/run/docker/plugins/{DRIVER}.sock")
FAUCET_OF_PORT = 6653 + 100 * INSTANCE
GAUGE_OF_PORT = 6654 + 100 * INSTANCE
FAUCET_PROM_PORT = 19302 + 10 * INSTANCE if INSTANCE else 9302
GAUGE_PROM_PORT = FAUCET_PROM_PORT + 1
STATUS_PORT = 9401 + INSTANCE
TEST_PREFIX = f"dstest{INSTANCE or ''}-"


@dataclass(frozen=True)
class Instance:
    """Names and ports of one dovesnap instance (0 is the real "dovesnap")."""

    number: int

    @property
    def driver(self) -> str:
        return f"dovesnap-t{self.number}" if self.number else "dovesnap"

    @property
    def socket(self) -> Path:
        return Path(f"/run/docker/plugins/{self.driver}.sock")

    @property
    def faucet_of_port(self) -> int:
        return 6653 + 100 * self.number

    @property
    def gauge_of_port(self) -> int:
        return 6654 + 100 * self.number

    @property
    def faucet_prom_port(self) -> int:
        return 19302 + 10 * self.number if self.number else 9302

    @property
    def status_port(self) -> int:
        return 9401 + self.number


SUITE = Instance(INSTANCE)
VENV_BIN = Path(sys.executable).parent
# The docker CLI that came with the engine (Debian's docker.io) speaks the engine's API version;
# a newer CLI elsewhere on PATH may refuse options such as --mac-address against an older engine.
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"

# ACLs and a meter an operator would keep in faucet.yaml; dovesnap must keep them intact.
OPERATOR_CONFIG: dict[str, Any] = {
    "meters": {
        "lossymeter": {
            "meter_id": 1,
            "entry": {"flags": ["KBPS"], "bands": [{"type": "DROP", "rate": 100}]},
        },
    },
    "acls": {
        "allowall": [{"rule": {"actions": {"allow": 1}}}],
        "denyall": [{"rule": {"actions": {"allow": 0}}}],
        "ratelimitit": [{"rule": {"actions": {"meter": "lossymeter", "allow": 1}}}],
    },
}


def run(argv: Sequence[str], check: bool = True, timeout: float = 120,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=check, timeout=timeout, input=input_text
    )


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
               what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def unique(kind: str) -> str:
    return f"{TEST_PREFIX}{kind}-{secrets.token_hex(3)}"


def docker_answers() -> bool:
    return run([DOCKER, "info", "--format", "{{.ID}}"], check=False, timeout=30).returncode == 0


def plugin_answers(sock: Path = PLUGIN_SOCKET, timeout: float = 2.0) -> bool:
    return service_ready.plugin_answers(sock, timeout)  # dovesnap's one Plugin.Activate probe


def tcp_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as client:
        client.settimeout(1)
        return client.connect_ex((host, port)) == 0


def ensure_image() -> None:
    if run([DOCKER, "image", "inspect", IMAGE], check=False).returncode == 0:
        return
    busybox = shutil.which("busybox") or "/bin/busybox"
    with tempfile.TemporaryDirectory() as root:
        bindir = Path(root, "bin")
        bindir.mkdir()
        shutil.copy2(busybox, bindir / "busybox")
        for applet in run([busybox, "--list"]).stdout.split():
            if applet and applet != "busybox":
                with contextlib.suppress(FileExistsError):
                    (bindir / applet).symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([DOCKER, "import", "-", IMAGE], stdin=tar.stdout, check=True,
                       capture_output=True)
        tar.wait()


@dataclass
class Daemon:
    """A ``dovesnap serve`` started by the tests, with its own FAUCET config dir."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    instance: Instance = SUITE

    @property
    def config_dir(self) -> Path:
        return self.workdir / "faucet"

    @property
    def faucet_yaml(self) -> Path:
        return self.config_dir / "faucet.yaml"

    @property
    def log_file(self) -> Path:
        return self.workdir / "dovesnap.log"

    def start(self, extra_args: Sequence[str] = ()) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if not self.faucet_yaml.exists():
            self.faucet_yaml.write_text(yaml.safe_dump(OPERATOR_CONFIG, sort_keys=False))
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "dovesnap"), "serve",
             "--faucet-config-dir", str(self.config_dir),
             "--state-dir", str(self.workdir / "state"),
             "--log-dir", str(self.workdir / "logs"),
             "--plugin-socket", str(self.instance.socket),
             "--status-port", str(self.instance.status_port),
             "--faucet-of-port", str(self.instance.faucet_of_port),
             "--gauge-of-port", str(self.instance.gauge_of_port),
             "--faucet-prom-port", str(self.instance.faucet_prom_port),
             "--gauge-prom-port", str(self.instance.faucet_prom_port + 1), *extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        try:
            wait_until(lambda: self.proc is not None and self.proc.poll() is None
                       and plugin_answers(self.instance.socket)
                       and tcp_listening(self.instance.faucet_of_port), 90, 0.2,
                       "dovesnap plugin socket and FAUCET")
        except AssertionError:
            self.stop()
            raise AssertionError("dovesnap did not start:\n" + self.log_tail()) from None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def faucet_config(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.faucet_yaml.read_text())
        return loaded or {}

    def dp(self, name: str) -> dict[str, Any] | None:
        dps = self.faucet_config().get("dps") or {}
        found: dict[str, Any] | None = dps.get(name)
        return found

    def status(self) -> dict[str, Any]:
        import urllib.request

        url = f"http://127.0.0.1:{self.instance.status_port}/networks"
        with urllib.request.urlopen(url, timeout=5) as resp:
            data: dict[str, Any] = json.load(resp)
            return data


@dataclass
class Docker:
    """Creates networks and containers through the docker CLI and removes them afterwards."""

    networks: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    driver: str = DRIVER

    def network(self, *options: str, name: str | None = None, internal: bool = True,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        name = name or unique("net")
        argv = [DOCKER, "network", "create", "-d", self.driver]
        if internal:
            argv.append("--internal")
        for option in options:
            argv += ["-o", option]
        argv.append(name)
        result = run(argv, check=False)
        if result.returncode == 0:
            self.networks.append(name)
        elif check:
            raise AssertionError(f"network create failed: {result.stderr}")
        result.args = name  # type: ignore[assignment]
        return result

    def run_container(self, network: str, *extra: str, name: str | None = None,
                      command: Sequence[str] = ("sleep", "3600")) -> str:
        name = name or unique("c")
        self.containers.append(name)
        run([DOCKER, "run", "-d", "--name", name, "--net", network, *extra, IMAGE, *command])
        return name

    def exec(self, container: str, *argv: str, check: bool = False, timeout: float = 60,
             detach: bool = False) -> subprocess.CompletedProcess[str]:
        flags = ["-d"] if detach else []
        return run([DOCKER, "exec", *flags, container, *argv], check=check, timeout=timeout)

    def ip(self, container: str) -> str:
        out = run([DOCKER, "inspect", "-f",
                   "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]).stdout
        return out.split()[0]

    def mac_in_container(self, container: str, ifname: str = "eth0") -> str:
        text = self.exec(container, "cat", f"/sys/class/net/{ifname}/address", check=True).stdout
        return text.strip()

    def ping(self, container: str, address: str, count: int = 1, wait: int = 1) -> bool:
        result = self.exec(container, "ping", "-c", str(count), "-W", str(wait), address)
        return result.returncode == 0

    def remove_container(self, name: str) -> None:
        run([DOCKER, "rm", "-f", name], check=False)
        if name in self.containers:
            self.containers.remove(name)

    def remove_network(self, name: str) -> None:
        run([DOCKER, "network", "rm", name], check=False)
        if name in self.networks:
            self.networks.remove(name)

    def cleanup(self) -> None:
        for name in list(self.containers):
            self.remove_container(name)
        for name in list(self.networks):
            self.remove_network(name)


def ovs_bridges() -> list[str]:
    return run(["ovs-vsctl", "list-br"]).stdout.split()


def host_links(prefix: str) -> list[str]:
    out = run(["ip", "-o", "link", "show"]).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return [n for n in names if n.startswith(prefix)]


def bridge_of(daemon: Daemon, network: str) -> str:
    for net in daemon.status().values():
        if net["NetworkName"] == network:
            return str(net["BridgeName"])
    raise AssertionError(f"network {network} not in status")


@contextlib.contextmanager
def own_daemon(workdir: Path, instance: Instance) -> Iterator[Daemon]:
    """A dovesnap of a test module's own (another instance), stopped however the test ends."""
    daemon = Daemon(workdir, instance=instance)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@contextlib.contextmanager
def docker_objects() -> Iterator[Docker]:
    docker = Docker()
    try:
        yield docker
    finally:
        docker.cleanup()
