"""The DHCP guard's ACLs as data: FAUCET accepts them, and they leave only when unused."""

from __future__ import annotations

from typing import Any

from dovesnap.features.dhcp_guard.plan import (
    GUARD_ACL,
    GUARD_OPEN_ACL,
    guard_acls,
    guard_ports,
    with_guard_acls,
    without_unused_guard_acls,
)
from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.model.network import parse_network
from dovesnap.plan.faucet_dp import ContainerPort, DpInputs, ExternalPort, interfaces


def test_the_guard_drops_dhcp_server_replies_and_the_open_one_allows_the_rest() -> None:
    guard, open_guard = guard_acls()[GUARD_ACL], guard_acls()[GUARD_OPEN_ACL]
    drops = [r["rule"] for r in guard]
    assert {(r["dl_type"], r["udp_src"]) for r in drops} == {(0x800, 67), (0x86DD, 547)}
    assert all(r["nw_proto"] == 17 and r["actions"] == {"allow": 0} for r in drops)
    assert open_guard[:-1] == guard and open_guard[-1] == {"rule": {"actions": {"allow": 1}}}


def test_acls_stay_while_a_port_uses_them() -> None:
    used: dict[str, Any] = {"dps": {"n": {"interfaces": {1: {"acls_in": [GUARD_OPEN_ACL]}}}}}
    config = with_guard_acls({**used, "acls": {"mine": []}})
    assert set(config["acls"]) == {"mine", GUARD_ACL, GUARD_OPEN_ACL}
    assert without_unused_guard_acls(config) == config
    unused = {**config, "dps": {"n": {"interfaces": {1: {"acls_in": ["mine"]}}}}}
    assert without_unused_guard_acls(unused)["acls"] == {"mine": []}
    assert "acls" not in without_unused_guard_acls(with_guard_acls({}))


def test_host_ports_and_the_gateway_are_not_guarded() -> None:
    spec = parse_network("a" * 64, {"ovs.bridge.dpid": "0x1", "ovs.bridge.mode": "nat",
                                    "ovs.bridge.nat_acl": "allowall", "ovs.bridge.dhcp_guard": "true"},
                         [{"Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}], [],
                         ("tcp:127.0.0.1:6653",), False)
    assert spec.dhcp_guard
    inputs = guard_ports(DpInputs(spec, "n", (ContainerPort(1, "c", ("denyall",)),),
                                  (ExternalPort(7, "eth1"), ExternalPort(8, "eth2", "allowall"))))
    found = interfaces(inputs)
    assert found[1]["acls_in"] == [GUARD_ACL, "denyall"]
    assert "acls_in" not in found[7] and found[8]["acls_in"] == ["allowall"]
    assert found[LOCAL_OFPORT]["acls_in"] == ["allowall"]
