"""DHCP client processes: start them, find the ones an earlier dovesnap left, signal, reap.

Each process is watched through a pidfd (Linux 5.3+): the event loop learns of its exit without
polling and without a thread per child, a signal can never reach a process that reused the pid,
and the same works for clients adopted after a restart (which are not our children). Clients
run in their own session, so they keep their leases while dovesnap itself restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Protocol

from dovesnap.features.dhcp.plan import ClientPlan, is_own_client

log = logging.getLogger(__name__)


class ClientProcess(Protocol):
    @property
    def pid(self) -> int: ...
    def send(self, signum: int) -> None: ...
    async def wait(self) -> None: ...
    def forget(self) -> None: ...


class ClientLauncher(Protocol):
    def start(self, plan: ClientPlan) -> ClientProcess: ...
    def adopt(self, pidfile: Path, script: Path) -> ClientProcess | None: ...


class PidfdProcess:
    """A process watched through its pidfd; reaped when it is our child."""

    def __init__(self, pid: int, pidfd: int, child: subprocess.Popen[bytes] | None = None) -> None:
        self._pid = pid
        self._fd: int | None = pidfd
        self._child = child
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, self._on_exit)

    @property
    def pid(self) -> int:
        return self._pid

    def _release(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _on_exit(self) -> None:
        self._release()
        if self._child is not None:
            self._child.wait()  # it has exited: reaps at once
        if not self._exited.done():
            self._exited.set_result(None)

    def send(self, signum: int) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._fd, signum)

    async def wait(self) -> None:
        await asyncio.shield(self._exited)

    def forget(self) -> None:
        """Stop watching but leave the process running (dovesnap is stopping)."""
        self._release()
        if not self._exited.done():
            self._exited.cancel()


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


class ProcessLauncher:
    """Starts clients with ``subprocess`` (argv lists only) and adopts live ones by pidfile."""

    def start(self, plan: ClientPlan) -> ClientProcess:
        plan.pidfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(plan.log_file, "wb") as out:
            child = subprocess.Popen(
                list(plan.argv), env=dict(plan.env), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, close_fds=True, start_new_session=True,
            )
        # nsenter execs udhcpc in place, so this pid is the client's; write it at once so that
        # a dovesnap that dies right now still finds the client after its restart.
        plan.pidfile.write_text(f"{child.pid}\n")
        try:
            pidfd = os.pidfd_open(child.pid)
        except OSError:
            child.kill()
            child.wait()
            raise
        return PidfdProcess(child.pid, pidfd, child)

    def adopt(self, pidfile: Path, script: Path) -> ClientProcess | None:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        # Opened first, checked second: if the pid is reused meanwhile, the fd names the old one.
        if not is_own_client(_cmdline(pid), pidfile, script):
            os.close(pidfd)
            return None
        return PidfdProcess(pid, pidfd)


def find_program() -> tuple[tuple[str, ...], str] | None:
    """(udhcpc argv prefix, nsenter) on this host, or None if either is missing."""
    nsenter = shutil.which("nsenter")
    udhcpc = shutil.which("udhcpc")
    program: tuple[str, ...] | None = (udhcpc,) if udhcpc else None
    if program is None:
        busybox = shutil.which("busybox")
        if busybox and "udhcpc" in _applets(busybox):
            program = (busybox, "udhcpc")
    if program is None or nsenter is None:
        return None
    return program, nsenter


def _applets(busybox: str) -> list[str]:
    try:
        done = subprocess.run([busybox, "--list"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.split()
