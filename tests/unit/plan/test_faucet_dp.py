"""The FAUCET DP planned for a network: its interfaces, VLANs and ACLs, and how it is put into
and taken out of the operator's FAUCET config."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.plan.faucet_dp import (
    HARDWARE,
    MIRROR_DESCRIPTION,
    PREALLOCATED_DESCRIPTION,
    ContainerPort,
    DpInputs,
    ExternalPort,
    acl_names,
    build_dp,
    build_vlans,
    copy_config,
    dp_names_with_id,
    interfaces,
    put_dp,
    remove_dp,
    section,
)
from tests.unit.specs import IPV4, spec


def test_preallocated_ports_carry_default_acl() -> None:
    s = spec(preallocate_ports="3", default_acl="dflt")
    ifaces = interfaces(DpInputs(s, "n1"))
    assert sorted(ifaces) == [1, 2, 3, s.lbport]  # the mirror port is always there
    assert ifaces[2] == {
        "description": PREALLOCATED_DESCRIPTION, "native_vlan": 100, "acls_in": ["dflt"],
        "opstatus_reconf": False,  # as a container's: taking it over is a description change
    }


def test_preallocated_ports_are_n_ports_after_the_add_ports() -> None:
    # As the Go original: ten preallocated ports are ten, the lowest free after add_ports.
    s = spec(preallocate_ports="10", add_ports="a/1//20,b/2//30,c/3//40")
    placed = tuple(ExternalPort(n, name, vlan=v) for n, name, v in
                   ((1, "a", 20), (2, "b", 30), (3, "c", 40)))
    ifaces = interfaces(DpInputs(s, "n1", externals=placed))
    preallocated = sorted(p for p, i in ifaces.items() if i["description"] == PREALLOCATED_DESCRIPTION)
    assert preallocated == list(range(4, 14))
    # A container takes the lowest; the range does not move, so nine stay preallocated.
    ifaces = interfaces(DpInputs(s, "n1", externals=placed, containers=(ContainerPort(4, "c 0"),)))
    preallocated = sorted(p for p, i in ifaces.items() if i["description"] == PREALLOCATED_DESCRIPTION)
    assert preallocated == list(range(5, 14))


def test_preallocated_ports_skip_the_mirror_port_and_ignore_hand_added_ports() -> None:
    s = spec(preallocate_ports="3", lbport="2")
    ifaces = interfaces(DpInputs(s, "n1", externals=(ExternalPort(3, "byhand"),)))
    # 1, 3, 4 are the range (2 is the mirror port); 3 is taken by a port added by hand.
    assert [p for p, i in ifaces.items() if i["description"] == PREALLOCATED_DESCRIPTION] == [1, 4]


def test_container_acl_overrides_default_and_default_applies_otherwise() -> None:
    s = spec(vlan="7", default_acl="n1:dflt")
    ifaces = interfaces(DpInputs(s, "n1", containers=(
        ContainerPort(3, "web 01234", acls=("own", "two")),
        ContainerPort(4, "db abcde"),
    )))
    # Flows installed at load, kept across the link going down and up as Docker moves it.
    assert ifaces[3] == {"description": "web 01234", "native_vlan": 7, "acls_in": ["own", "two"],
                         "opstatus_reconf": False}
    assert ifaces[4] == {"description": "db abcde", "native_vlan": 7, "acls_in": ["dflt"],
                         "opstatus_reconf": False}
    # default_acl given for n1 only: another network's container gets none
    other = interfaces(DpInputs(s, "n2", containers=(ContainerPort(4, "db abcde"),)))
    assert "acls_in" not in other[4]


def test_fail_closed_container_has_no_interface_even_on_a_preallocated_port() -> None:
    s = spec(preallocate_ports="2", default_acl="dflt")
    ifaces = interfaces(DpInputs(s, "n1", containers=(
        ContainerPort(1, "bad 00000", acls=("x",), fail_closed="unknown ACL"),
        ContainerPort(2, "ok 11111"),
    )))
    assert 1 not in ifaces
    assert ifaces[2]["description"] == "ok 11111"


def test_container_with_labels_unknown_closes_the_preallocated_interface() -> None:
    """Issue 14.3: a port whose occupant's policy is unknown is closed, not left with the
    placeholder's settings (default_acl, or no ACL at all) until its labels are read."""
    s = spec(preallocate_ports="3", default_acl="dflt")
    ifaces = interfaces(DpInputs(s, "n1", containers=(
        ContainerPort(1, "", labels_known=False), ContainerPort(5, "", labels_known=False),
        ContainerPort(2, "pending 2"),  # policy known at Join: no labels, so the default ACL
    )))
    assert 1 not in ifaces and 5 not in ifaces
    assert ifaces[2] == {"description": "pending 2", "native_vlan": 100, "acls_in": ["dflt"],
                         "opstatus_reconf": False}
    assert ifaces[3]["description"] == PREALLOCATED_DESCRIPTION


