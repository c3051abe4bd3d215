"""A second host on this machine, for tests: ``with two_hosts(...) as b: ...``.

Host B is a network namespace plus a mount namespace of its own, held open by one "anchor"
process (every other process of B is started with ``nsenter`` into both). B's mount namespace
has its own ``/run`` (so its own ``/run/docker/plugins``, ``/run/openvswitch``,
``/run/containerd`` and ``/run/docker.sock``), its own ``/etc/docker`` (so Docker makes it a
new engine id) and a sysfs showing B's interfaces. In it run:

- B's own dockerd (this host's ``/usr/bin/dockerd``, with the containerd it starts itself), its data
  root in B's directory, no iptables, no docker0; the tests reach it through a socket in that
  directory (``HostB.docker(...)``);
- B's own Open vSwitch (ovsdb-server + ovs-vswitchd, database and logs in B's directory); its
  userspace datapath's ``ovs-netdev`` lives in B's network namespace;
- B's own dovesnap (``HostB.start_dovesnap(args)``), plugin socket in B's ``/run``.

A is this host as it is. They are joined by veth pairs: a management link (A 10.<n>.0.1/24,
B 10.<n>.0.2/24, n = rig.INSTANCE*10+9) for OpenFlow and faucetconfrpc, and any links
a test asks for (``link(a_name, b_name)``), one end in each host. Everything is removed on exit,
also when the test fails: dovesnap, containers, dockerd, OVS, every process left in B's mount
namespace or B's cgroup, the namespace, the veths and B's directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.rig import (
    DOCKER,
    INSTANCE,
    VENV_BIN,
    Instance,
    instance_for,
    plugin_answers,
    run,
    wait_until,
)

BASE_DIR = Path("/var/lib/dovesnap-twohosts")
MGMT_NET = f"10.{INSTANCE * 10 + 9}.0"
A_IP, B_IP = f"{MGMT_NET}.1", f"{MGMT_NET}.2"
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
IMAGE = "dovesnap-test-busybox:latest"

# Runs in B's new mount namespace (inside B's netns) and becomes the anchor. $1 is B's directory.
ANCHOR = r"""
set -e
mkdir -p "$1/cg"
mount --rbind /sys/fs/cgroup "$1/cg"
mount -t sysfs sysfs /sys
mount --move "$1/cg" /sys/fs/cgroup
mount -t tmpfs -o mode=0755 dovesnap-hostb-run /run
mkdir -p /run/docker/plugins /run/openvswitch /run/containerd /run/lock
mount -t tmpfs -o mode=0755 dovesnap-hostb-etc /etc/docker
ip link set lo up
touch "$1/anchor.ready"
exec sleep infinity
"""


@dataclass
class HostB:
    tag: str
    directory: Path
    netns: str
    instance: Instance
    anchor: subprocess.Popen[bytes] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)  # A ends of the veths
    mnt_ns: str = ""

    # -- running things in B ------------------------------------------------------------------

    def _enter(self) -> list[str]:
        assert self.anchor is not None
        return ["nsenter", "-t", str(self.anchor.pid), "-n", "-m", "--"]

    def sh(self, *argv: str, check: bool = False, timeout: float = 60
           ) -> subprocess.CompletedProcess[str]:
        return run([*self._enter(), *argv], check=check, timeout=timeout)

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            [*self._enter(), *argv], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})})
        log.close()

    def stop(self, name: str, timeout: float = 30) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.directory / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- Docker on B ------------------------------------------------------------------------------

    @property
    def docker_sock(self) -> Path:
        return self.directory / "docker.sock"

    def docker(self, *argv: str, check: bool = True, timeout: float = 120
               ) -> subprocess.CompletedProcess[str]:
        return run([DOCKER, "-H", f"unix://{self.docker_sock}", *argv], check=check,
                   timeout=timeout)

    def engine_id(self) -> str:
        return self.docker("info", "--format", "{{.ID}}").stdout.strip()

    def _start_docker(self) -> None:
        (self.directory / "daemon.json").write_text("{}\n")
        self.spawn("dockerd", [
            "dockerd", "--config-file", str(self.directory / "daemon.json"),
            "--data-root", str(self.directory / "docker"),
            "-H", f"unix://{self.docker_sock}", "-H", "unix:///run/docker.sock",
            "--iptables=false", "--ip-forward=false", "--bridge=none",
            f"--cgroup-parent=dovesnap-hostb-{self.tag}", "--shutdown-timeout=5"])
        wait_until(lambda: self._dead("dockerd") or self.docker(
            "version", check=False, timeout=10).returncode == 0, 90, 0.2, "host B's dockerd")
        assert not self._dead("dockerd"), self.log_tail("dockerd")
        self._import_image()

    def _import_image(self) -> None:
        busybox = shutil.which("busybox") or "/bin/busybox"
        with tempfile.TemporaryDirectory() as tmp:
            tar_path = Path(tmp) / "busybox.tar"
            with tarfile.open(tar_path, "w") as tar:
                tar.add(busybox, arcname="bin/busybox")
                for applet in ("sh", "sleep", "ping", "nc", "ip", "cat", "echo", "ifconfig"):
                    link = tarfile.TarInfo(f"bin/{applet}")
                    link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                    tar.addfile(link)
            self.docker("import", str(tar_path), IMAGE)

    def _dead(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is None or proc.poll() is not None

    # -- Open vSwitch on B --------------------------------------------------------------------------

    def start_ovs(self) -> None:
        ovs = self.directory / "ovs"
        ovs.mkdir(exist_ok=True)
        db = ovs / "conf.db"
        if not db.exists():
            self.sh("ovsdb-tool", "create", str(db), str(OVS_SCHEMA), check=True)
        self.spawn("ovsdb-server", [
            "ovsdb-server", str(db), "--remote=punix:/run/openvswitch/db.sock",
            "--pidfile=/run/openvswitch/ovsdb-server.pid", f"--log-file={ovs}/ovsdb-server.log",
            "--no-chdir"])
        wait_until(lambda: self._dead("ovsdb-server") or self.sh(
            "ovs-vsctl", "--timeout=2", "--no-wait", "init").returncode == 0, 30, 0.2,
            "host B's ovsdb-server")
        assert not self._dead("ovsdb-server"), self.log_tail("ovsdb-server")
        self.spawn("ovs-vswitchd", [
            "ovs-vswitchd", "unix:/run/openvswitch/db.sock",
            "--pidfile=/run/openvswitch/ovs-vswitchd.pid", f"--log-file={ovs}/ovs-vswitchd.log",
            "--no-chdir"])
        wait_until(lambda: self._dead("ovs-vswitchd") or self.sh(
            "ovs-appctl", "--timeout=2", "-t", "ovs-vswitchd", "version").returncode == 0,
            30, 0.2, "host B's ovs-vswitchd")
        assert not self._dead("ovs-vswitchd"), self.log_tail("ovs-vswitchd")

    def stop_ovs(self) -> None:
        self.stop("ovs-vswitchd")
        self.stop("ovsdb-server")

    def restart_ovs(self) -> None:
        """Stop B's OVS (vswitchd and the database server) and start it again, database kept."""
        self.stop_ovs()
        self.start_ovs()

    def vsctl(self, *argv: str) -> str:
        return self.sh("ovs-vsctl", "--timeout=10", *argv).stdout

    def ofctl(self, *argv: str) -> str:
        return self.sh("ovs-ofctl", "-O", "OpenFlow13", *argv).stdout

    # -- dovesnap on B ---------------------------------------------------------------------------

    def start_dovesnap(self, extra_args: Sequence[str] = ()) -> None:
        inst = self.instance
        self.spawn("dovesnap", [
            str(VENV_BIN / "dovesnap"), "serve",
            "--faucet-config-dir", str(self.directory / "faucet"),
            "--state-dir", str(self.directory / "state"),
            "--log-dir", str(self.directory / "logs"),
            "--plugin-socket", str(inst.socket),
            "--status-port", str(inst.status_port),
            "--status-auth-ips", f"127.0.0.0/8,{MGMT_NET}.0/24",
            *extra_args])
        wait_until(lambda: self._dead("dovesnap") or plugin_answers(self.in_b(inst.socket)),
                   90, 0.2, "host B's dovesnap")
        assert not self._dead("dovesnap"), self.log_tail("dovesnap")

    def in_b(self, path: Path) -> Path:
        """``path`` as B's mount namespace sees it, reachable from A (through /proc)."""
        assert self.anchor is not None
        return Path(f"/proc/{self.anchor.pid}/root{path}")

    def stop_dovesnap(self) -> None:
        self.stop("dovesnap")

    def status_url(self) -> str:
        return f"http://{B_IP}:{self.instance.status_port}/networks"

    # -- links between A and B ------------------------------------------------------------------

    def link(self, a_name: str, b_name: str, a_address: str | None = None,
             b_address: str | None = None) -> None:
        """A veth pair, ``a_name`` on A and ``b_name`` in B, both up (no IPv6 chatter)."""
        run(["ip", "link", "del", a_name], check=False)
        run(["ip", "link", "add", a_name, "type", "veth", "peer", "name", b_name,
             "netns", self.netns])
        self.links.append(a_name)
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv6/conf/{a_name}/disable_ipv6").write_text("1")
        in_ns = ["ip", "netns", "exec", self.netns]
        run([*in_ns, "sysctl", "-qw", f"net.ipv6.conf.{b_name}.disable_ipv6=1"], check=False)
        run(["ip", "link", "set", a_name, "up"])
        run([*in_ns, "ip", "link", "set", b_name, "up"])
        if a_address:
            run(["ip", "addr", "add", a_address, "dev", a_name])
        if b_address:
            run(["ip", "netns", "exec", self.netns, "ip", "addr", "add", b_address, "dev", b_name])

    # -- teardown -------------------------------------------------------------------------------

    def _pids_in_my_mount_ns(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "ns" / "mnt") == self.mnt_ns:
                        found.append(int(entry.name))
        return found

    def _pids_in_my_cgroup(self) -> list[int]:
        found: set[int] = set()
        for procs in Path("/sys/fs/cgroup").glob(f"*/dovesnap-hostb-{self.tag}/**/cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in procs.read_text().split()}
        return sorted(found)

    def close(self) -> None:
        self.stop("dovesnap")
        if not self._dead("dockerd"):
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        self.stop("dockerd", timeout=40)
        self.stop_ovs()
        for name in list(self.procs):
            self.stop(name)
        for _ in range(3):
            leftovers = set(self._pids_in_my_cgroup())
            if self.mnt_ns:
                leftovers |= set(self._pids_in_my_mount_ns())
            if self.anchor is not None:
                leftovers.discard(self.anchor.pid)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not leftovers:
                break
            time.sleep(0.5)
        if self.anchor is not None and self.anchor.poll() is None:
            self.anchor.kill()
            self.anchor.wait(10)
        for name in self.links:
            run(["ip", "link", "del", name], check=False)
        run(["ip", "netns", "del", self.netns], check=False)
        for cgroup in Path("/sys/fs/cgroup").glob(f"*/dovesnap-hostb-{self.tag}"):
            for sub in sorted(cgroup.glob("**/"), key=lambda p: len(str(p)), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()
        shutil.rmtree(self.directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            BASE_DIR.rmdir()  # when no other run's host B is there


@contextlib.contextmanager
def two_hosts() -> Iterator[HostB]:
    """Host B, with its dockerd and OVS running and the management link up (dovesnap not yet:
    ``start_dovesnap`` with the flags the test wants). B's dovesnap is this module's instance
    (rig.OWN_DAEMONS), so one host B at a time per run of the suite."""
    tag = f"{INSTANCE % 100:02d}{secrets.token_hex(2)}"
    host = HostB(tag, BASE_DIR / tag, f"dshostb{tag}", instance_for(__name__))
    try:
        host.directory.mkdir(parents=True)
        run(["ip", "netns", "add", host.netns])
        host.anchor = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{host.netns}", "unshare", "--mount", "--propagation",
             "private",
             "sh", "-c", ANCHOR, "anchor", str(host.directory)],
            stdout=subprocess.DEVNULL, stderr=open(host.directory / "anchor.log", "wb"),  # noqa: SIM115
            start_new_session=True)
        wait_until(lambda: (host.directory / "anchor.ready").exists()
                   or host.anchor is None or host.anchor.poll() is not None, 20, 0.05,
                   "host B's namespaces")
        assert host.anchor.poll() is None, host.log_tail("anchor")
        host.mnt_ns = os.readlink(f"/proc/{host.anchor.pid}/ns/mnt")
        assert host.mnt_ns != os.readlink("/proc/self/ns/mnt")
        host.link(f"dsm{tag}", "mgmt0", f"{A_IP}/24", f"{B_IP}/24")
        host.start_ovs()
        host._start_docker()
        yield host
    finally:
        host.close()
