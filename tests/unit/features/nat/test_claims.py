"""Which host ports ``-p`` may take: the rules already published, and the sockets in the way."""

from __future__ import annotations

import pytest

from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.config import host_port
from dovesnap.features.nat.claims import Published, conflict, published_ports
from dovesnap.features.nat.plan import PortMapping, publish_rules
from dovesnap.model.network import parse_network
from dovesnap.plan.firewall import IPV4, IPV6, Rule

NET_ID, EP_ID = "a" * 64, "b" * 64
TAG = f"dovesnap:{'a' * 12}:{'b' * 12}"
SPEC = parse_network(NET_ID, {"ovs.bridge.dpid": "0x1", "ovs.bridge.mode": "nat"},
                     [{"Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}], [],
                     ("tcp:127.0.0.1:6653",), False)


def test_published_ports_are_read_back_from_the_rules_dovesnap_writes() -> None:
    mappings = (PortMapping("tcp", 80, 8080, 8080), PortMapping("udp", 53, 5000, 5010, "192.0.2.1"))
    rules = publish_rules(SPEC, EP_ID, "10.9.0.5/24", mappings)
    others = (Rule("nat", "PREROUTING", ("-p", "tcp", "--dport", "22", "-j", "DNAT")),  # not ours
              Rule("filter", "FORWARD", ("-m", "comment", "--comment", TAG, "-j", "ACCEPT")))
    assert published_ports([*rules, *others]) == [
        Published("tcp", 8080, 8080, None, TAG), Published("udp", 5000, 5010, "192.0.2.1", TAG)]


WEB = PortMapping("tcp", 80, 8080, 8080)
RANGE = PortMapping("tcp", 80, 8000, 8010, "192.0.2.1")


@pytest.mark.parametrize(("mapping", "other", "clash"), [
    (WEB, Published("tcp", 8080, 8080, None, "dovesnap:x:y"), True),
    (WEB, Published("tcp", 8080, 8080, "192.0.2.1", "dovesnap:x:y"), True),  # every address
    (WEB, Published("udp", 8080, 8080, None, "dovesnap:x:y"), False),
    (WEB, Published("tcp", 8081, 8090, None, "dovesnap:x:y"), False),
    (WEB, Published("tcp", 8080, 8080, None, TAG), False),  # its own rule (Docker retried)
    (RANGE, Published("tcp", 8010, 8020, None, "dovesnap:x:y"), True),  # ranges overlap
    (RANGE, Published("tcp", 8005, 8005, "192.0.2.2", "dovesnap:x:y"), False),  # other address
    (RANGE, Published("tcp", 8005, 8005, "192.0.2.1", "dovesnap:x:y"), True),
])
def test_a_port_published_twice_clashes(mapping: PortMapping, other: Published, clash: bool) -> None:
    assert (conflict(mapping, (IPV4,), [], [other], TAG) is not None) is clash


@pytest.mark.parametrize(("mapping", "sock", "clash"), [
    (WEB, BoundSocket("tcp", "0.0.0.0", 8080), True),
    (WEB, BoundSocket("tcp", "10.1.1.1", 8080), True),
    (WEB, BoundSocket("tcp", "127.0.0.1", 8080), False),
    (WEB, BoundSocket("tcp", "::", 8080), True),
    (WEB, BoundSocket("tcp", "::1", 8080), False),
    (RANGE, BoundSocket("tcp", "0.0.0.0", 8010), True),
    (RANGE, BoundSocket("tcp", "192.0.2.1", 8003), True),
    (RANGE, BoundSocket("tcp", "192.0.2.2", 8003), False),
    (RANGE, BoundSocket("tcp", "0.0.0.0", 8011), False),
])
def test_a_socket_the_rule_would_steal_from_clashes(
    mapping: PortMapping, sock: BoundSocket, clash: bool
) -> None:
    why = conflict(mapping, (IPV4,), [sock], [], TAG)
    assert (why is not None) is clash
    if why:
        assert "port is already allocated" in why and f"{host_port(sock.address, sock.port)}/tcp" in why


V6_WEB = PortMapping("tcp", 80, 8080, 8080, "::")
V6_ONE = PortMapping("tcp", 80, 8080, 8080, "fd00:9::1")


@pytest.mark.parametrize(("mapping", "families", "sock", "clash"), [
    (WEB, (IPV4, IPV6), BoundSocket("tcp", "fd00:9::5", 8080), True),  # published on both
    (WEB, (IPV4,), BoundSocket("tcp", "fd00:9::5", 8080), False),  # the network has no IPv6
    (WEB, (IPV6,), BoundSocket("tcp", "0.0.0.0", 8080), False),
    (WEB, (IPV6,), BoundSocket("tcp", "::", 8080), True),
    (V6_WEB, (IPV6,), BoundSocket("tcp", "::1", 8080), False),  # ::1 is never forwarded
    (V6_ONE, (IPV6,), BoundSocket("tcp", "fd00:9:0::1", 8080), True),  # the same address
    (V6_ONE, (IPV6,), BoundSocket("tcp", "fd00:9::2", 8080), False),
])
def test_ipv6_bindings(mapping: PortMapping, families: tuple[int, ...], sock: BoundSocket,
                       clash: bool) -> None:
    assert (conflict(mapping, families, [sock], [], TAG) is not None) is clash


def test_a_port_published_in_the_other_family_only_is_free() -> None:
    v6 = Published("tcp", 8080, 8080, None, "dovesnap:x:y", IPV6)
    assert conflict(WEB, (IPV4,), [], [v6], TAG) is None
    assert conflict(WEB, (IPV4, IPV6), [], [v6], TAG) is not None
