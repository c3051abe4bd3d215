"""From nothing to the README's quick start, as a new user gets it.

FAUCET has no wheel on PyPI: pip builds it from its sdist, and as root that build copies FAUCET's
example config into /etc/faucet (DPs sw1/sw2 on dp_ids 0x1/0x2, VLAN office, a router) unless
files are there already; with a warm pip cache (a wheel built before) nothing is copied. So this
test takes away what a machine that built FAUCET once has: /etc/faucet (and /var/log/faucet,
which the build makes too) are moved aside, a fresh copy of the checkout gets a venv of its own,
and pip gets an empty cache (PIP_CACHE_DIR). Then it runs the README's quick start (the ``sh``
blocks between the ``first-contact`` markers, read from README.md, so README and code cannot
disagree) command by command: ``make up``, a network with ``ovs.bridge.dpid=0x1``, two containers
that ping, a ``portacl=denyall`` container that is cut off. It checks that FAUCET runs
dovesnap's starter config, with no example DP, VLAN or router, and the example kept beside as
``*.example``. Everything is put back afterwards, also when the test fails.

Names: in run 0 (CI's ``make test`` is run 0) the commands run exactly as
written, with the default plugin name ``dovesnap`` and the default ports; this module is moved to
the front of the run (conftest), before the session's dovesnap takes those names, and fails
if anything already answers on them. In any other run (several suites sharing one host) the
environment gives ``make up`` the run's own plugin name and ports (``-d dovesnap`` becomes
``-d dovesnap-tN``) so it can never meet another suite's dovesnap. /etc/faucet and the names
``mynet``, ``testcon``... are host-wide: a lock file makes concurrent runs of this test wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap import config
from tests.integration.install_helpers import copy_source
from tests.integration.rig import (
    DOCKER,
    IMAGE,
    INSTANCE,
    ROOT,
    SUITE,
    ensure_image,
    instance_for,
    plugin_answers,
    run,
    tcp_listening,
    wait_until,
)

pytestmark = pytest.mark.integration

NEEDS_NO_HOST_OVS = True  # a fresh machine: no Open vSwitch running yet (conftest)

# Run 0: the session's own names, the real defaults (this module runs before the session's
# dovesnap starts); any other run: this module's own instance.
FIRST = instance_for(__name__) if INSTANCE else SUITE
BEGIN, END = "<!-- first-contact: begin", "<!-- first-contact: end -->"
LOCK = Path("/run/lock/dovesnap-first-contact.lock")
ETC_FAUCET = config.FAUCET_CONFIG_DIR  # where FAUCET's sdist build copies its examples
LOG_FAUCET = Path("/var/log/faucet")  # which that build makes too
EXAMPLE_DPS, EXAMPLE_VLANS = {"sw1", "sw2"}, {"office", "guest"}
EXAMPLE_FAUCET_MAC = "0e:00:00:00:10:01"  # the example router's VIP MAC on VLAN office


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """The shell lines of the ``sh`` blocks between the first-contact markers, in order."""
    text = readme.read_text()
    assert BEGIN in text and END in text, "README.md lost its first-contact markers"
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def denied_containers(commands: list[str]) -> set[str]:
    """Containers the quick start starts with the denyall ACL: their pings must fail."""
    return {m.group(1) for c in commands if "portacl=denyall" in c
            for m in [re.search(r"--name[= ](\S+)", c)] if m}


def created_names(commands: list[str]) -> tuple[list[str], list[str]]:
    """(containers, networks) the quick start creates, by name."""
    containers = [m.group(1) for c in commands for m in [re.search(r"--name[= ](\S+)", c)]
                  if m and " run " in f" {c} "]
    networks = [c.split()[3] for c in commands if c.startswith("docker network create")]
    return containers, networks


@contextlib.contextmanager
def exclusive(lock: Path, timeout: float = 1800) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (another run of this test waits for it)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{lock} stayed locked for {timeout} s") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def moved_aside(path: Path) -> Iterator[None]:
    """``path`` is absent inside the block; whatever was there is back exactly afterwards."""
    aside = path.with_name(f"{path.name}.first-contact-{os.getpid()}")
    had = path.exists() or path.is_symlink()
    if had:
        os.rename(path, aside)
    try:
        yield
    finally:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        if had:
            os.rename(aside, path)


def snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``path`` with its mode and content ({} when there is none)."""
    if not path.is_dir():
        return {}
    return {str(p.relative_to(path)): (p.stat().st_mode, p.read_bytes())
            for p in sorted(path.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def busybox_image() -> Iterator[None]:
    """The README runs ``busybox``: with no registry to pull from, the suite's own busybox
    image stands in under that name for the test (an existing busybox image is used as is)."""
    present = run([DOCKER, "image", "inspect", "busybox:latest"], check=False).returncode == 0
    if not present:
        ensure_image()
        run([DOCKER, "tag", IMAGE, "busybox:latest"])
    try:
        yield
    finally:
        if not present:
            run([DOCKER, "rmi", "busybox:latest"], check=False)


def environment(work: Path) -> dict[str, str]:
    """The shell a user types the quick start in, plus where this test keeps things."""
    env = {**os.environ, "PIP_CACHE_DIR": str(work / "pip-cache"),
           "DOVESNAP_STATE_DIR": str(work / "state"), "DOVESNAP_LOG_DIR": str(work / "logs"),
           "DOVESNAP_RUN_DIR": str(work / "run")}
    for name in ("VENV", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)  # the suite's venv is not the user's
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    if FIRST.number:  # another run of the suite: its own plugin name and ports
        env.update({"DOVESNAP_PLUGIN_SOCKET": str(FIRST.socket),
                    "FAUCET_OF_PORT": str(FIRST.faucet_of_port),
                    "GAUGE_OF_PORT": str(FIRST.gauge_of_port),
                    "FAUCET_PROM_PORT": str(FIRST.faucet_prom_port),
                    "GAUGE_PROM_PORT": str(FIRST.gauge_prom_port),
                    "STATUS_PORT": str(FIRST.status_port)})
    return env


def as_run(command: str) -> str:
    """The README's command for this run: the run's own plugin name outside run 0."""
    return command.replace("-d dovesnap ", f"-d {FIRST.driver} ") if FIRST.number else command


def running_faucet_config(state_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The config file the embedded FAUCET process runs, read from that process itself."""
    pid = int((state_dir / "faucet.pid").read_text().split()[0])
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    path = Path(environ["FAUCET_CONFIG"])
    return path, yaml.safe_load(path.read_text()) or {}


def faucet_dp_names() -> set[str]:
    import urllib.request

    url = f"http://127.0.0.1:{FIRST.faucet_prom_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return set(re.findall(r'^faucet_config_table_names\{[^}]*dp_name="([^"]+)"', text, re.M))


def test_readme_commands_are_found() -> None:
    commands = readme_commands()
    assert commands[0] == "make up"
    assert any(c.startswith("docker network create") and "ovs.bridge.dpid=0x1" in c
               for c in commands)
    containers, _ = created_names(commands)
    assert len(containers) >= 3 and denied_containers(commands)
    assert sum(" ping " in c for c in commands) >= 2


@pytest.mark.timeout(3600)
def test_quick_start_from_nothing(tmp_path: Path) -> None:
    commands = [as_run(c) for c in readme_commands()]
    containers, networks = created_names(commands)
    env = environment(tmp_path)
    source = copy_source(tmp_path / "checkout")
    shutil.copy2(ROOT / "Makefile", source / "Makefile")
    timings: dict[str, float] = {}
    with exclusive(LOCK):
        started = time.monotonic()
        assert not plugin_answers(FIRST.socket), f"{FIRST.socket} already answers"
        busy = [p for p in FIRST.ports[:5] if tcp_listening(p)]
        assert not busy, f"ports {busy} are in use: another dovesnap has the names this test needs"
        for name in containers + networks:
            found = run([DOCKER, "inspect", name], check=False)
            assert found.returncode != 0, f"{name} exists already: remove it first"
        etc_before, log_before = snapshot(ETC_FAUCET), snapshot(LOG_FAUCET)
        try:
            with moved_aside(ETC_FAUCET), moved_aside(LOG_FAUCET), contextlib.ExitStack() as undo:
                undo.callback(_undo, containers, networks, source, env)
                _quick_start(commands, source, env, undo, timings)
                _faucet_runs_the_starter(tmp_path / "state", networks)
        finally:
            assert snapshot(ETC_FAUCET) == etc_before, "/etc/faucet is not as it was"
            assert snapshot(LOG_FAUCET) == log_before, "/var/log/faucet is not as it was"
        timings["everything, put back included"] = time.monotonic() - started
    print("\nfirst contact: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


def _quick_start(commands: list[str], source: Path, env: dict[str, str],
                 undo: contextlib.ExitStack, timings: dict[str, float]) -> None:
    """Each README command in a shell, as typed; the denyall container's ping must fail."""
    denied = denied_containers(commands)
    for command in commands:
        started = time.monotonic()
        timeout = 1800 if command.startswith("make ") else 120
        result = subprocess.run(["bash", "-c", command], cwd=source, env=env, text=True,
                                capture_output=True, timeout=timeout, check=False)
        output = result.stdout[-3000:] + result.stderr[-3000:]
        target = re.match(r"docker exec (\S+) ping", command)
        if target and target.group(1) in denied:
            assert result.returncode != 0, f"{command}: a denyall container got answers\n{output}"
        else:
            assert result.returncode == 0, f"{command}:\n{output}"
        what = "make up" if command == "make up" else "the other commands"
        timings[what] = timings.get(what, 0.0) + time.monotonic() - started
        if command == "make up":
            _fresh_machine_config(source)
            undo.enter_context(busybox_image())


def _fresh_machine_config(source: Path) -> None:
    """After ``make up``: FAUCET's example (if its build wrote one) is kept beside, not used."""
    shipped = source / ".venv" / "etc" / "faucet"
    for name in ("faucet.yaml", "acls.yaml", "gauge.yaml"):
        kept = ETC_FAUCET / f"{name}.example"
        if kept.exists():  # FAUCET's build wrote it: it must be the untouched example
            assert kept.read_bytes() == (shipped / name).read_bytes(), kept
    print(f"\n/etc/faucet after make up: {sorted(p.name for p in ETC_FAUCET.iterdir())}")


def _faucet_runs_the_starter(state_dir: Path, networks: list[str]) -> None:
    """The config FAUCET runs is dovesnap's starter plus the README's networks: nothing of the
    example. The first network is the one the README's containers are on."""
    network = networks[0]
    path, running = running_faucet_config(state_dir)
    assert path == ETC_FAUCET / "faucet.yaml"
    assert set(running.get("dps") or {}) == set(networks), running.get("dps")
    assert {"allowall", "denyall"} <= set(running.get("acls") or {})
    assert not EXAMPLE_VLANS & set(running.get("vlans") or {})
    assert not running.get("routers") and not running.get("include")
    assert faucet_dp_names() == set(networks)  # what FAUCET itself loaded
    # The denyall container is cut off by its ACL (its port is there, with denyall).
    interfaces = running["dps"][network]["interfaces"]
    cut = [i for i in interfaces.values() if str(i.get("description", "")).startswith("cutoff ")]
    assert [i.get("acls_in") for i in cut] == [["denyall"]], interfaces
    bridge = wait_until(lambda: next((b for b in run(["ovs-vsctl", "list-br"]).stdout.split()
                                      if run(["ovs-vsctl", "br-get-external-id", b,
                                              "dovesnap-network-name"]).stdout.strip() == network
                                      and run(["ovs-vsctl", "br-get-external-id", b,
                                               "dovesnap-driver"]).stdout.strip() == FIRST.driver),
                                     None), 10, what="the quick start's bridge")
    flows = run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge]).stdout
    assert EXAMPLE_FAUCET_MAC not in flows, "FAUCET's example router is on the bridge"


def _undo(containers: list[str], networks: list[str], source: Path, env: dict[str, str]) -> None:
    """Remove what the quick start made and stop dovesnap (``make down``)."""
    for name in containers:
        run([DOCKER, "rm", "-f", name], check=False)
    for name in networks:
        run([DOCKER, "network", "rm", name], check=False)
    if (source / ".venv/bin/dovesnap").exists():
        down = subprocess.run(["make", "down"], cwd=source, env=env, text=True,
                              capture_output=True, timeout=300, check=False)
        if down.returncode != 0:
            print(down.stdout + down.stderr)
