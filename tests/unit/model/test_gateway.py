"""Gateway arithmetic (model/gateway.py) and the gateway interfaces of a network."""

from __future__ import annotations

import pytest

from dovesnap.model.gateway import address_and_prefix, address_of, ipv4_netmask, with_netmask
from dovesnap.model.network import gateway_interfaces, parse_network


@pytest.mark.parametrize(("gateway", "expected"), [
    ("10.1.0.1/24", "10.1.0.1"), ("10.1.0.1", "10.1.0.1"), ("fd00::1/64", "fd00::1"),
])
def test_address_of(gateway: str, expected: str) -> None:
    assert address_of(gateway) == expected


@pytest.mark.parametrize(("gateway", "pool", "expected"), [
    ("10.1.0.1/24", "10.0.0.0/8", ("10.1.0.1", 24)),  # its own length first
    ("10.1.0.1", "10.1.0.0/16", ("10.1.0.1", 16)),
    ("10.1.0.1", None, ("10.1.0.1", 32)),
    ("fd00::1", None, ("fd00::1", 128)),
])
def test_address_and_prefix(gateway: str, pool: str | None, expected: tuple[str, int]) -> None:
    assert address_and_prefix(gateway, pool) == expected


@pytest.mark.parametrize("prefix", [0, 8, 16, 24, 30, 32])
def test_netmask_and_back(prefix: int) -> None:
    assert with_netmask("10.0.0.1", ipv4_netmask(prefix)) == f"10.0.0.1/{prefix}"


def test_with_netmask_keeps_odd_text() -> None:
    assert with_netmask("10.0.0.1", "nonsense") == "10.0.0.1/nonsense"


def test_gateway_interfaces_ignore_mode() -> None:
    spec = parse_network(
        "0123456789ab", {"ovs.bridge.dpid": "0x1", "ovs.bridge.controller": "tcp:127.0.0.1:6653"},
        [{"Pool": "10.9.0.0/16", "Gateway": "10.9.0.1"}], [{"Gateway": "fd00::1/64"}],
    )
    assert spec.mode == "flat"
    assert gateway_interfaces(spec) == (("10.9.0.1", 16), ("fd00::1", 64))
    assert (spec.gateway, spec.gateway_prefixlen) == ("10.9.0.1", 16)
