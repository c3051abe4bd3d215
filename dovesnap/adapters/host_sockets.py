"""Which TCP and UDP ports are bound on this host, and on which addresses (``/proc/net``).

Read for two questions: is a host port that ``docker run -p`` asks for already in use, and do
the embedded controllers listen beyond loopback (``dovesnap doctor``). Only this network
namespace's sockets are seen: dovesnap runs in the host's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC_NET = Path("/proc/net")
TCP_LISTEN = "0A"  # the kernel's TCP_LISTEN state, as /proc/net/tcp prints it
UDP_UNCONNECTED = "07"  # TCP_CLOSE: an unconnected UDP socket, as a server's is


@dataclass(frozen=True)
class BoundSocket:
    proto: str  # "tcp" (listening) or "udp" (bound, unconnected)
    address: str  # "0.0.0.0" and "::" mean every address
    port: int

    @property
    def everywhere(self) -> bool:
        return ipaddress.ip_address(self.address).is_unspecified

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _address(hex_text: str) -> str:
    """/proc/net's address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_text)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(swapped)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def parse_proc_net(text: str, proto: str) -> list[BoundSocket]:
    """The listening (TCP) or bound unconnected (UDP) sockets in a /proc/net/{tcp,udp}[6] text."""
    wanted = TCP_LISTEN if proto == "tcp" else UDP_UNCONNECTED
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != wanted:
            continue
        address, _, port = fields[1].partition(":")
        try:
            found.append(BoundSocket(proto, _address(address), int(port, 16)))
        except ValueError:
            continue
    return found


def bound_sockets(protos: Iterable[str] = ("tcp", "udp"), proc_net: Path = PROC_NET
                  ) -> list[BoundSocket]:
    """Every listening TCP and bound UDP socket of this network namespace (IPv4 and IPv6)."""
    found: list[BoundSocket] = []
    for proto in protos:
        for name in (proto, proto + "6"):
            try:
                text = (proc_net / name).read_text()
            except OSError:  # no IPv6 on this host
                continue
            found.extend(parse_proc_net(text, proto))
    return found
