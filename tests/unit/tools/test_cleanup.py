"""The cleanup plan: which bridges, links, networks and DPs are dovesnap's to remove."""

from __future__ import annotations

import json

import pytest

from dovesnap.model.names import EXT_OPERATOR_DP
from dovesnap.plan.operator_dp import OperatorDp
from dovesnap.tools.cleanup import BridgeFacts, plan_cleanup, remove_dps

SPEC = json.dumps({"dpid": 0x10})
BRIDGES = [
    BridgeFacts("odsbr12345", {"dovesnap-driver": "dovesnap", "dovesnap-network-id": "n1",
                               "dovesnap-spec": SPEC},
                ("odsbr12345", "odsveaaaaa", "eno1", "odshand1")),
    BridgeFacts("odsbr99999", {"dovesnap-driver": "dovesnap-t3", "dovesnap-network-id": "n3"},
                ("odsvebbbbb",)),
    BridgeFacts("dovesnap07A395", {"dovesnap-driver": "dovesnap",
                                   "dovesnap-role": "stack-bridge"}, ("ods0123456789ab",)),
    BridgeFacts("br-operator", {}, ("odsveccccc",)),
]
# odshand1 (added by hand to a dovesnap bridge) and ethcx (not a veth end dovesnap names) are
# the operator's: they stay, whatever their names start with.
LINKS = dict.fromkeys(
    ["odsveaaaaa", "odsvebbbbb", "odsveccccc", "odsvedddd0", "ethcdddd0", "ods0123456789ab",
     "odshand1", "ethcx"], "veth")


@pytest.mark.parametrize(
    ("drivers", "bridges", "links", "networks", "dps", "stack"),
    [
        ({"dovesnap"}, ["odsbr12345", "dovesnap07A395"],
         ["ethcdddd0", "ods0123456789ab", "odsveaaaaa", "odsvedddd0"], ["n1"], [0x10],
         ["dovesnap07A395"]),
        ({"dovesnap-t3"}, ["odsbr99999"], ["ethcdddd0", "odsvebbbbb", "odsvedddd0"], ["n3"], [],
         []),
        (None, ["odsbr12345", "odsbr99999", "dovesnap07A395"],
         ["ethcdddd0", "ods0123456789ab", "odsveaaaaa", "odsvebbbbb", "odsvedddd0"], ["n1", "n3"],
         [0x10], ["dovesnap07A395"]),
    ],
)
def test_plan_takes_only_dovesnaps_objects(
    drivers: set[str] | None, bridges: list[str], links: list[str], networks: list[str],
    dps: list[int], stack: list[str],
) -> None:
    plan = plan_cleanup(BRIDGES, LINKS, drivers)
    assert plan.bridges == bridges
    assert plan.links == links  # the operator's eno1 and the veth on br-operator stay
    assert plan.network_ids == networks
    assert plan.dp_ids == dps
    assert plan.stack_dps == stack


def test_plan_takes_only_veths_with_dovesnaps_exact_names() -> None:
    links = {
        "ethcore0": "",  # a NIC named like a container side: not a veth
        "ethc12345": "dummy", "odsve12345": "vxlan",  # right names, wrong kind
        "odsvethernet": "veth", "ethcabcdefg": "veth", "odsve1234": "veth",  # wrong names
        "odsve0123456789a": "veth", "ods0123456789abc": "veth",  # one character too long
        "odsveabcdef012": "veth", "ethcabcdef012": "veth",  # longer names dovesnap uses
        "odsvefffff": "veth",  # dovesnap's, attached to an operator's bridge: stays
        "odssp0a1b2c3d": "veth", "odssq0a1b2c3d": "veth",  # a spare port's stand-in, left over
        "odssp0a1b2c3": "veth",  # one hex digit short: not dovesnap's
    }
    bridges = [
        BridgeFacts("odsbr12345", {"dovesnap-driver": "dovesnap", "dovesnap-network-id": "n1"},
                    ("odsbr12345", "odsveaaaaa", "odsve_mine", "ods0123456789ab")),
        BridgeFacts("br-operator", {}, ("odsvefffff",)),
    ]
    links |= {"odsveaaaaa": "veth", "odsve_mine": "veth", "ods0123456789ab": "bridge"}
    plan = plan_cleanup(bridges, links, None)
    assert plan.links == ["ethcabcdef012", "odssp0a1b2c3d", "odssq0a1b2c3d", "odsveaaaaa",
                          "odsveabcdef012"]


def test_remove_dps_keeps_everything_else() -> None:
    config = {"acls": {"a": []}, "dps": {"mine": {"dp_id": 0x10}, "theirs": {"dp_id": 0x77}}}
    assert remove_dps(config, [0x10]) == {"acls": {"a": []}, "dps": {"theirs": {"dp_id": 0x77}}}
    assert config["dps"] == {"mine": {"dp_id": 0x10}, "theirs": {"dp_id": 0x77}}


def test_an_operators_pre_seeded_dp_is_put_back_not_removed() -> None:
    seeded = OperatorDp("lab", {"dp_id": 0x10, "description": "mine",
                                "interfaces": {0xFFFFFFFE: {"native_vlan": 100}}})
    bridge = BridgeFacts("odsbr12345", {"dovesnap-driver": "dovesnap", "dovesnap-network-id": "n1",
                                        "dovesnap-spec": SPEC, EXT_OPERATOR_DP: seeded.encode()})
    plan = plan_cleanup([bridge], {}, None)
    assert plan.operator_dps == [seeded] and plan.dp_ids == [0x10]
    merged = {"dps": {"lab": {"dp_id": 0x10, "description": "mine", "hardware": "Open vSwitch",
                              "interfaces": {0xFFFFFFFE: {"native_vlan": 100, "description": "gateway"},
                                             1: {"description": "web 01234"}}},
                      "theirs": {"dp_id": 0x77}}}
    cleaned = remove_dps(merged, plan.dp_ids, plan.operator_dps)
    assert cleaned == {"dps": {"lab": dict(seeded.dp), "theirs": {"dp_id": 0x77}}}
