"""A newer Docker Engine beside the host's, for tests: Debian's docker.io from trixie or sid.

The engine's binaries come from a Debian root made once with debootstrap (not a chroot: they run
on this host, which `docker exec` needs); runc is the host's. It gets its own containerd, data
root, exec root, socket, cgroup parent and default bridge (``dse-<name>``), and leaves the host's
iptables, bridges (docker0 too) and ip_forward alone, so it runs beside the host's dockerd without
touching it::

    with newer_engine("sid", min_api="1.44") as docker_url:   # Docker 28 refusing API < 1.44
        ...

On exit everything it started is stopped and its run directories are removed; the Debian root and
the data root (images) stay for the next run. Needs root. See README.md beside this file.

`python -m tests.engines.smoke sid --min-api 1.44` runs the smoke check described there.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

ENGINES_DIR = Path(os.environ.get("DOVESNAP_ENGINES_DIR", "/var/lib/dovesnap-engines"))
SUITES = ("trixie", "sid")  # Debian suites: trixie has Docker 26.1, sid Docker 28.x
PACKAGES = "docker.io,docker-cli,busybox-static"  # the engine, its own CLI, an image's busybox
HOST_RUNC = Path("/usr/bin/runc")
# name on PATH -> path inside the Debian root (the first that exists)
BINARIES: dict[str, tuple[str, ...]] = {
    "dockerd": ("usr/sbin/dockerd", "usr/bin/dockerd"),
    "containerd": ("usr/bin/containerd",),
    "containerd-shim-runc-v2": ("usr/bin/containerd-shim-runc-v2",),
    "docker-proxy": ("usr/sbin/docker-proxy", "usr/bin/docker-proxy", "usr/libexec/docker/docker-proxy"),
    "docker-init": ("usr/bin/tini-static", "usr/sbin/tini-static"),
}


@dataclass
class EngineTimes:
    """Seconds each step took in the last newer_engine() (0 when the step was skipped)."""

    debootstrap: float = 0.0
    containerd_start: float = 0.0
    dockerd_start: float = 0.0
    stop: float = 0.0


LAST_TIMES = EngineTimes()


def root_dir(name: str) -> Path:
    return ENGINES_DIR / name


def run_dir(name: str) -> Path:
    return Path(f"/run/dovesnap-engine-{name}")


def socket_path(name: str) -> Path:
    return Path(f"/run/dovesnap-engine-{name}.sock")


def data_dir(name: str) -> Path:
    return ENGINES_DIR / f"{name}-data"


def prepare_root(name: str) -> Path:
    """The Debian root holding the engine's binaries; made with debootstrap if missing."""
    if name not in SUITES:
        raise ValueError(f"unknown engine {name!r}; one of {SUITES}")
    root = root_dir(name)
    if (root / "usr/sbin/dockerd").exists():
        if not (root / "usr/bin/docker").exists():
            _add_cli(root, name)
        return root
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: apt-get install debootstrap")
    tmp = root.with_name(name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ENGINES_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(ENGINES_DIR / f"{name}-debootstrap.log", "wb") as out:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", name, str(tmp)],
            stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap {name} failed; see {out.name}")
    tmp.rename(root)
    LAST_TIMES.debootstrap = time.monotonic() - started
    log.info("debootstrap %s: %.1fs", name, LAST_TIMES.debootstrap)
    return root


def _add_cli(root: Path, name: str) -> None:
    """Install docker-cli into a root made before it was one of PACKAGES (apt in the chroot)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
    with open(ENGINES_DIR / f"{name}-cli.log", "wb") as out:
        # The mirror's Release may have outlived its Valid-Until (debootstrap does not check).
        for argv in (["apt-get", "-o", "Acquire::Check-Valid-Until=false", "update"],
                     ["apt-get", "install", "-y", "--no-install-recommends", "docker-cli"]):
            done = subprocess.run(["chroot", str(root), *argv], stdout=out,
                                  stderr=subprocess.STDOUT, env=env, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} in {root} failed; see {out.name}")


def cli(name: str) -> Path:
    """The engine's own docker CLI (from its Debian root), which speaks its API versions."""
    return root_dir(name) / "usr/bin/docker"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


def http_get(sock: Path, path: str, method: str = "GET") -> tuple[int, Any]:
    """GET `path` from the engine at `sock`: (status, decoded JSON or text)."""
    conn = _UnixHTTPConnection(sock)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(body)
    except ValueError:
        return resp.status, body


def _bin_dir(name: str, root: Path) -> Path:
    bins = run_dir(name) / "bin"
    bins.mkdir(parents=True)
    for tool, candidates in BINARIES.items():
        found = next((root / c for c in candidates if (root / c).exists()), None)
        if found is None:
            raise RuntimeError(f"{tool} not found in {root}")
        (bins / tool).symlink_to(found)
    (bins / "runc").symlink_to(HOST_RUNC)  # the root's runc does not work with this host
    return bins


def _program(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    return str(args[0]) if isinstance(args, list) else str(args)


def _wait(what: str, ready: Callable[[], bool], procs: list[tuple[subprocess.Popen[bytes], Path]],
          timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for proc, logfile in procs:
            if proc.poll() is not None:
                tail = logfile.read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(f"{_program(proc)} exited ({proc.returncode}) before {what}:\n"
                                   + "\n".join(tail))
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _answers(sock: Path) -> bool:
    try:
        return http_get(sock, "/_ping")[0] == 200
    except OSError:
        return False


def leftover_processes(name: str) -> list[int]:
    """This engine's processes still running: the engine's own programs (not a shell that
    merely mentions the path) whose command line names its run directory."""
    ours = str(run_dir(name)).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = os.path.basename(args[0].decode(errors="replace"))
        if program in (*BINARIES, "runc") and any(ours in arg for arg in args[1:]):
            found.append(int(entry.name))
    return found


def leftover_mounts(name: str) -> list[str]:
    """Mount points under this engine's run or data directories."""
    prefixes = (str(run_dir(name)) + "/", str(data_dir(name)) + "/", str(root_dir(name)) + "/")
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if (point + "/").startswith(prefixes):
            points.append(point)
    return points


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", _program(proc), timeout)
        proc.kill()
        proc.wait(10)


def _kill_containers(sock: Path) -> None:
    """Kill running containers: dockerd would give each its stop timeout (10s) on shutdown."""
    with contextlib.suppress(OSError, ValueError):
        status, running = http_get(sock, "/containers/json")
        for container in running if status == 200 else []:
            http_get(sock, f"/containers/{container['Id']}/kill", method="POST")


def _clean_up(name: str, bins: Path | None) -> None:
    """Whatever a clean stop left: containers (runc), shims, mounts, then the run directories."""
    runc_root = run_dir(name) / "exec" / "runtime-runc" / "moby"
    if bins is not None and runc_root.is_dir():
        for state in runc_root.iterdir():
            log.warning("container %s outlived dockerd; deleting it", state.name[:12])
            subprocess.run([str(bins / "runc"), "--root", str(runc_root), "delete", "--force",
                            state.name], check=False, capture_output=True)
    for pid in leftover_processes(name):
        log.warning("process %d of engine %s outlived it; killing it", pid, name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for point in sorted(leftover_mounts(name), key=len, reverse=True):
        if point.startswith(str(root_dir(name)) + "/"):
            continue  # not ours to undo
        log.warning("unmounting leftover %s", point)
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(run_dir(name), ignore_errors=True)
    socket_path(name).unlink(missing_ok=True)


def engine_bridge(name: str) -> str:
    """The engine's default bridge, made for it (``--bridge=none`` deletes the host's docker0)."""
    return f"dse-{name}"[:15]


def _bridge(name: str, make: bool) -> None:
    bridge = engine_bridge(name)
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
    if make:  # a /24 of the shared address space (RFC 6598), one per engine name
        address = f"100.127.{zlib.crc32(name.encode()) % 250 + 1}.1/24"
        for argv in (["ip", "link", "add", bridge, "type", "bridge"],
                     ["ip", "addr", "add", address, "dev", bridge], ["ip", "link", "set", bridge, "up"]):
            subprocess.run(argv, check=True, capture_output=True)


def _open_log(path: Path) -> IO[bytes]:
    return open(path, "wb")  # closed in newer_engine's finally


def _remove_gateway_bridge(sock: Path) -> None:
    """Remove docker_gwbridge, which dockerd makes (a bridge on the host) for a container whose
    networks give it no gateway; gone with the engine's data otherwise never."""
    with contextlib.suppress(OSError, ValueError):
        http_get(sock, "/networks/docker_gwbridge", method="DELETE")


@contextlib.contextmanager
def newer_engine(name: str = "sid", min_api: str | None = None, *, shutdown_timeout: int = 5,
                 start_timeout: float = 60.0, stop_containers: bool = True,
                 lock_wait: float = 0.0) -> Iterator[str]:
    """Run Debian `name`'s Docker beside the host's; yields its URL (unix:///run/...sock).

    `min_api` sets DOCKER_MIN_API_VERSION: "1.44" makes Docker 28 refuse older clients as
    Docker 29 does. Logs: <data dir>/containerd.log and dockerd.log. `stop_containers=False`
    leaves running containers to dockerd's own shutdown (each gets `shutdown_timeout`), as a
    host shutdown does: `--restart always` containers then start again with the next engine.
    `lock_wait`: seconds to wait while another run has this engine (one at a time per engine).
    """
    global LAST_TIMES
    LAST_TIMES = EngineTimes()
    root = prepare_root(name)
    data, run, sock = data_dir(name), run_dir(name), socket_path(name)
    data.mkdir(parents=True, exist_ok=True)
    lock = open(ENGINES_DIR / f"{name}.lock", "w")  # noqa: SIM115 - held until the engine stops
    waited_until = time.monotonic() + lock_wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= waited_until:
                lock.close()
                raise RuntimeError(f"engine {name} is already running (lock {lock.name})") from None
            time.sleep(1)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    logs: list[IO[bytes]] = []
    bins: Path | None = None
    try:
        _clean_up(name, None)  # a previous run that was killed before it could clean up
        _bridge(name, make=True)
        bins = _bin_dir(name, root)
        (run / "containerd").mkdir()
        (run / "containerd.toml").write_text(  # not the host's /etc/containerd; no Kubernetes CRI
            'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime",'
            ' "io.containerd.cri.v1.images"]\n'
        )
        (run / "daemon.json").write_text("{}\n")  # nor its /etc/docker/daemon.json
        env = {"PATH": f"{bins}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
        containerd_sock = run / "containerd" / "containerd.sock"
        started = time.monotonic()
        logs.append(_open_log(data / "containerd.log"))
        procs.append((subprocess.Popen(
            ["containerd", "--config", str(run / "containerd.toml"), "--root", str(data / "containerd"),
             "--state", str(run / "containerd"), "--address", str(containerd_sock)],
            env=env, stdin=subprocess.DEVNULL, stdout=logs[-1], stderr=subprocess.STDOUT,
            start_new_session=True,
        ), data / "containerd.log"))
        _wait("containerd's socket", containerd_sock.is_socket, procs, start_timeout)
        LAST_TIMES.containerd_start = time.monotonic() - started
        started = time.monotonic()
        if min_api:
            env["DOCKER_MIN_API_VERSION"] = min_api
        logs.append(_open_log(data / "dockerd.log"))
        procs.append((subprocess.Popen(
            ["dockerd", "--config-file", str(run / "daemon.json"), "--data-root", str(data / "docker"),
             "--exec-root", str(run / "exec"), "--pidfile", str(run / "dockerd.pid"),
             "-H", f"unix://{sock}", "--containerd", str(containerd_sock),
             "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             f"--bridge={engine_bridge(name)}",
             f"--cgroup-parent=dovesnap-engine-{name}", f"--shutdown-timeout={shutdown_timeout}"],
            env=env, stdin=subprocess.DEVNULL, stdout=logs[-1], stderr=subprocess.STDOUT,
            start_new_session=True,
        ), data / "dockerd.log"))
        _wait("dockerd to answer /_ping", lambda: _answers(sock), procs, start_timeout)
        LAST_TIMES.dockerd_start = time.monotonic() - started
        log.info("engine %s up: containerd %.2fs, dockerd %.2fs", name,
                 LAST_TIMES.containerd_start, LAST_TIMES.dockerd_start)
        yield f"unix://{sock}"
    finally:
        started = time.monotonic()
        if stop_containers:
            _kill_containers(sock)  # killed by hand: dockerd will not start them again
            _remove_gateway_bridge(sock)
        for proc, _ in reversed(procs):  # dockerd first: it stops its containers
            _terminate(proc, shutdown_timeout + 20.0)
        _clean_up(name, bins)
        _bridge(name, make=False)
        for out in logs:
            out.close()
        lock.close()
        LAST_TIMES.stop = time.monotonic() - started


def busybox_image(docker_url: str, name: str, tag: str = "dovesnap/busybox:static") -> str:
    """Import a one-binary image (/bin/busybox from busybox-static, /bin/sh linked to it).

    Busybox's wget segfaults in it; use nc.
    """
    import docker

    busybox = next((p for p in (root_dir(name) / "bin/busybox", Path("/bin/busybox"))
                    if p.exists()), None)
    if busybox is None:
        raise RuntimeError("no busybox: the root lacks busybox-static (remove it to rebuild)")
    client = docker.APIClient(base_url=docker_url, version="auto")
    with tempfile.TemporaryDirectory() as tmp:
        tar_path = Path(tmp) / "busybox.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(busybox, arcname="bin/busybox")
            link = tarfile.TarInfo("bin/sh")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        repo, _, version = tag.partition(":")
        client.import_image(src=str(tar_path), repository=repo, tag=version or "latest")
    client.close()
    return tag
