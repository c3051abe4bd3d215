"""Supervised, with real short-lived child processes: started, restarted with growing pauses after it
dies, adopted from a pidfile after our own restart, signalled, and stopped."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from dovesnap.runtime.supervisor import Supervised
from tests.unit.fakes import eventually

SH = shutil.which("sh") or "/bin/sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"
TAIL = shutil.which("tail") or "/usr/bin/tail"

Make = Callable[..., Supervised]
# Says it is ready (touches the file named by its argument) once SIGTERM no longer ends it.
IGNORES_SIGTERM = (sys.executable, "-c", "import pathlib, signal, sys, time; "
                   "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                   "pathlib.Path(sys.argv[1]).touch(); time.sleep(30)")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def start_times(path: Path) -> list[float]:
    return [float(stamp) for stamp in text(path).split()]


def outsider(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """A process dovesnap did not start in this run (left by an earlier one): reaped as soon as it
    dies, as init would reap it, so that a dead one is gone and not a zombie of ours."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc


@pytest.fixture
async def supervise() -> AsyncIterator[Make]:
    """Make a Supervised child; every one made is stopped at the end, whatever the test did."""
    made: list[Supervised] = []

    def make(argv: Sequence[str], **kwargs: Any) -> Supervised:
        child = Supervised("child", argv, **kwargs)
        made.append(child)
        return child

    yield make
    for child in made:
        await child.stop(timeout=1.0)


async def started(child: Supervised) -> int:
    child.start()
    await asyncio.wait_for(child.started.wait(), 5)
    pid = child.pid
    assert pid is not None
    return pid


# --- start and stop ------------------------------------------------------------------------------


async def test_start_runs_the_child_writes_its_pidfile_and_logs_its_output(
    supervise: Make, tmp_path: Path
) -> None:
    log, pidfile = tmp_path / "logs" / "child.log", tmp_path / "run" / "child.pid"
    child = supervise([SH, "-c", "echo hello from the child; exec sleep 30"],
                      log_path=log, pidfile=pidfile)
    assert child.pid is None and not child.signal()  # nothing to signal before it runs
    pid = await started(child)
    assert alive(pid)
    assert pidfile.read_text() == f"{pid}\n"
    await eventually(lambda: "hello from the child" in text(log))
    assert child.restarts == 0