def test_external_and_coprocessor_ports() -> None:
    s = spec(vlan="10")
    ifaces = interfaces(DpInputs(s, "n1", externals=(
        ExternalPort(8, "eth1", acl="a1", vlan=20),
        ExternalPort(9, "eth2"),
        ExternalPort(10, "eth3", coprocessor=True),
    )))
    assert ifaces[8] == {"description": "Physical interface eth1", "native_vlan": 20, "acls_in": ["a1"]}
    assert ifaces[9] == {"description": "Physical interface eth2", "native_vlan": 10}
    assert ifaces[10] == {"description": "Physical interface eth3",
                          "coprocessor": {"strategy": "vlan_vid"}}


def test_external_port_takes_precedence_over_preallocation() -> None:
    s = spec(preallocate_ports="2")
    ifaces = interfaces(DpInputs(s, "n1", externals=(ExternalPort(2, "eth9"),)))
    assert ifaces[2]["description"] == "Physical interface eth9"


@pytest.mark.parametrize("mode", ["nat", "routed"])
def test_gateway_port(mode: str) -> None:
    s = spec(IPV4, mode=mode, nat_acl="natacl")
    ifaces = interfaces(DpInputs(s, "n1"))
    assert LOCAL_OFPORT == 0xFFFFFFFE
    gw = ifaces[LOCAL_OFPORT]
    assert gw["opstatus_reconf"] is False
    assert gw["native_vlan"] == 100
    assert gw["acls_in"] == ["natacl"]
    # The output-only mirror port stays even beside real ports: replacing every port at once
    # would make FAUCET cold-start the DP and force the switch to reconnect.
    assert ifaces[s.lbport] == {"description": MIRROR_DESCRIPTION, "output_only": True}


def test_flat_network_has_no_gateway_port() -> None:
    assert LOCAL_OFPORT not in interfaces(DpInputs(spec(preallocate_ports="1"), "n1"))


def test_empty_dp_gets_placeholder_mirror_port() -> None:
    s = spec(lbport="42")
    assert interfaces(DpInputs(s, "n1")) == {
        42: {"description": MIRROR_DESCRIPTION, "output_only": True},
    }


def test_mirror_port_lists_mirrored_containers() -> None:
    s = spec()
    ifaces = interfaces(DpInputs(s, "n1", mirror_port=True, containers=(
        ContainerPort(4, "a", mirror=True),
        ContainerPort(2, "b", mirror=True),
        ContainerPort(3, "c"),
        ContainerPort(5, "d", mirror=True, fail_closed="no"),
        ContainerPort(6, "e", mirror=True, labels_known=False),
    )))
    assert ifaces[99] == {"description": MIRROR_DESCRIPTION, "output_only": True, "mirror": [2, 4]}


