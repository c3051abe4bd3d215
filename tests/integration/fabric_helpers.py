"""Helpers for the mirroring and stacking tests: veth pairs, tcpdump, raw frames, FAUCET metrics.

Everything is made by the test that uses it and removed afterwards, also when it fails. Frames
only ever go onto veths the tests made.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from dovesnap.adapters.faucet_metrics import parse_stack_states
from dovesnap.plan.daemon_bridges import short_engine_id
from tests.integration.rig import DOCKER, run, wait_until

ETH_P_EXPERIMENTAL = 0x88B5  # IEEE local experimental ethertype: never means anything else


def engine_id() -> str:
    found = short_engine_id(run([DOCKER, "info", "--format", "{{.ID}}"]).stdout)
    assert found, "Docker reports no usable engine id"
    return found


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


@contextlib.contextmanager
def veth_pairs(*pairs: tuple[str, str]) -> Iterator[None]:
    """Veth pairs (both ends up) that exist for the duration of the block."""
    try:
        for one, other in pairs:
            run(["ip", "link", "del", one], check=False)
            run(["ip", "link", "add", one, "type", "veth", "peer", "name", other])
            for end in (one, other):
                run(["ip", "link", "set", end, "up"])
                # No IPv6 chatter of the host's own on the capture links.
                with contextlib.suppress(OSError):
                    Path(f"/proc/sys/net/ipv6/conf/{end}/disable_ipv6").write_text("1")
        yield
    finally:
        for one, _ in pairs:
            run(["ip", "link", "del", one], check=False)


class Capture:
    """``tcpdump -e -n -l`` on one interface, text kept in a temporary file."""

    def __init__(self, ifname: str, *expression: str, ascii_payload: bool = False) -> None:
        self.ifname = ifname
        self._final: str | None = None
        self._out = tempfile.NamedTemporaryFile("w+", prefix="dovesnap-tcpdump-")  # noqa: SIM115
        self._err = tempfile.NamedTemporaryFile("w+", prefix="dovesnap-tcpdump-")  # noqa: SIM115
        argv = ["tcpdump", "-i", ifname, "-e", "-n", "-l", "-U"]
        if ascii_payload:
            argv.append("-A")
        self.proc = subprocess.Popen([*argv, *expression], stdout=self._out, stderr=self._err)
        wait_until(lambda: "listening on" in Path(self._err.name).read_text()
                   or self.proc.poll() is not None, 20, 0.05, f"tcpdump on {ifname}")
        assert self.proc.poll() is None, Path(self._err.name).read_text()

    def text(self) -> str:
        if self._final is not None:
            return self._final
        return Path(self._out.name).read_text(errors="replace")

    def close(self) -> str:
        """Stop tcpdump; returns all it printed. Idempotent."""
        if self._final is not None:
            return self._final
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._final = self.text()
        self._out.close()
        self._err.close()
        return self._final


@contextlib.contextmanager
def capture(ifname: str, *expression: str, ascii_payload: bool = False) -> Iterator[Capture]:
    cap = Capture(ifname, *expression, ascii_payload=ascii_payload)
    try:
        yield cap
    finally:
        cap.close()


def send_frame(ifname: str, payload: bytes, src: bytes = b"\x0e\x00\x00\x00\x25\x01",
               dst: bytes = b"\x0e\x00\x00\x00\x25\x02") -> None:
    """One raw Ethernet frame (local experimental ethertype) out of ``ifname``."""
    frame = dst + src + ETH_P_EXPERIMENTAL.to_bytes(2, "big") + payload
    frame += b"\x00" * max(0, 60 - len(frame))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        sock.send(frame)


def stack_states(prom_port: int) -> dict[tuple[str, int], int]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/", timeout=5) as resp:
            return parse_stack_states(resp.read().decode())
    except OSError:
        return {}


def ofctl(*argv: str) -> str:
    return run(["ovs-ofctl", "-O", "OpenFlow13", *argv], check=False).stdout


def vsctl_get(table: str, record: str, column: str) -> str:
    return run(["ovs-vsctl", "get", table, record, column], check=False).stdout.strip()


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 1)