async def test_stop_ends_the_child_removes_the_pidfile_and_starts_no_other(
    supervise: Make, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    child = supervise([SLEEP, "30"], pidfile=pidfile, min_backoff=0.01)
    pid = await started(child)
    await child.stop(timeout=2.0)
    assert not alive(pid)
    assert not pidfile.exists()
    await asyncio.sleep(0.2)  # longer than the restart pause: nothing comes back
    assert child.pid is None and child.restarts == 0
    assert not child.signal()


async def test_stop_kills_a_child_that_ignores_sigterm(supervise: Make, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = supervise([*IGNORES_SIGTERM, str(ready)])
    pid = await started(child)
    await eventually(ready.exists, timeout=10)  # SIGTERM is ignored from here on
    await asyncio.wait_for(child.stop(timeout=0.3), 5)
    assert not alive(pid)


async def test_signal_reaches_the_running_child(supervise: Make, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    # A Python child: its handler runs whenever the signal comes (a shell may defer its trap).
    program = ("import signal, time\n"
               "signal.signal(signal.SIGHUP, lambda *_: print('got HUP', flush=True))\n"
               "print('ready', flush=True)\n"
               "time.sleep(60)\n")
    child = supervise([sys.executable, "-c", program], log_path=log)
    await started(child)
    await eventually(lambda: "ready" in text(log))
    assert child.signal()  # SIGHUP by default
    await eventually(lambda: "got HUP" in text(log))


# --- restart with backoff ------------------------------------------------------------------------


async def test_a_child_that_dies_is_restarted_after_doubling_pauses_up_to_the_cap(
    supervise: Make, tmp_path: Path
) -> None:
    stamps = tmp_path / "starts"
    child = supervise([SH, "-c", f'date +%s.%N >> "{stamps}"; exit 3'],
                      min_backoff=0.05, max_backoff=0.1)
    child.start()
    await eventually(lambda: child.restarts >= 7, timeout=20)
    await child.stop()
    gaps = [b - a for a, b in pairwise(start_times(stamps))]
    assert len(gaps) >= 6
    for gap, pause in zip(gaps, [0.05, 0.1, 0.1, 0.1, 0.1, 0.1], strict=False):
        assert gap >= pause * 0.9, gaps
    assert gaps[5] < 1.0, gaps  # without the cap this pause would be 0.05 * 2**5 = 1.6 s


async def test_a_child_that_ran_long_enough_restarts_after_the_shortest_pause(
    supervise: Make, tmp_path: Path
) -> None:
    stamps = tmp_path / "starts"
    child = supervise([SH, "-c", f'date +%s.%N >> "{stamps}"; sleep 0.3; exit 1'],
                      min_backoff=0.2, max_backoff=10.0, stable_after=0.25)
    child.start()
    await eventually(lambda: child.restarts >= 4, timeout=20)
    await child.stop()
    gaps = [b - a for a, b in pairwise(start_times(stamps))]
    assert len(gaps) >= 3
    # each run (0.3 s) outlasts stable_after: the pause stays 0.2 s instead of 0.2, 0.4, 0.8
    assert all(gap >= 0.5 * 0.9 for gap in gaps), gaps
    assert gaps[2] < 0.9, gaps  # doubled twice it would be 0.3 + 0.8 = 1.1 s


async def test_a_command_that_cannot_start_is_retried_and_never_reported_started(
    supervise: Make, tmp_path: Path
) -> None:
    child = supervise([str(tmp_path / "no-such-program")], min_backoff=0.01, max_backoff=0.05)
    child.start()
    await asyncio.sleep(0.3)
    assert not child.started.is_set()
    assert child.pid is None
    await asyncio.wait_for(child.stop(), 5)


# --- adoption through the pidfile ----------------------------------------------------------------


async def test_a_live_earlier_child_is_adopted_and_replaced_when_it_dies(
    supervise: Make, tmp_path: Path
) -> None:
    earlier = outsider([SLEEP, "30"])
    pidfile, spawned = tmp_path / "child.pid", tmp_path / "spawned"
    pidfile.write_text(f"{earlier.pid}\n")
    child = supervise([SH, "-c", f'echo $$ >> "{spawned}"; exec sleep 30'],
                      pidfile=pidfile, also_known_as=("sleep",), min_backoff=0.01)
    try:
        assert child.adoptable() == earlier.pid
        assert await started(child) == earlier.pid
        await asyncio.sleep(0.3)
        assert not spawned.exists()  # not started a second time beside it
        earlier.kill()
        await eventually(lambda: text(spawned).endswith("\n"), timeout=5)  # written in full
        own = int(text(spawned))
        await eventually(lambda: child.pid == own)
        assert alive(own) and pidfile.read_text() == f"{own}\n"
    finally:
        earlier.kill()


async def test_stop_ends_an_adopted_child(supervise: Make, tmp_path: Path) -> None:
    earlier = outsider([SLEEP, "30"])
    pidfile = tmp_path / "child.pid"
    pidfile.write_text(f"{earlier.pid}\n")
    child = supervise([SLEEP, "30"], pidfile=pidfile)
    try:
        assert await started(child) == earlier.pid
        await asyncio.wait_for(child.stop(timeout=2.0), 5)
        await eventually(lambda: earlier.returncode is not None)
        assert not alive(earlier.pid) and not pidfile.exists()
    finally:
        earlier.kill()


async def test_stop_kills_an_adopted_child_that_ignores_sigterm(supervise: Make, tmp_path: Path) -> None:
    ready, pidfile = tmp_path / "ready", tmp_path / "child.pid"
    earlier = outsider([*IGNORES_SIGTERM, str(ready)])
    pidfile.write_text(f"{earlier.pid}\n")
    child = supervise([*IGNORES_SIGTERM, str(ready)], pidfile=pidfile)
    try:
        await eventually(ready.exists, timeout=10)
        assert await started(child) == earlier.pid
        await asyncio.wait_for(child.stop(timeout=0.3), 5)
        await eventually(lambda: earlier.returncode is not None)
        assert earlier.returncode == -signal.SIGKILL
    finally:
        earlier.kill()


def dead_pid() -> str:
    done = subprocess.Popen([SLEEP, "0"])
    done.wait()
    return f"{done.pid}\n"


@pytest.mark.parametrize("content", ["unrelated", "dead", "not a pid", ""])
async def test_a_pidfile_that_names_no_live_child_of_ours_is_not_adopted(
    supervise: Make, tmp_path: Path, content: str
) -> None:
    other = outsider([TAIL, "-f", "/dev/null"])  # alive, but another program
    pidfile, spawned = tmp_path / "child.pid", tmp_path / "spawned"
    pidfile.write_text({"unrelated": f"{other.pid}\n", "dead": dead_pid()}.get(content, content))
    child = supervise([SH, "-c", f'echo $$ >> "{spawned}"; exec sleep 30'],
                      pidfile=pidfile, also_known_as=("sleep",))
    try:
        assert child.adoptable() is None
        pid = await started(child)
        assert pidfile.read_text() == f"{pid}\n"
        await eventually(lambda: text(spawned) == f"{pid}\n")
        await child.stop(timeout=2.0)
        assert alive(other.pid)  # stopping ours leaves the other program alone
    finally:
        other.kill()


async def test_an_earlier_child_started_with_other_settings_is_replaced(
    supervise: Make, tmp_path: Path
) -> None:
    earlier = outsider([SLEEP, "30"])  # say, an older dovesnap's FAUCET listening everywhere
    pidfile, spawned = tmp_path / "child.pid", tmp_path / "spawned"
    pidfile.write_text(f"{earlier.pid}\n")
    child = supervise([SH, "-c", f'echo $$ >> "{spawned}"; exec sleep 30'],
                      pidfile=pidfile, also_known_as=("sleep",), adopt_only_with=("--listen=lo",))
    try:
        pid = await started(child)
        assert pid != earlier.pid
        await eventually(lambda: earlier.returncode is not None)  # told to go
        await eventually(lambda: text(spawned) == f"{pid}\n")
    finally:
        earlier.kill()


async def test_an_earlier_child_started_with_the_same_settings_is_adopted(
    supervise: Make, tmp_path: Path
) -> None:
    earlier = outsider([sys.executable, "-c", "import time; time.sleep(30)", "--listen=lo"])
    pidfile = tmp_path / "child.pid"
    pidfile.write_text(f"{earlier.pid}\n")
    child = supervise([SLEEP, "30"], pidfile=pidfile, also_known_as=(Path(sys.executable).name,),
                      adopt_only_with=("--listen=lo",))
    try:
        assert await started(child) == earlier.pid
    finally:
        earlier.kill()
