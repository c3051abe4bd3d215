"""scripts/docker.sh tells the host's dockerd from other engines running beside it.

tests/engines runs newer Docker engines next to the host's, each with its own pidfile and socket.
A dockerd is the host's only when its pid is in the host's pidfile; a process merely named
dockerd is not (a script that waited for, or stopped, any dockerd once waited for a test engine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "docker.sh"


@pytest.fixture
def other_dockerd(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process named dockerd that is not the host's (a copy of sleep, by that name)."""
    program = tmp_path / "dockerd"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", program)
    proc = subprocess.Popen([str(program), "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(5)


def _host_pid(tmp_path: Path, pidfile: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_PIDFILE": str(pidfile), "VENV": str(Path(sys.executable).parents[1]),
           "DOVESNAP_RUN_DIR": str(tmp_path / "run"), "DOVESNAP_LOG_DIR": str(tmp_path / "log")}
    return subprocess.run(["bash", str(SCRIPT), "host-pid"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_dockerd_is_the_hosts_only_when_the_host_pidfile_names_it(
    tmp_path: Path, other_dockerd: subprocess.Popen[bytes]
) -> None:
    host_pidfile = tmp_path / "docker.pid"
    (tmp_path / "engine.pid").write_text(f"{other_dockerd.pid}\n")  # another engine's own
    found = _host_pid(tmp_path, host_pidfile)
    assert (found.returncode, found.stdout) == (1, ""), found.stderr
    host_pidfile.write_text(f"{other_dockerd.pid}\n")
    found = _host_pid(tmp_path, host_pidfile)
    assert (found.returncode, found.stdout) == (0, str(other_dockerd.pid)), found.stderr
    host_pidfile.write_text(f"{os.getpid()}\n")  # stale: that pid now runs something else
    assert _host_pid(tmp_path, host_pidfile).returncode == 1


def test_no_script_looks_for_dockerd_by_process_name_alone() -> None:
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        text = script.read_text()
        # pgrep -P PID (a dockerd's own children) is fine; pgrep [-x] dockerd is not.
        assert not re.search(r"(pgrep|pidof|pkill|killall)\b[^\n|;]*\bdockerd\b", text), script.name
