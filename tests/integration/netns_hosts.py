"""Hosts of the tests' own making: network namespaces on veths, and switching iptables flavours.

Everything here is created by the test that uses it and removed afterwards, also on failure.
Addresses come from 198.18.0.0/15 (the benchmarking range) with the instance number in them, so
parallel suites never clash and no real network is ever addressed.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.rig import INSTANCE, run, wait_until

# A tiny TCP server: tells each client which source address it saw, then closes.
PEER_SERVER = """
import socket, sys
srv = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
while True:
    conn, peer = srv.accept()
    conn.sendall(("peer " + peer[0] + "\\n").encode())
    conn.close()
"""


@dataclass
class NetnsHost:
    """A namespace with one veth; the other end is on the host (or wherever the test puts it)."""

    netns: str
    ns_ifname: str
    host_ifname: str
    ns_address: str | None = None  # "a.b.c.d/len"
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ip(self) -> str:
        assert self.ns_address is not None
        return self.ns_address.split("/")[0]

    def exec(self, *argv: str, check: bool = False, timeout: float = 30
             ) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.netns, *argv], check=check, timeout=timeout)

    def ping(self, address: str, count: int = 1, wait: int = 1) -> bool:
        return self.exec("busybox", "ping", "-c", str(count), "-W", str(wait), address).returncode == 0

    def rx_packets(self) -> int:
        text = self.exec("cat", f"/sys/class/net/{self.ns_ifname}/statistics/rx_packets",
                         check=True).stdout
        return int(text.strip())

    def serve_peer_address(self, port: int) -> None:
        """Run PEER_SERVER in the namespace until the host is removed."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, "-c", PEER_SERVER,
             self.ip, str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.servers.append(proc)
        wait_until(lambda: f":{port} " in self.exec("ss", "-ltn").stdout, 10, 0.05,
                   "peer server listening")


def _short() -> str:
    return f"{INSTANCE % 100:02d}{secrets.token_hex(3)}"


@contextlib.contextmanager
def netns_host(ns_address: str | None = None, host_address: str | None = None,
               host_end_up: bool = True) -> Iterator[NetnsHost]:
    """A namespace host on a veth; the host end keeps ``host_address`` (if any) and stays here."""
    tag = _short()
    host = NetnsHost(f"dstest{tag}", "eth0", f"dsh{tag}")
    peer = f"dsp{tag}"
    try:
        run(["ip", "netns", "add", host.netns])
        run(["ip", "link", "add", host.host_ifname, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", host.netns])
        host.exec("ip", "link", "set", peer, "name", host.ns_ifname, check=True)
        host.exec("ip", "link", "set", "lo", "up", check=True)
        host.exec("ip", "link", "set", host.ns_ifname, "up", check=True)
        if ns_address:
            host.ns_address = ns_address
            host.exec("ip", "addr", "add", ns_address, "dev", host.ns_ifname, *_nodad(ns_address),
                      check=True)
        if host_address:
            run(["ip", "addr", "add", host_address, "dev", host.host_ifname, *_nodad(host_address)])
        if host_end_up:
            run(["ip", "link", "set", host.host_ifname, "up"])
        yield host
    finally:
        for proc in host.servers:
            proc.kill()
            proc.wait(5)
        run(["ip", "link", "del", host.host_ifname], check=False)
        run(["ip", "netns", "del", host.netns], check=False)


def _nodad(address: str) -> tuple[str, ...]:
    """IPv6 addresses of the tests' own links skip duplicate address detection (usable at once)."""
    return ("nodad",) if ":" in address else ()


def outside_subnet() -> tuple[str, str]:
    """(host side, outside host) addresses of a /30 that no container subnet uses."""
    third = 100 + INSTANCE % 100
    return f"198.18.{third}.1/30", f"198.18.{third}.2/30"


# --- iptables flavours --------------------------------------------------------------------------


def iptables_alternative() -> tuple[str, str]:
    """(mode, value) of the iptables alternative: ("auto"|"manual", "/usr/sbin/iptables-nft")."""
    text = run(["update-alternatives", "--query", "iptables"]).stdout
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return fields.get("Status", "auto"), fields.get("Value", "")


@contextlib.contextmanager
def iptables_flavour(flavour: str) -> Iterator[None]:
    """Point the plain ``iptables`` command at ``flavour``; put the original choice back after."""
    mode, value = iptables_alternative()
    try:
        run(["update-alternatives", "--set", "iptables", f"/usr/sbin/iptables-{flavour}"])
        yield
    finally:
        if mode == "auto":
            run(["update-alternatives", "--auto", "iptables"], check=False)
        else:
            run(["update-alternatives", "--set", "iptables", value], check=False)


def dovesnap_rules(flavour: str, needle: str = "dovesnap:") -> list[str]:
    """``iptables-save`` lines of ``flavour`` that carry ``needle`` in a comment."""
    if flavour == "legacy":
        with contextlib.suppress(OSError):
            if "nat" not in Path("/proc/net/ip_tables_names").read_text().split():
                return []
    text = run([f"iptables-{flavour}-save"], check=False).stdout
    return [line for line in text.splitlines() if needle in line and line.startswith("-A ")]


def tcp_reply(address: str, port: int, timeout: float = 2.0) -> str:
    """What a TCP server at address:port says first, from the host ('' if nothing)."""
    import socket

    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(100).decode(errors="replace")
    except OSError:
        return ""


def elapsed_until(predicate: object, timeout: float, interval: float = 0.01) -> float:
    """Seconds until ``predicate()`` is true (AssertionError after ``timeout``)."""
    started = time.monotonic()
    wait_until(predicate, timeout, interval)  # type: ignore[arg-type]
    return time.monotonic() - started
