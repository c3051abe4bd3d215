"""Run a child process, restart it with backoff when it dies, signal it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class Supervised:
    """One long-running child. ``start()`` launches a watch loop; ``stop()`` ends both."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        pidfile: Path | None = None,
        also_known_as: tuple[str, ...] = (),
        adopt_only_with: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        # With a pidfile, a child that outlived an earlier dovesnap (kill -9) is adopted instead
        # of started twice: FAUCET keeps its switches and OVS its bridges across our restart.
        self.pidfile = pidfile
        self._adopted: int | None = None
        self._names = {Path(argv[0]).name, *also_known_as}
        # Arguments an earlier instance must have been started with to be adopted; one that
        # lacks them (an older dovesnap's, other settings) is stopped and a new one started.
        self._adopt_only_with = adopt_only_with
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.log_path = log_path
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.started = asyncio.Event()

    @property
    def pid(self) -> int | None:
        if self._adopted is not None:
            return self._adopted
        if self._proc is not None and self._proc.returncode is None:
            return self._proc.pid
        return None

    def adoptable(self) -> int | None:
        """The pid of a live earlier instance of this child, per the pidfile."""
        if self.pidfile is None:
            return None
        try:
            pid = int(self.pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        args = [part.decode(errors="replace") for part in cmdline]
        if not any(Path(arg).name in self._names for arg in args[:3]):
            return None
        if all(arg in args for arg in self._adopt_only_with):
            return pid
        log.warning("%s: the running pid %d was started with other settings (%s wanted); "
                    "replacing it", self.name, pid, " ".join(self._adopt_only_with))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        return None

    def _write_pidfile(self, pid: int) -> None:
        if self.pidfile is not None:
            self.pidfile.parent.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{pid}\n")

    async def _watch_adopted(self, pid: int) -> None:
        log.info("%s: adopted running pid %d", self.name, pid)
        self._adopted = pid
        self.started.set()
        while not self._stopping:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.5)
        self._adopted = None
        if not self._stopping:
            log.warning("%s (adopted pid %d) exited; starting a new one", self.name, pid)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _spawn(self) -> asyncio.subprocess.Process:
        out = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            return await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out if out is not None else asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT if out is not None else asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()

    async def _watch(self) -> None:
        backoff = self.min_backoff
        loop = asyncio.get_running_loop()
        earlier = self.adoptable()
        if earlier is not None:
            await self._watch_adopted(earlier)
        while not self._stopping:
            began = loop.time()
            try:
                self._proc = await self._spawn()
            except OSError as err:
                log.error("cannot start %s: %s", self.name, err)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            log.info("%s started (pid %d)", self.name, self._proc.pid)
            self._write_pidfile(self._proc.pid)
            self.started.set()
            code = await self._proc.wait()
            if self._stopping:
                break
            self.restarts += 1
            if loop.time() - began > self.stable_after:
                backoff = self.min_backoff
            log.warning("%s exited with %s; restarting in %.1fs", self.name, code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def signal(self, signum: int = signal.SIGHUP) -> bool:
        pid = self.pid
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            return True
        return False

    async def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        adopted = self._adopted
        if adopted is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(adopted, signal.SIGTERM)
                for _ in range(int(timeout * 10)):
                    os.kill(adopted, 0)
                    await asyncio.sleep(0.1)
                os.kill(adopted, signal.SIGKILL)
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)
