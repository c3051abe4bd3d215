"""Find the host's Open vSwitch, or run our own ovsdb-server and ovs-vswitchd."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from pathlib import Path

from dovesnap import config
from dovesnap.blocking import run_blocking
from dovesnap.errors import BackendError
from dovesnap.runtime.supervisor import Supervised

log = logging.getLogger(__name__)

DEFAULT_DB_SOCK = config.OVS_DB_SOCK
SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


def kernel_datapath_available(sys_module: Path = Path("/sys/module/openvswitch")) -> bool:
    """True when the openvswitch kernel module is loaded (or built in)."""
    return sys_module.exists()


def db_answers(sock: Path) -> bool:
    """True if an ovsdb-server answers on the unix socket."""
    if not sock.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        try:
            client.connect(str(sock))
            client.sendall(b'{"method":"echo","params":[],"id":0}')
            return bool(client.recv(4096))
        except OSError:
            return False


class OwnOvs:
    """ovsdb-server + ovs-vswitchd started and supervised by dovesnap.

    The database lives in ``state_dir``; the sockets go where ``ovs-vsctl`` looks by default,
    so operators can inspect dovesnap's bridges with the usual tools.
    """

    def __init__(self, state_dir: Path, db_sock: Path = DEFAULT_DB_SOCK) -> None:
        self.state_dir = state_dir
        self.db_sock = db_sock
        self.db_file = state_dir / "conf.db"
        self.children: list[Supervised] = []

    def _prepare_db(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db_sock.parent.mkdir(parents=True, exist_ok=True)
        if not SCHEMA.exists():
            raise BackendError(
                "Open vSwitch is not installed", "install it: apt-get install openvswitch-switch"
            )
        if not self.db_file.exists():
            subprocess.run(["ovsdb-tool", "create", str(self.db_file), str(SCHEMA)], check=True)
        else:
            needs = subprocess.run(
                ["ovsdb-tool", "needs-conversion", str(self.db_file), str(SCHEMA)],
                capture_output=True, text=True, check=False,
            )
            if needs.stdout.strip() == "yes":
                subprocess.run(["ovsdb-tool", "convert", str(self.db_file), str(SCHEMA)], check=True)

    def _server(self) -> Supervised:
        return Supervised("ovsdb-server", [
            "ovsdb-server", str(self.db_file),
            f"--remote=punix:{self.db_sock}",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            f"--pidfile={self.state_dir / 'ovsdb-server.pid'}",
            f"--unixctl={self.db_sock.parent / 'ovsdb-server.ctl'}",
        ], log_path=self.state_dir / "ovsdb-server.log",
            pidfile=self.state_dir / "ovsdb-server.supervised.pid")

    def _vswitchd(self) -> Supervised:
        return Supervised("ovs-vswitchd", [
            "ovs-vswitchd", f"unix:{self.db_sock}",
            f"--pidfile={self.state_dir / 'ovs-vswitchd.pid'}",
            f"--unixctl={self.db_sock.parent / 'ovs-vswitchd.ctl'}",
        ], log_path=self.state_dir / "ovs-vswitchd.log",
            pidfile=self.state_dir / "ovs-vswitchd.supervised.pid")

    def running_earlier(self) -> bool:
        """True when an OVS that an earlier dovesnap started (and left behind) still runs."""
        return self._server().adoptable() is not None

    async def start(self) -> None:
        logs = self.state_dir
        server = self._server()
        if server.adoptable() is None:
            await run_blocking(self._prepare_db)
        server.start()
        self.children.append(server)
        for _ in range(100):
            if await run_blocking(db_answers, self.db_sock):
                break
            await asyncio.sleep(0.1)
        else:
            raise BackendError("ovsdb-server did not start", f"see {logs / 'ovsdb-server.log'}")
        await run_blocking(
            subprocess.run,
            ["ovs-vsctl", f"--db=unix:{self.db_sock}", "--no-wait", "init"],
            check=True,
        )
        vswitchd = self._vswitchd()
        vswitchd.start()
        self.children.append(vswitchd)
        await vswitchd.started.wait()

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()
        self.children.clear()
