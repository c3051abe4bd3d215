"""The egress ACL copy: one ACL is never both a port's acls_in and a VLAN's acl_out."""

from __future__ import annotations

from typing import Any

from dovesnap.plan.egress import egress_acl_name, sync_egress_copies
from dovesnap.plan.faucet_dp import DpInputs, build_dp, build_vlans, put_dp, remove_dp
from tests.unit.specs import spec

ALLOW = [{"rule": {"actions": {"allow": 1}}}]


def _config() -> dict[str, Any]:
    return {"acls": {"allowall": ALLOW, "other": []}}


def test_shared_acl_is_copied_for_the_vlan_and_left_for_the_ports() -> None:
    s = spec(vlan_out_acl="allowall", default_acl="allowall")
    inputs = DpInputs(s, "net1")
    config = put_dp(_config(), "net1", build_dp(inputs), build_vlans(inputs))
    vlan = config["vlans"]["dovesnap-vlan100"]
    assert vlan["acl_out"] == egress_acl_name("allowall") == "dovesnap-egress-allowall"
    assert config["acls"]["dovesnap-egress-allowall"] == ALLOW
    assert config["acls"]["allowall"] == ALLOW  # the operator's, untouched
    assert config["acls"]["dovesnap-egress-allowall"] is not config["acls"]["allowall"]
    assert list(config["acls"])[:2] == ["allowall", "other"]  # their order kept


def test_copy_follows_the_operator_edits_and_goes_with_the_network() -> None:
    s = spec(vlan_out_acl="allowall")
    inputs = DpInputs(s, "net1")
    config = put_dp(_config(), "net1", build_dp(inputs), build_vlans(inputs))
    edited = dict(config, acls=dict(config["acls"], allowall=[{"rule": {"actions": {"allow": 0}}}]))
    again = put_dp(edited, "net1", build_dp(inputs), build_vlans(inputs))
    assert again["acls"]["dovesnap-egress-allowall"] == [{"rule": {"actions": {"allow": 0}}}]
    gone = remove_dp(again, "net1", ["dovesnap-vlan100"])
    assert "dovesnap-egress-allowall" not in gone["acls"]
    assert gone["acls"]["allowall"] == [{"rule": {"actions": {"allow": 0}}}]


def test_copy_of_a_missing_acl_is_not_invented() -> None:
    config: dict[str, Any] = {
        "acls": {"dovesnap-egress-gone": ALLOW, "dovesnap-egress-unused": ALLOW},
        "vlans": {"v": {"vid": 5, "acl_out": ["dovesnap-egress-gone", "plain"]}},
    }
    assert sync_egress_copies(config)["acls"] == {}
    assert sync_egress_copies({}) == {}


def test_the_config_a_dp_was_put_into_is_left_as_it_was() -> None:
    """put_dp and remove_dp copy on write: the egress copy never lands in the caller's config."""
    original = _config()
    inputs = DpInputs(spec(vlan_out_acl="allowall"), "net1")
    added = put_dp(original, "net1", build_dp(inputs), build_vlans(inputs))
    assert "dovesnap-egress-allowall" in added["acls"]
    assert original == _config()
    removed = remove_dp(added, "net1", ["dovesnap-vlan100"])
    assert "dovesnap-egress-allowall" not in removed["acls"]
    assert "dovesnap-egress-allowall" in added["acls"]  # the earlier version is still whole
