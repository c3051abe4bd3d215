"""Admission checks (pure) and which VLANs go with a network's DP."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.driver.admission import check_faucet_config, check_other_networks
from dovesnap.driver.dp_sync import vlans_to_remove
from dovesnap.driver.state import Network
from dovesnap.errors import ConflictError, OptionError
from dovesnap.model.network import NetworkSpec, parse_network
from tests.unit.fakes import CONTROLLERS
from tests.unit.scenario import NET, NET2

ACLS: dict[str, Any] = {"acls": {"allowall": [{"rule": {"actions": {"allow": 1}}}],
                                 "denyall": [{"rule": {"actions": {"allow": 0}}}]}}


def spec(network_id: str = NET, **options: str) -> NetworkSpec:
    opts = {"ovs.bridge." + k: v for k, v in options.items()}
    return parse_network(network_id, opts, default_controllers=CONTROLLERS)


def net(network_id: str = NET, net_name: str = "net1", **options: str) -> Network:
    return Network(spec(network_id, **options), False, net_name)


@pytest.mark.parametrize(("mine", "match"), [
    ({"dpid": "0x10"}, r"ovs\.bridge\.dpid: 0x10 is already used by network net1"),
    ({"dpid": "0x11", "name": "br0"}, r"ovs\.bridge\.name: bridge br0"),
    ({"dpid": "0x11", "vlan_out_acl": "denyall"}, r"VLAN 100 already has output ACL allowall"),
])
def test_clashes_with_other_networks_are_refused(mine: dict[str, str], match: str) -> None:
    other = net(dpid="0x10", name="br0", vlan_out_acl="allowall")
    with pytest.raises(ConflictError, match=match):
        check_other_networks(spec(NET2, **mine), [other])


def test_networks_that_do_not_clash_are_admitted() -> None:
    other = net(dpid="0x10", vlan_out_acl="allowall")
    check_other_networks(spec(NET2, dpid="0x11", vlan_out_acl="allowall"), [other])
    check_other_networks(spec(NET2, dpid="0x11", vlan="7", vlan_out_acl="denyall"), [other])
    check_other_networks(spec(NET2, dpid="0x10"), [])


def test_another_networks_dp_with_the_dpid_is_refused() -> None:
    config = {**ACLS, "dps": {"net1": {"dp_id": 0x10}}}
    with pytest.raises(ConflictError, match="dp_id of FAUCET DP net1"):
        check_faucet_config(spec(NET2, dpid="16"), config, [net(dpid="0x20")])
    assert check_faucet_config(spec(NET2, dpid="17"), config, [net(dpid="0x20")]) is None


def test_an_operators_dp_with_the_dpid_may_be_the_networks_pre_seeded_dp() -> None:
    # Docker names the network only after CreateNetwork: whether it is the DP's network is
    # decided then (driver tests); the DP as the operator wrote it comes back meanwhile.
    seeded = {"dp_id": 0x10, "interfaces": {0xFFFFFFFE: {"native_vlan": 100}}}
    found = check_faucet_config(spec(dpid="16"), {**ACLS, "dps": {"sw1": seeded}})
    assert found is not None and found.name == "sw1" and found.dp == seeded
    # Rebuilt from Docker's record (the name known): its own DP from before is dovesnap's.
    own = {"dp_id": 0x10, "hardware": "Open vSwitch",
           "interfaces": {99: {"description": "dovesnap mirror port", "output_only": True}}}
    assert check_faucet_config(spec(dpid="16"), {**ACLS, "dps": {"net1": own}}, name="net1") is None
    found = check_faucet_config(spec(dpid="16"), {**ACLS, "dps": {"net1": seeded}}, name="net1")
    assert found is not None and found.dp == seeded
    two = {**ACLS, "dps": {"sw1": {"dp_id": 0x10}, "sw2": {"dp_id": 0x10}}}
    with pytest.raises(ConflictError, match="dp_id of FAUCET DP sw1"):
        check_faucet_config(spec(dpid="16"), two)


def test_unknown_acl_is_refused() -> None:
    with pytest.raises(OptionError, match="nosuchacl"):
        check_faucet_config(spec(dpid="1", default_acl="nosuchacl"), ACLS)
    check_faucet_config(spec(dpid="1", default_acl="allowall"), ACLS)


def test_shared_vlan_stays_while_another_network_needs_it() -> None:
    first = net(dpid="0x10", vlan_out_acl="allowall")
    second = net(NET2, "net2", dpid="0x11", name="br2", vlan_out_acl="allowall")
    assert vlans_to_remove(first, [first, second]) == []
    assert vlans_to_remove(first, [first]) == ["dovesnap-vlan100"]
    assert vlans_to_remove(net(dpid="0x12"), []) == []  # no output ACL: no VLAN entry
