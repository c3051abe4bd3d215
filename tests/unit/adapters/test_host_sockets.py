"""Bound sockets as /proc/net shows them: listening TCP and bound UDP, IPv4 and IPv6."""

from __future__ import annotations

from pathlib import Path

from dovesnap.adapters.host_sockets import BoundSocket, bound_sockets, parse_proc_net

HEAD = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
TCP = HEAD + (
    "   0: 0100007F:1A0D 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 1 1\n"
    "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 2 1\n"
    "   2: 0100007F:1A0D 0100007F:C350 01 00000000:00000000 00:00000000 00000000  0  0 3 1\n"
)
TCP6 = HEAD + (
    "   0: 00000000000000000000000000000000:24B9 00000000000000000000000000000000:0000 0A 0 0 0\n"
    "   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0\n"
    "   2: 0000000000000000FFFF00000100000A:0050 00000000000000000000000000000000:0000 0A 0 0 0\n"
)
UDP = HEAD + (
    "  10: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000  0  0 4 2\n"
    "  11: 0100007F:0035 0200007F:0035 01 00000000:00000000 00:00000000 00000000  0  0 5 2\n"
)


def test_listening_tcp_sockets_are_read_and_connections_skipped() -> None:
    assert parse_proc_net(TCP, "tcp") == [BoundSocket("tcp", "127.0.0.1", 6669),
                                          BoundSocket("tcp", "0.0.0.0", 22)]


def test_ipv6_addresses_and_mapped_ipv4() -> None:
    found = parse_proc_net(TCP6, "tcp")
    assert found == [BoundSocket("tcp", "::", 9401), BoundSocket("tcp", "::1", 8080),
                     BoundSocket("tcp", "10.0.0.1", 80)]
    assert found[0].everywhere and found[1].loopback and not found[2].loopback


def test_bound_udp_sockets_are_read_and_connected_ones_skipped(tmp_path: Path) -> None:
    for name, text in (("tcp", TCP), ("udp", UDP)):  # no tcp6/udp6: a host without IPv6
        (tmp_path / name).write_text(text)
    found = bound_sockets(proc_net=tmp_path)
    assert BoundSocket("udp", "0.0.0.0", 67) in found
    assert [s for s in found if s.proto == "udp"] == [BoundSocket("udp", "0.0.0.0", 67)]
    assert bound_sockets(("udp",), proc_net=tmp_path) == [BoundSocket("udp", "0.0.0.0", 67)]
