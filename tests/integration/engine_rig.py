"""A Docker engine to run the smoke set on (the host's, or a newer one beside it) with a dovesnap
of its own serving it, plus the small servers the smoke set talks to.

Newer engines come from tests/engines (Debian trixie's Docker 26, sid's Docker 28) and run with
``--iptables=false --ip-forward=false`` and a bridge of their own: two dockerds would each rebuild the
DOCKER chains at start and overwrite the other's rules. dovesnap's NAT and ``-p`` rules do not
live in Docker's chains (its own, in FORWARD/POSTROUTING/PREROUTING/OUTPUT, tagged by comment),
so they are fully exercised; their iptables flavour is still decided by where the host's dockerd
keeps its chains. Each engine is driven with its own docker CLI, and its dovesnap finds it with
``--docker-url``. Nothing here touches the host's dockerd but through its CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.engines import engine
from tests.integration.rig import (
    DOCKER,
    Daemon,
    Docker,
    Instance,
    ensure_image,
    plugin_answers,
    run,
)

HOST_URL = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class EngineCase:
    """One engine of the smoke set: ``suite`` None is the host's own dockerd."""

    label: str
    suite: str | None = None
    min_api: str | None = None


CASES = (
    EngineCase("host"),
    EngineCase("trixie", "trixie"),
    EngineCase("sid", "sid"),
    EngineCase("sid-min-1.44", "sid", "1.44"),  # refuses API < 1.44, as Docker 29 does
)


@dataclass
class EngineRig:
    """The engine, its CLI, the dovesnap serving it and the Docker objects the tests made."""

    case: EngineCase
    instance: Instance
    workdir: Path
    url: str = HOST_URL
    cli: tuple[str, ...] = (DOCKER,)
    daemon: Daemon | None = None
    docker: Docker | None = None
    version: dict[str, str] = field(default_factory=dict)
    _engine: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    # -- the engine ------------------------------------------------------------------------------
    def start_engine(self) -> float:
        """Start the newer engine (nothing for the host's); the seconds it took."""
        started = time.monotonic()
        if self.case.suite is not None:
            self.url = self._engine.enter_context(engine.newer_engine(
                self.case.suite, self.case.min_api, stop_containers=False, lock_wait=600))
            self.cli = (str(engine.cli(self.case.suite)), "-H", self.url)
            ensure_image(self.cli)
        fmt = '{"Version": "{{.Server.Version}}", "ApiVersion": "{{.Server.APIVersion}}", ' \
              '"MinAPIVersion": "{{.Server.MinAPIVersion}}"}'
        self.version = json.loads(run([*self.cli, "version", "--format", fmt]).stdout)
        return time.monotonic() - started

    def stop_engine(self) -> None:
        """Stop a newer engine the way a host shuts down: dockerd stops its containers, which
        keep their restart policy for the next start."""
        self._engine.close()

    @property
    def major(self) -> int:
        return int(self.version["Version"].split(".")[0])

    @property
    def api(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version["ApiVersion"].split("."))

    # -- dovesnap --------------------------------------------------------------------------------
    def start_dovesnap(self) -> None:
        if self.daemon is None:
            self.daemon = Daemon(self.workdir, instance=self.instance)
        self.daemon.start(["--docker-url", self.url])

    def purge(self) -> None:
        """Remove what an interrupted earlier run left in this engine: containers on this
        instance's networks (every container, in a newer engine) and those networks."""
        nets = run([*self.cli, "network", "ls", "-q", "--filter", f"driver={self.instance.driver}"],
                   check=False).stdout.split()
        if self.case.suite is not None:
            found = run([*self.cli, "ps", "-aq"], check=False).stdout.split()
        else:
            found = [cid for net in nets for cid in run(
                [*self.cli, "ps", "-aq", "--filter", f"network={net}"], check=False).stdout.split()]
        for cid in found:
            run([*self.cli, "rm", "-f", cid], check=False)
        for net in nets:
            run([*self.cli, "network", "rm", net], check=False)

    def objects(self) -> Docker:
        if self.docker is None:
            self.docker = Docker(driver=self.instance.driver, cli=self.cli)
        return self.docker

    def close(self) -> None:
        try:
            if self.docker is not None:
                self.docker.cleanup()
            if self.daemon is not None and self.daemon.proc is not None:
                self.purge()  # a newer engine's data stays for the next run: leave nothing in it
        finally:
            if self.daemon is not None:
                if self.daemon.proc is None:
                    self._kill_orphans()  # a test killed dovesnap and could not start it again
                self.daemon.stop()
            self._engine.close()
        assert not plugin_answers(self.instance.socket)

    def _kill_orphans(self) -> None:
        """FAUCET and Gauge of a dovesnap killed with SIGKILL outlive it (a restart adopts them)."""
        ports = {"faucet": self.instance.faucet_of_port, "gauge": self.instance.gauge_of_port}
        for name, port in ports.items():
            pidfile = self.workdir / "state" / f"{name}.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pidfile.read_text().split()[0])
                if f"--ofp-tcp-listen-port={port}" in Path(f"/proc/{pid}/cmdline").read_text():
                    os.kill(pid, signal.SIGKILL)


# -- a DNS server for the smoke set's "outside" host --------------------------------------------

# Answers every A query with ANSWER (and any other query with no records), on ADDRESS:53/udp.
DNS_SERVER = r"""
import socket, sys
address, answer = sys.argv[1], bytes(int(x) for x in sys.argv[2].split("."))
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind((address, 53))
while True:
    query, peer = srv.recvfrom(512)
    end = 12
    while query[end]:
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = int.from_bytes(query[end + 1:end + 3], "big")
    records = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + answer if qtype == 1 else b""
    header = query[:2] + b"\x81\x80\x00\x01" + (b"\x00\x01" if records else b"\x00\x00") + b"\x00" * 4
    srv.sendto(header + question + records, peer)
"""


def dns_server_argv(address: str, answer: str) -> list[str]:
    return [sys.executable, "-c", DNS_SERVER, address, answer]


def lookup(docker: Docker, container: str, name: str) -> str:
    """What the container's resolver (Docker's embedded DNS) answers for ``name``."""
    got = docker.exec(container, "nslookup", name, timeout=30)
    return got.stdout + got.stderr


def container_json(docker: Docker, container: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run([*docker.cli, "inspect", container]).stdout)[0]
    return found
