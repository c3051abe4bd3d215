"""The integration test rig: real dockerd, OVS, FAUCET, dovesnap; helpers that clean up."""

from __future__ import annotations

import contextlib
import json
import os
import re
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
from tests.integration.instances import (  # re-exported: the rig's users import them from here
    DEFAULT_PORTS as DEFAULT_PORTS,
)
from tests.integration.instances import (
    INSTANCE as INSTANCE,
)
from tests.integration.instances import (
    OWN_DAEMONS as OWN_DAEMONS,
)
from tests.integration.instances import (
    PORT_BASE as PORT_BASE,
)
from tests.integration.instances import (
    PORTS_EACH as PORTS_EACH,
)
from tests.integration.instances import (
    RUN_BLOCK as RUN_BLOCK,
)
from tests.integration.instances import (
    RUNS as RUNS,
)
from tests.integration.instances import (
    Instance as Instance,
)
from tests.integration.instances import (
    instance_for as instance_for,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "dovesnap-test-busybox:latest"

SUITE = instance_for()
DRIVER = SUITE.driver
PLUGIN_SOCKET = SUITE.socket
FAUCET_OF_PORT = SUITE.faucet_of_port
GAUGE_OF_PORT = SUITE.gauge_of_port
FAUCET_PROM_PORT = SUITE.faucet_prom_port
GAUGE_PROM_PORT = SUITE.gauge_prom_port
STATUS_PORT = SUITE.status_port
TEST_PREFIX = f"dstest{INSTANCE or ''}-"
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


class CommandFailed(subprocess.CalledProcessError):
    """A failed command whose message carries what it printed, so a CI log shows why."""

    def __str__(self) -> str:
        said = (self.stderr or self.stdout or "").strip()
        return super().__str__() + (f": {said[-2000:]}" if said else "")


def run(argv: Sequence[str], check: bool = True, timeout: float = 120,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, input=input_text
    )
    if check and done.returncode:
        raise CommandFailed(done.returncode, done.args, done.stdout, done.stderr)
    return done


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


def own_subnet(index: int) -> str:
    """An IPv4 /24 of this run's own range, 10.<run*10>.0.0/16 to 10.<run*10+9>.0.0/16."""
    second, third = divmod(index, 256)
    if not 0 <= second < 10:
        raise ValueError(f"subnet index {index} is outside this run's ten /16s")
    return f"10.{INSTANCE * 10 + second}.{third}.0/24"


def own_subnet6(index: int) -> str:
    """An IPv6 /64 of this run's own range, fd42:<run>::/32."""
    return f"fd42:{INSTANCE}:{index:x}::/64"


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


def ensure_image(cli: Sequence[str] = (DOCKER,)) -> None:
    """The busybox image with every applet on PATH, imported into the engine ``cli`` talks to."""
    if run([*cli, "image", "inspect", IMAGE], check=False).returncode == 0:
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
        subprocess.run([*cli, "import", "-", IMAGE], stdin=tar.stdout, check=True,
                       capture_output=True)
        tar.wait()


def _limit_files(count: int) -> Callable[[], None]:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return limit


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

    def start(self, extra_args: Sequence[str] = (), nofile: int | None = None) -> None:
        """Start it; ``nofile`` caps its open files (soft and hard limit)."""
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
             "--gauge-prom-port", str(self.instance.gauge_prom_port), *extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=None if nofile is None else _limit_files(nofile),
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

    def faucet_log_size(self) -> int:
        """Where FAUCET's log ends now: pass it to ``faucet_port_changes`` later."""
        return (self.workdir / "logs" / "faucet.log").stat().st_size

    def faucet_port_changes(self, dp: str, port: int, since: int) -> tuple[list[str], list[str]]:
        """(lines where FAUCET added, changed or deleted ``port`` of ``dp``, all of dp's lines)
        in FAUCET's log after offset ``since``."""
        with (self.workdir / "logs" / "faucet.log").open(errors="replace") as text:
            text.seek(since)
            ours = [line for line in text if f" {dp} " in line]
        changed = re.compile(rf"\bport {port} (added|changed|deleted)\b"
                             rf"|\bports (added|changed|deleted): \{{[^}}]*\b{port}\b")
        return [line for line in ours if changed.search(line)], ours

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
    # The docker command line, e.g. ("/usr/local/bin/docker", "-H", url) for another engine.
    cli: tuple[str, ...] = (DOCKER,)

    def network(self, *options: str, name: str | None = None, internal: bool = True,
                check: bool = True, subnet: str | None = None, args: Sequence[str] = ()
                ) -> subprocess.CompletedProcess[str]:
        """``docker network create`` with ``-o`` options; ``args`` go before them (--subnet)."""
        name = name or unique("net")
        argv = [*self.cli, "network", "create", "-d", self.driver, *args]
        if internal:
            argv.append("--internal")
        if subnet:
            argv += ["--subnet", subnet]
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
        run([*self.cli, "run", "-d", "--name", name, "--net", network, *extra, IMAGE, *command])
        return name

    def exec(self, container: str, *argv: str, check: bool = False, timeout: float = 60,
             detach: bool = False) -> subprocess.CompletedProcess[str]:
        flags = ["-d"] if detach else []
        return run([*self.cli, "exec", *flags, container, *argv], check=check, timeout=timeout)

    def ip(self, container: str) -> str:
        out = run([*self.cli, "inspect", "-f",
                   "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]).stdout
        return out.split()[0]

    def mac_in_container(self, container: str, ifname: str = "eth0") -> str:
        text = self.exec(container, "cat", f"/sys/class/net/{ifname}/address", check=True).stdout
        return text.strip()

    def ping(self, container: str, address: str, count: int = 1, wait: int = 1) -> bool:
        result = self.exec(container, "ping", "-c", str(count), "-W", str(wait), address)
        return result.returncode == 0

    def remove_container(self, name: str) -> None:
        run([*self.cli, "rm", "-f", name], check=False)
        if name in self.containers:
            self.containers.remove(name)

    def remove_network(self, name: str) -> None:
        run([*self.cli, "network", "rm", name], check=False)
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
