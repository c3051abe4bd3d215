"""An operator's pre-seeded DP: dovesnap's DP merged in, the operator's keys kept, and the DP put
back exactly as it was (comments included) when the network goes."""

from __future__ import annotations

import io
from typing import Any

import pytest
from ruamel.yaml import YAML

from dovesnap.errors import DovesnapError
from dovesnap.plan.operator_dp import (
    OperatorDp,
    merge_dp,
    plain,
    restore_dp,
    written_by_dovesnap,
)

SEEDED_YAML = """\
acls:
  allowall: [{rule: {actions: {allow: 1}}}]
dps:
  mynet:
    # the operator's own words about this DP
    dp_id: 0x1
    description: lab switch
    interfaces:
      0xfffffffe:
        native_vlan: 100
        opstatus_reconf: false
        acls_in: [allowall]
      printer:
        number: 5
        native_vlan: 100
    interface_ranges:
      20-29: {native_vlan: 100}
  other:
    dp_id: 0x2
"""
OURS = {
    "dp_id": 1, "hardware": "Open vSwitch",
    "interfaces": {
        1: {"description": "web 01234", "native_vlan": 100},
        0xFFFFFFFE: {"description": "gateway", "native_vlan": 100, "opstatus_reconf": False},
        99: {"description": "dovesnap mirror port", "output_only": True},
    },
}


def load(text: str) -> Any:
    return YAML(typ="rt").load(text)


def dump(data: Any) -> str:
    out = io.StringIO()
    yaml = YAML(typ="rt")
    yaml.dump(data, out)
    return out.getvalue()


def seeded() -> OperatorDp:
    return OperatorDp("mynet", plain(load(SEEDED_YAML)["dps"]["mynet"]))


def test_merge_keeps_every_key_of_the_operator_and_adds_dovesnaps() -> None:
    config = load(SEEDED_YAML)
    merged = merge_dp(config, "mynet", seeded(), OURS)
    dp = plain(merged["dps"]["mynet"])
    assert dp["description"] == "lab switch" and dp["interface_ranges"] == {"20-29": {"native_vlan": 100}}
    assert dp["hardware"] == "Open vSwitch" and dp["dp_id"] == 1
    # The LOCAL port: dovesnap's settings added, the operator's ACL (not set by dovesnap) kept.
    assert dp["interfaces"][0xFFFFFFFE] == {"native_vlan": 100, "opstatus_reconf": False,
                                            "acls_in": ["allowall"], "description": "gateway"}
    assert dp["interfaces"]["printer"] == {"number": 5, "native_vlan": 100}
    assert dp["interfaces"][1]["description"] == "web 01234" and 99 in dp["interfaces"]
    assert plain(merged["dps"]["other"]) == {"dp_id": 2}
    assert "the operator's own words" in dump(merged)
    assert plain(config) == plain(load(SEEDED_YAML))  # the input is not changed


def test_dovesnaps_settings_win_on_the_ports_it_configures() -> None:
    ours = {**OURS, "interfaces": {0xFFFFFFFE: {"native_vlan": 100, "acls_in": ["natacl"]}}}
    merged = merge_dp(load(SEEDED_YAML), "mynet", seeded(), ours)
    assert plain(merged["dps"]["mynet"]["interfaces"][0xFFFFFFFE])["acls_in"] == ["natacl"]


def test_each_merge_starts_again_from_the_operators_dp() -> None:
    first = merge_dp(load(SEEDED_YAML), "mynet", seeded(), OURS)
    fewer = {**OURS, "interfaces": {0xFFFFFFFE: OURS["interfaces"][0xFFFFFFFE]}}
    second = plain(merge_dp(first, "mynet", seeded(), fewer)["dps"]["mynet"])
    assert 1 not in second["interfaces"] and 99 not in second["interfaces"]  # a container left
    assert second["interfaces"]["printer"] == {"number": 5, "native_vlan": 100}


def test_restore_puts_the_dp_back_as_it_was_comments_and_hex_included() -> None:
    merged = merge_dp(load(SEEDED_YAML), "mynet", seeded(), OURS)
    restored = restore_dp(load(dump(merged)), seeded())
    assert plain(restored) == plain(load(SEEDED_YAML))
    assert dump(restored) == dump(load(SEEDED_YAML))
    # The DP gone meanwhile: the operator's comes back.
    config = load(SEEDED_YAML)
    del config["dps"]["mynet"]
    assert plain(restore_dp(config, seeded())["dps"]["mynet"]) == seeded().dp


def test_ports_are_the_operators_interfaces_but_the_local_port() -> None:
    assert seeded().ports() == {5}
    assert OperatorDp("x", {"dp_id": 1}).ports() == frozenset()
    assert OperatorDp("x", {"interfaces": {3: {}, "eth": {"number": 4}, "noport": {}}}).ports() == {3, 4}


def test_encoding_keeps_integer_interface_keys() -> None:
    dp = seeded()
    back = OperatorDp.decode(dp.encode())
    assert back == OperatorDp("mynet", dp.dp)
    assert 0xFFFFFFFE in back.dp["interfaces"]
    with pytest.raises(DovesnapError, match="unreadable"):
        OperatorDp.decode("name: [")
    with pytest.raises(DovesnapError, match="unreadable"):
        OperatorDp.decode("name: x\ndp: [1]\n")


@pytest.mark.parametrize(("dp", "dovesnaps"), [
    (OURS, True),
    ({**OURS, "egress_pipeline": True, "interfaces": {
        3: {"description": "Physical interface eth1", "native_vlan": 200},
        4: {"description": "preallocated port", "native_vlan": 100},
        7: {"description": "Stack link to dovesnap07a395", "stack": {"dp": "x", "port": 1}}}}, True),
    ({"dp_id": 1}, True),
    (plain(load(SEEDED_YAML)["dps"]["mynet"]), False),  # description, ranges, no descriptions
    ({**OURS, "interfaces": {1: {"native_vlan": 100}}}, False),  # an interface dovesnap did not write
    ({**OURS, "interfaces": {1: {"description": "my printer"}}}, False),
    ({**OURS, "lldp_beacon": {"send_interval": 5}}, False),
])
def test_what_dovesnap_wrote_is_told_from_what_an_operator_wrote(dp: dict[str, Any], dovesnaps: bool) -> None:
    assert written_by_dovesnap(dp) is dovesnaps
