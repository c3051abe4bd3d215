"""What both install tests share: the plugin name and ports of their own dovesnaps, the scripts,
and two containers pinging each other across a dovesnap network."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.integration.rig import DOCKER, IMAGE, ROOT, Docker, instance_for, run, unique, wait_until

# The dovesnaps started here are not the session's (which may be running): they get the plugin
# name, socket and ports of this module's own instance.
OWN = instance_for(__name__)
DRIVER = OWN.driver
PLUGIN_SOCKET = OWN.socket
FAUCET_OF_PORT = OWN.faucet_of_port
GAUGE_OF_PORT = OWN.gauge_of_port
FAUCET_PROM_PORT = OWN.faucet_prom_port
GAUGE_PROM_PORT = OWN.gauge_prom_port
STATUS_PORT = OWN.status_port
PROMETHEUS_PORT = OWN.prometheus_port


def script(name: str, *args: str, env: dict[str, str] | None = None,
           source: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run scripts/NAME of the checkout ``source``."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(["bash", str(source / "scripts" / name), *args], capture_output=True,
                          text=True, env=full_env, timeout=900, check=False)


def copy_source(dest: Path) -> Path:
    """A copy of the checkout that a test may change (e.g. to bump the version)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", ".*cache")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("scripts", "pyproject.toml", "README.md", "dovesnap", "packaging"):
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, dest / name, ignore=ignore)
        else:
            shutil.copy2(item, dest / name)
    return dest


def two_containers_ping(docker: Docker, dpid: str) -> tuple[str, str, str]:
    network = unique("net")
    run([DOCKER, "network", "create", "-d", DRIVER, "--internal", "-o",
         f"ovs.bridge.dpid={dpid}", network])
    docker.networks.append(network)
    names = []
    for _ in range(2):
        name = unique("c")
        docker.containers.append(name)
        started = run([DOCKER, "run", "-d", "--name", name, "--net", network, IMAGE,
                       "sleep", "3600"], check=False)
        assert started.returncode == 0, f"docker run on {DRIVER}: {started.stderr}"
        names.append(name)
    first, second = names
    target = docker.ip(second)
    assert wait_until(lambda: docker.ping(first, target), 30, 0.5, f"{first} -> {second} ping")
    return network, first, second