def test_build_dp_and_vlans_with_vlan_out_acl() -> None:
    s = spec(vlan="30", vlan_out_acl="n1:out1/n2:o1,o2")
    inputs = DpInputs(s, "n1", containers=(ContainerPort(1, "a"),), extra={"stack": {"priority": 1}})
    dp = build_dp(inputs)
    assert dp["dp_id"] == 5 and dp["hardware"] == HARDWARE
    assert dp["egress_pipeline"] is True
    assert dp["stack"] == {"priority": 1}
    assert dp["interfaces"][1]["native_vlan"] == 30
    # The VLAN names dovesnap's copies of the operator's ACLs (plan/egress.py says why).
    assert build_vlans(inputs) == {"dovesnap-vlan30": {"vid": 30, "acl_out": "dovesnap-egress-out1"}}
    assert build_vlans(DpInputs(s, "n2"))["dovesnap-vlan30"]["acl_out"] == [
        "dovesnap-egress-o1", "dovesnap-egress-o2"]
    assert build_vlans(DpInputs(s, "n3")) == {}
    assert "egress_pipeline" not in build_dp(DpInputs(s, "n3"))


def operator_config() -> dict[str, Any]:
    return {
        "meters": {"m1": {"meter_id": 1}},
        "acls": {"zeta": [{"rule": {"actions": {"allow": 1}}}], "alpha": []},
        "vlans": {"office": {"vid": 5}},
        "dps": {"sw1": {"dp_id": 1}, "sw2": {"dp_id": 2}},
        "extra": True,
    }


def test_put_dp_keeps_other_sections_and_order() -> None:
    config = operator_config()
    new = put_dp(config, "net1", {"dp_id": 9}, {"dovesnap-vlan100": {"vid": 100}})
    assert list(new) == ["meters", "acls", "vlans", "dps", "extra"]
    assert list(new["acls"]) == ["zeta", "alpha"]
    assert list(new["dps"]) == ["sw1", "sw2", "net1"]
    assert list(new["vlans"]) == ["office", "dovesnap-vlan100"]
    assert config == operator_config()  # the input is not touched


def test_put_dp_replaces_in_place() -> None:
    new = put_dp(operator_config(), "sw1", {"dp_id": 11})
    assert list(new["dps"]) == ["sw1", "sw2"]
    assert new["dps"]["sw1"] == {"dp_id": 11}


def test_put_dp_into_empty_config() -> None:
    assert put_dp({}, "n", {"dp_id": 1}) == {"dps": {"n": {"dp_id": 1}}}


def test_remove_dp_keeps_the_rest() -> None:
    config = put_dp(operator_config(), "net1", {"dp_id": 9}, {"dovesnap-vlan100": {"vid": 100}})
    new = remove_dp(config, "net1", ["dovesnap-vlan100"])
    assert new == operator_config()
    assert list(new["dps"]) == ["sw1", "sw2"]
    assert remove_dp({}, "x") == {}
    assert remove_dp(operator_config(), "absent") == operator_config()


def test_dp_names_with_id_and_acl_names() -> None:
    config = operator_config()
    assert dp_names_with_id(config, 2) == ["sw2"]
    assert dp_names_with_id(config, 3) == []
    assert dp_names_with_id({}, 1) == []
    assert acl_names(config) == {"zeta", "alpha"}
    assert acl_names({"acls": None}) == set()


def test_copy_config_is_deep_and_empty_for_none() -> None:
    config: dict[str, Any] = {"dps": {"a": {"dp_id": 1}}}
    copied = copy_config(config)
    copied["dps"]["a"]["dp_id"] = 2
    assert config["dps"]["a"]["dp_id"] == 1
    assert copy_config({}) == {}


def test_section_makes_a_missing_or_odd_entry_a_mapping() -> None:
    config: dict[str, Any] = {"acls": None, "dps": {"a": {}}}
    assert section(config, "dps") is config["dps"]
    section(config, "acls")["x"] = []
    section(config, "vlans")["v"] = {}
    assert config == {"acls": {"x": []}, "dps": {"a": {}}, "vlans": {"v": {}}}
