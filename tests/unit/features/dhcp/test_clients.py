"""The real process launcher: pidfds, reaping, adoption by pidfile, with a stand-in ``udhcpc``
(a shell loop) so that no namespace or root is needed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from dovesnap.features.dhcp.clients import ProcessLauncher
from dovesnap.features.dhcp.plan import ClientPlan, RunPaths

NET = "5" * 64
EP = "6" * 64
FAKE_UDHCPC = "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n"


def plan_for(tmp_path: Path) -> ClientPlan:
    paths = RunPaths(tmp_path / "dhcp")
    program = tmp_path / "bin" / "udhcpc"
    program.parent.mkdir()
    program.write_text(FAKE_UDHCPC)
    program.chmod(0o755)
    pidfile = paths.pidfile(NET, EP)
    argv = ("/bin/sh", str(program), "-f", "-s", str(paths.script), "-p", str(pidfile))
    return ClientPlan(NET, EP, argv, {"PATH": "/usr/bin:/bin"}, pidfile, paths.log_file(NET, EP))


async def exec_done(pid: int) -> None:
    """Popen returns once exec has begun; the new argv shows in /proc a moment later."""
    for _ in range(200):
        if Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        await asyncio.sleep(0.005)


def state(pid: int) -> str:
    """'' when the pid is gone (reaped), else its /proc state letter (Z for a zombie)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    return text.rsplit(")", 1)[1].split()[0]


async def test_started_client_is_watched_signalled_and_reaped(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    process = ProcessLauncher().start(plan)
    try:
        assert plan.pidfile.read_text().strip() == str(process.pid)
        assert state(process.pid) not in ("", "Z")
        process.send(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 5)
        assert state(process.pid) == ""  # exited and reaped: no zombie left
        process.send(signal.SIGTERM)  # after the end: harmless
    finally:
        process.send(signal.SIGKILL)


async def test_adopts_its_own_client_and_nothing_else(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    script = RunPaths(tmp_path / "dhcp").script
    launcher = ProcessLauncher()
    first = launcher.start(plan)
    await exec_done(first.pid)
    try:
        adopted = launcher.adopt(plan.pidfile, script)
        assert adopted is not None and adopted.pid == first.pid
        assert launcher.adopt(plan.pidfile, tmp_path / "other-script") is None
        stranger = await asyncio.create_subprocess_exec("sleep", "30")
        await exec_done(stranger.pid)
        plan.pidfile.write_text(f"{stranger.pid}\n")  # a reused pid: not ours
        assert launcher.adopt(plan.pidfile, script) is None
        stranger.kill()
        await stranger.wait()
        plan.pidfile.write_text("not a pid\n")
        assert launcher.adopt(plan.pidfile, script) is None
        # The adopted handle sees the end of a process that is not its child.
        adopted.send(signal.SIGTERM)
        await asyncio.wait_for(adopted.wait(), 5)
        await asyncio.wait_for(first.wait(), 5)
    finally:
        first.send(signal.SIGKILL)


async def test_forget_leaves_the_client_running(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    launcher = ProcessLauncher()
    process = launcher.start(plan)
    await exec_done(process.pid)
    process.forget()
    try:
        await asyncio.sleep(0.1)
        assert state(process.pid) not in ("", "Z")
        again = launcher.adopt(plan.pidfile, RunPaths(tmp_path / "dhcp").script)
        assert again is not None
        again.send(signal.SIGTERM)
        await asyncio.wait_for(again.wait(), 5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
