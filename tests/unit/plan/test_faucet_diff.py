"""What changed between two configs, and the partial config a change is validated with."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.plan.faucet_diff import (
    Change,
    CrossDpMemo,
    changed_ports,
    diff,
    mentions,
    only_port_descriptions,
    partial_candidate,
)
from dovesnap.plan.faucet_dp import put_dp, remove_dp

ACLS = {"allowall": [{"rule": {"actions": {"allow": 1}}}]}


def dp(dp_id: int, **extra: Any) -> dict[str, Any]:
    return {"dp_id": dp_id, "interfaces": {1: {"native_vlan": 100, **extra}}}


BASE: dict[str, Any] = {"acls": ACLS, "dps": {"a": dp(1), "b": dp(2)}}


def test_copy_on_write_edits_share_what_they_did_not_change() -> None:
    new = put_dp(BASE, "c", dp(3))
    assert new["dps"]["a"] is BASE["dps"]["a"] and new["acls"] is BASE["acls"]
    assert list(BASE["dps"]) == ["a", "b"]  # the original is untouched
    gone = remove_dp(new, "a")
    assert list(gone["dps"]) == ["b", "c"] and list(new["dps"]) == ["a", "b", "c"]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda c: c, Change()),
    (lambda c: put_dp(c, "a", dp(1)), Change()),  # same content, new object
    (lambda c: put_dp(c, "a", dp(1, acls_in=["allowall"])), Change(dps=("a",))),
    (lambda c: put_dp(c, "c", dp(3)), Change(dps=("c",))),
    (lambda c: remove_dp(c, "b"), Change(removed=("b",))),
    (lambda c: {**c, "meters": {}}, Change(sections=("meters",))),
])
def test_diff(edit: Any, expected: Change) -> None:
    assert diff(BASE, edit(BASE)) == expected
    assert bool(diff(BASE, edit(BASE))) == bool(expected)


def test_a_changed_dp_is_validated_alone_with_the_shared_sections() -> None:
    new = put_dp(BASE, "b", dp(2, acls_in=["allowall"]))
    assert partial_candidate(BASE, new) == {"acls": ACLS, "dps": {"b": new["dps"]["b"]}}


def test_removing_a_dp_needs_no_validation() -> None:
    assert partial_candidate(BASE, remove_dp(BASE, "b")) == {}


@pytest.mark.parametrize("new", [
    {**BASE, "acls": {}},  # a shared section changed: every DP may be affected
    put_dp({**BASE, "include": ["more.yaml"]}, "c", dp(3)),
    put_dp({**BASE, "routers": {"r": {"vlans": [100]}}}, "c", dp(3)),
    put_dp(BASE, "c", dp(1)),  # a duplicate dp_id is a whole-file matter
    put_dp(BASE, "c", {"dp_id": 3, "stack": {"priority": 1}, "interfaces": {}}),
    put_dp(BASE, "c", dp(3, stack={"dp": "a", "port": 1})),
    put_dp({**BASE, "acls": {"t": [{"rule": {"actions": {"output": {"tunnel": {}}}}}]}},
           "c", dp(3)),
])
def test_whole_file_validation_when_dps_may_depend_on_each_other(new: dict[str, Any]) -> None:
    assert partial_candidate(BASE, new) is None


def test_mentions_looks_through_lists_and_mappings() -> None:
    assert mentions([{"a": [{"stack": 1}]}], frozenset({"stack"}))
    assert not mentions({"a": ["stack"]}, frozenset({"stack"}))


def test_memo_remembers_per_object_and_forgets_objects_no_longer_used() -> None:
    memo = CrossDpMemo()
    stacked = {"stack": {"priority": 1}}
    plain = dp(1)
    assert memo(stacked) and not memo(plain)
    stacked.pop("stack")  # objects are never changed in place; the memo trusts that
    assert memo(stacked)
    memo.keep_only([plain])
    assert not memo(stacked)


PORTS = {1: {"native_vlan": 100}, 2: {"native_vlan": 100, "acls_in": ["allowall"]}}
WIDE = {"dp_id": 9, "hardware": "Open vSwitch", "interfaces": PORTS}


@pytest.mark.parametrize(("old", "new", "expected"), [
    # one port added: validated alone, with the DP's own settings
    (WIDE, {**WIDE, "interfaces": {**PORTS, 3: {"native_vlan": 100}}},
     {**WIDE, "interfaces": {3: {"native_vlan": 100}}}),
    # one port changed
    (WIDE, {**WIDE, "interfaces": {**PORTS, 1: {"native_vlan": 200}}},
     {**WIDE, "interfaces": {1: {"native_vlan": 200}}}),
    # ports only removed: nothing to validate
    (WIDE, {**WIDE, "interfaces": {1: PORTS[1]}}, None),
    # the DP's own settings changed: the whole DP
    (WIDE, {**WIDE, "egress_pipeline": True, "interfaces": {**PORTS, 3: {}}}, "whole"),
    # a port that names other ports (mirroring): the whole DP
    (WIDE, {**WIDE, "interfaces": {**PORTS, 99: {"output_only": True, "mirror": [1]}}}, "whole"),
    # a new DP: the whole DP
    (None, WIDE, "whole"),
])
def test_changed_ports(old: Any, new: dict[str, Any], expected: Any) -> None:
    assert changed_ports(old, new) == (new if expected == "whole" else expected)


def test_a_port_added_to_a_big_dp_is_validated_alone() -> None:
    big = {"dp_id": 1, "interfaces": {p: {"native_vlan": 100} for p in range(1, 1025)}}
    old = {"acls": ACLS, "dps": {"a": big}}
    new = put_dp(old, "a", {**big, "interfaces": {**big["interfaces"], 1025: {"native_vlan": 100}}})
    assert partial_candidate(old, new) == {
        "acls": ACLS, "dps": {"a": {"dp_id": 1, "interfaces": {1025: {"native_vlan": 100}}}}}


def test_only_port_descriptions_tells_a_renamed_port_from_a_real_change() -> None:
    def config(description: str, **port: Any) -> dict[str, Any]:
        iface = {"description": description, "native_vlan": 100, **port}
        return {"acls": {"a": []}, "dps": {"n1": {"dp_id": 1, "interfaces": {1: iface}},
                                           "n2": {"dp_id": 2}}}

    old = config("starting container e1")
    assert only_port_descriptions(old, config("web 4c1f2"))
    assert not only_port_descriptions(old, old)  # no change at all
    assert not only_port_descriptions(old, config("web 4c1f2", acls_in=["a"]))
    assert not only_port_descriptions(old, {**config("web 4c1f2"), "acls": {}})
    renamed_dp = config("starting container e1")
    renamed_dp["dps"]["n1"]["description"] = "another"
    assert not only_port_descriptions(old, renamed_dp)  # a DP's own description: not a port's
    gone = config("web 4c1f2")
    del gone["dps"]["n2"]
    assert not only_port_descriptions(old, gone)
