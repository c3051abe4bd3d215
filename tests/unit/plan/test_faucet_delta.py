"""plan_change: one faucetconfrpc request per edit, applied here to the fake server's merge rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_rpc import render
from dovesnap.plan.faucet_delta import ConfigChange, diff, plan_change, unapplied
from tests.unit.rpc_fakes import FakeConfRpc


def base() -> dict[str, Any]:
    return {
        "acls": {"allowall": [{"rule": {"actions": {"allow": 1}}}]},
        "vlans": {"v100": {"vid": 100}},
        "dps": {
            "net1": {"dp_id": 1, "interfaces": {1: {"native_vlan": 100},
                                                 99: {"output_only": True, "mirror": [1]}}},
            "net2": {"dp_id": 2, "interfaces": {1: {"native_vlan": 100}}},
        },
    }


def edited(change: Any) -> dict[str, Any]:
    new = base()
    change(new)
    return new


def apply(change: ConfigChange, config: dict[str, Any]) -> dict[str, Any]:
    """What the server makes of ``config`` after ``change`` (through the fake's merge rules)."""
    server = FakeConfRpc(copy.deepcopy(config))
    if change.replace:
        server.set_config(render(change.merge), merge=False)
    else:
        keys = render(list(change.delete), flow=True) if change.delete else ""
        server.set_config(render(change.merge), merge=True, del_keys_yaml=keys)
    return server.config


EDITS = {
    "add an interface": lambda c: c["dps"]["net1"]["interfaces"].update({2: {"native_vlan": 100}}),
    "change an ACL list": lambda c: c["dps"]["net2"]["interfaces"][1].update(acls_in=["allowall"]),
    "remove an interface and its mirror": lambda c: (
        c["dps"]["net1"]["interfaces"].pop(1), c["dps"]["net1"]["interfaces"][99].pop("mirror")),
    "remove a DP and a VLAN": lambda c: (c["dps"].pop("net2"), c["vlans"].pop("v100")),
    "remove everything": lambda c: c.clear(),
    "list becomes a mapping": lambda c: c["acls"].update(allowall={"rule": 1}),
    "mapping becomes a scalar": lambda c: c["dps"]["net2"].update(interfaces=None),
    "add a DP": lambda c: c["dps"].update(net3={"dp_id": 3, "interfaces": {5: {}}}),
}


@pytest.mark.parametrize("name", EDITS)
def test_the_request_turns_old_into_new(name: str) -> None:
    new = edited(EDITS[name])
    change = plan_change(base(), new)
    assert change is not None
    assert apply(change, base()) == new
    assert unapplied(base(), new, apply(change, base())) == []


def test_small_edits_send_only_what_changed() -> None:
    change = plan_change(base(), edited(EDITS["add an interface"]))
    assert change == ConfigChange({"dps": {"net1": {"interfaces": {2: {"native_vlan": 100}}}}})
    change = plan_change(base(), edited(EDITS["remove an interface and its mirror"]))
    assert change is not None and not change.replace
    assert change.delete == ("dps", "net1", "interfaces")  # both removals are under it


def test_removals_with_nothing_in_common_replace_the_file() -> None:
    change = plan_change(base(), edited(EDITS["remove a DP and a VLAN"]))
    assert change is not None and change.replace


def test_no_change_is_no_request() -> None:
    assert plan_change(base(), base()) is None
    assert diff(base(), base()).sets == ()


def test_another_writers_dp_survives_a_delta() -> None:
    # The server got net9 from another host after we read: our request must not undo it.
    change = plan_change(base(), edited(EDITS["add an interface"]))
    assert change is not None
    theirs = base()
    theirs["dps"]["net9"] = {"dp_id": 9, "interfaces": {1: {}}}
    result = apply(change, theirs)
    assert "net9" in result["dps"] and 2 in result["dps"]["net1"]["interfaces"]


def test_unapplied_names_the_keys_that_did_not_land() -> None:
    new = edited(EDITS["add an interface"])
    assert unapplied(base(), new, base()) == [("dps", "net1", "interfaces", 2)]
    gone = edited(EDITS["remove a DP and a VLAN"])
    assert set(unapplied(base(), gone, base())) == {("dps", "net2"), ("vlans", "v100")}


def test_keys_that_look_like_numbers_stay_strings() -> None:
    old: dict[str, Any] = {"dps": {}}
    new: dict[str, Any] = {"dps": {"123": {"dp_id": 1}, "yes": {"dp_id": 2}}}
    change = plan_change(old, new)
    assert change is not None
    assert yaml.safe_load(render(change.merge)) == new
    assert apply(change, old) == new
