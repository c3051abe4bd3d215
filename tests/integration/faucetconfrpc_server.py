"""The real faucetconfrpc server (PyPI ``faucetconfrpc``), run by the tests as an operator would.

It is not a dependency of dovesnap: it pins its own FAUCET fork and gRPC tools, so it lives in a
venv of its own, made on first use under /var/lib/dovesnap-faucetconfrpc (pip, about a minute)
and kept for later runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.certs import Pki
from tests.integration.rig import run, tcp_listening, wait_until

VENV = Path(os.environ.get("DOVESNAP_FAUCETCONFRPC_VENV", "/var/lib/dovesnap-faucetconfrpc/venv"))


def server_python() -> Path:
    """The venv's python, after making the venv if it is not there yet."""
    python = VENV / "bin" / "python"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = python.exists() and run([str(python), "-c", "import faucetconfrpc.faucetconfrpc_server"],
                                        check=False).returncode == 0
        if not ready:
            run([sys.executable, "-m", "venv", "--clear", str(VENV)], timeout=300)
            run([str(python), "-m", "pip", "install", "-q", "faucetconfrpc"], timeout=900)
    return python


class Server:
    def __init__(self, config_dir: Path, pki: Pki, host: str, port: int, prom_port: int) -> None:
        self.config_dir, self.pki, self.host = config_dir, pki, host
        self.port, self.prom_port = port, prom_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config_dir.parent / "faucetconfrpc.log"

    def start(self) -> None:
        python = server_python()
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [str(python), "-m", "faucetconfrpc.faucetconfrpc_server",
             "--config_dir", str(self.config_dir), "--default_config", "faucet.yaml",
             "--key", str(self.pki.server_key), "--cert", str(self.pki.server_cert),
             "--cacert", str(self.pki.ca), "--host", self.host, "--port", str(self.port),
             "--prom_port", str(self.prom_port)],
            cwd=self.config_dir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        out.close()
        wait_until(lambda: self.proc is None or self.proc.poll() is not None
                   or tcp_listening(self.port, self.host), 60, 0.1, "the faucetconfrpc server")
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def requests(self) -> list[str]:
        """The server's log lines for the requests it answered."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if " peer_ip:" in line]


@contextlib.contextmanager
def faucetconfrpc_server(config_dir: Path, pki: Pki, host: str, port: int,
                         prom_port: int) -> Iterator[Server]:
    server = Server(config_dir, pki, host, port, prom_port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
