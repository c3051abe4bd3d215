"""Measuring helpers for bench/scale.py: the container probe, Plugin.Activate latency, CPU, RSS."""

from __future__ import annotations

import os
import re
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The container pings its peer every 20 ms and, at the first reply, prints the boot-time clock
# (the host's too: /proc/uptime is not namespaced) and busybox's reply line (seq=, time=).
PROBE = (
    'ping -i 0.02 -w 60 "$PEER" | while read line; do '
    'case "$line" in *"bytes from"*) echo "$(cat /proc/uptime) $line"; break;; esac; done; '
    "exec sleep 3600"
)
# A first echo answered after this long waited for an ARP or ICMP retry: it counts as lost.
LOST_AFTER_MS = 500.0
_REPLY = re.compile(r"seq=(\d+).*time=([\d.]+) ms")


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class FirstPing:
    seconds: float  # from `docker run -d` to the first answered ping
    seq: int
    rtt_ms: float

    @property
    def lost(self) -> bool:
        """The container's first echo request did not get a prompt answer."""
        return self.seq != 0 or self.rtt_ms > LOST_AFTER_MS


def parse_probe(output: str, started: float) -> FirstPing | None:
    fields = output.split()
    match = _REPLY.search(output)
    if len(fields) < 2 or match is None:
        return None
    return FirstPing(float(fields[0]) - started, int(match.group(1)), float(match.group(2)))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- Plugin.Activate latency ---------------------------------------------------------------------


def activate_seconds(sock_path: Path, timeout: float = 10.0) -> float:
    """One Plugin.Activate round trip on the plugin socket, in seconds."""
    started = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(str(sock_path))
        client.sendall(b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\n"
                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        reply = b""
        while b"Implements" not in reply:
            chunk = client.recv(4096)
            if not chunk:
                break
            reply += chunk
    if b"Implements" not in reply:
        raise OSError("Plugin.Activate: no answer")
    return time.monotonic() - started


@dataclass
class ActivatePoller:
    """Asks Plugin.Activate every ``interval`` seconds in a thread, keeping the latencies."""

    sock_path: Path
    interval: float = 0.05
    samples: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append(activate_seconds(self.sock_path))
            except OSError:
                self.failures += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# --- CPU and memory of processes -----------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process's CPU over ``seconds`` as % of one core (nan for one that went away)."""
    before: dict[str, int] = {}
    for name, pid in pids.items():
        try:
            before[name] = cpu_ticks(pid)
        except OSError:
            continue
    time.sleep(seconds)
    result: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            used = cpu_ticks(pid) - before[name]
        except (OSError, KeyError):
            result[name] = float("nan")
            continue
        result[name] = 100.0 * used / TICKS / seconds
    return result


def pid_from(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
