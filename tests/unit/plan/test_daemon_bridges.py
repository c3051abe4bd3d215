"""Pure planning for the daemon's own bridges: engine id, names, patch ends, the bridge plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovesnap.model.names import EXT_DRIVER, EXT_ROLE
from dovesnap.plan.daemon_bridges import (
    ROLE_MIRROR_BRIDGE,
    daemon_bridge_plan,
    loopback_bridge_name,
    mirror_bridge_name,
    patch_end,
    short_engine_id,
    short_host_id,
    stack_bridge_name,
    stack_dpid,
)

# --- engine id and names ---------------------------------------------------------------------


@pytest.mark.parametrize(("docker_id", "short"), [
    ("AQAD:QG3L:345H:3Z6I:UQPW:Z4BP:E5AS:4IZK:M6PB:X6S4:V5XR:OBKY", "07A395"),  # 'aqad' base 36
    ("0001:QG3L:345H", "000001"),
    ("ZZZZ:0000", "19A0FF"),
    ("5c3f9a1e-2b44-4c1d-9d5e-0123456789ab", "5C3F9A"),
    ("", None),
    ("not-hex", None),
])
def test_short_engine_id(docker_id: str, short: str | None) -> None:
    assert short_engine_id(docker_id) == short


def test_short_host_id_from_machine_id_and_ovs_system_id() -> None:
    assert short_host_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n") == "3D1219"
    assert short_host_id("82d700b2-2f83-438d-95dd-17502b4c8372") == "82D700"
    assert short_host_id("\n") is None


@given(st.text(alphabet="0123456789ABCDEF", min_size=6, max_size=6))
def test_daemon_bridge_names_fit_ifnamsiz(engine: str) -> None:
    names = [mirror_bridge_name(engine), stack_bridge_name(engine), loopback_bridge_name(engine)]
    assert names == [f"odsmir{engine}", f"dovesnap{engine}", f"odslb{engine}"]
    assert all(len(n) <= 15 for n in names)
    assert stack_dpid(engine) == int("0E0F00" + engine, 16)


@given(st.text(min_size=1, max_size=15), st.text(min_size=1, max_size=15))
def test_patch_ends_are_short_distinct_and_ours(a: str, b: str) -> None:
    ends = {patch_end(a, b), patch_end(b, a)}
    assert all(e.startswith("ods") and len(e) <= 15 for e in ends)
    if a != b:
        assert len(ends) == 2


def test_daemon_bridge_plan_follows_the_datapath_and_marks_its_role() -> None:
    plan = daemon_bridge_plan("odsmir07A395", 0x0E0F0107A395, ROLE_MIRROR_BRIDGE, True, "dovesnap")
    assert plan.datapath_type == "netdev"
    assert plan.datapath_id == "00000e0f0107a395"
    assert plan.controllers == ()
    assert dict(plan.external_ids) == {EXT_DRIVER: "dovesnap", EXT_ROLE: ROLE_MIRROR_BRIDGE}
    kernel = daemon_bridge_plan("x", 1, ROLE_MIRROR_BRIDGE, False, "d", ("tcp:127.0.0.1:1",))
    assert kernel.datapath_type == "system"
    assert kernel.controllers == ("tcp:127.0.0.1:1",)
