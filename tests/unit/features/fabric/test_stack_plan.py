"""Pure stacking config edits, checked by FAUCET's own parser; stack state from Prometheus text."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_metrics import parse_stack_states, reload_count
from dovesnap.errors import FaucetConfigError, FlagError
from dovesnap.features.fabric.stack_plan import (
    STACK_LINK_ACL,
    TUNNEL_ACL_PREFIX,
    StackUplink,
    link_network,
    put_stack_dp,
    put_tunnel,
    stack_applied,
    strip_stack,
    tunnel_acl_name,
    tunnel_path_up,
    unlink_network,
)
from dovesnap.plan.faucet_dp import MIRROR_DESCRIPTION

STACK = "dovesnap07A395"
STACK_ID = 0x0E0F0007A395
UPLINK = StackUplink(1, "odsrootsw", 7)


def operator_config() -> dict[str, Any]:
    """The operator's root switch and one dovesnap network DP, before any stacking."""
    return {
        "acls": {"allowall": [{"rule": {"actions": {"allow": 1}}}]},
        "dps": {
            "odsrootsw": {
                "dp_id": 0x77, "hardware": "Open vSwitch",
                "interfaces": {1: {"native_vlan": 100}, 88: {"output_only": True}},
            },
            "net1": {
                "dp_id": 0x7E5001, "hardware": "Open vSwitch",
                "interfaces": {1: {"description": "c1 abcde", "native_vlan": 100},
                               2: {"description": "c2 bcdef", "native_vlan": 100}},
            },
        },
    }


def stacked(tunnels: bool = False) -> Any:
    config = put_stack_dp(operator_config(), STACK, STACK_ID, "host", [UPLINK], "odsrootsw",
                          ("odsrootsw", 88) if tunnels else None)
    return link_network(config, "net1", 0xFEFF, STACK, 2)


# FAUCET's own view of each DP's pipeline, from a child process (FAUCET pulls in eventlet).
TABLE_IDS = """
import json, sys, warnings, logging
warnings.simplefilter("ignore"); logging.disable(logging.CRITICAL)
from faucet.config_parser import dp_parser
_, _, dps, _ = dp_parser(sys.argv[1], "test")
print(json.dumps({dp.name: sorted(dp.pipeline_tableids()) for dp in dps}))
"""


def table_ids(config: Any, path: Path) -> dict[str, list[int]]:
    path.write_text(yaml.safe_dump(yaml.safe_load(yaml.safe_dump(dict(config)))))
    out = subprocess.run([sys.executable, "-c", TABLE_IDS, str(path)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    found: dict[str, list[int]] = json.loads(out.splitlines()[-1])
    return found


@pytest.fixture
def faucet_ok(faucet_check: FaucetCheckProcess, tmp_path: Path) -> Any:
    def check(config: Any) -> None:
        path = tmp_path / "faucet.yaml"
        path.write_text(yaml.safe_dump(yaml.safe_load(yaml.safe_dump(dict(config)))))
        faucet_check(str(path))

    return check


def test_stacking_dp_links_both_ends_and_roots_the_stack(faucet_ok: Any) -> None:
    config = put_stack_dp(operator_config(), STACK, STACK_ID, "dovesnap on h", [UPLINK],
                          "odsrootsw")
    dps = config["dps"]
    assert dps[STACK]["dp_id"] == STACK_ID
    assert dps[STACK]["interfaces"] == {1: {"description": "Stack link to odsrootsw",
                                            "stack": {"dp": "odsrootsw", "port": 7}}}
    assert dps["odsrootsw"]["interfaces"][7]["stack"] == {"dp": STACK, "port": 1}
    assert dps["odsrootsw"]["stack"] == {"priority": 1}
    assert dps["odsrootsw"]["interfaces"][88] == {"output_only": True}  # operator's, untouched
    faucet_ok(config)


def test_tunnels_are_a_warm_change_for_the_stack_dps(faucet_ok: Any, tmp_path: Path) -> None:
    """FAUCET cold-starts a DP whose table ids change, and loses a tunnel's rules then."""
    before = stacked(tunnels=True)
    for dp in (STACK, "odsrootsw"):
        uplink_end = 1 if dp == STACK else 7
        assert before["dps"][dp]["interfaces"][uplink_end]["acls_in"] == [STACK_LINK_ACL]
    after = put_tunnel(before, "net1", 99, 356, "odsrootsw", 88, [1])
    faucet_ok(after)
    old, new = table_ids(before, tmp_path / "a.yaml"), table_ids(after, tmp_path / "b.yaml")
    assert old[STACK] == new[STACK] and old["odsrootsw"] == new["odsrootsw"]
    # Without the stack link ACL they would change.
    plain = stacked()
    plain_tunnel = put_tunnel(plain, "net1", 99, 356, "odsrootsw", 88, [1])
    assert (table_ids(plain, tmp_path / "c.yaml")["odsrootsw"]
            != table_ids(plain_tunnel, tmp_path / "d.yaml")["odsrootsw"])
    stripped = strip_stack(after, STACK)
    assert STACK_LINK_ACL not in stripped["acls"]
    assert "acls_in" not in stripped["dps"]["odsrootsw"]["interfaces"].get(7, {})
    faucet_ok(stripped)


def test_stacking_needs_the_remote_dp_and_the_root_in_faucet_yaml() -> None:
    with pytest.raises(FlagError, match=r"DP nosuch is not defined in faucet\.yaml"):
        put_stack_dp(operator_config(), STACK, STACK_ID, "h", [StackUplink(1, "nosuch", 7)], None)
    with pytest.raises(FlagError, match="stack-priority1"):
        put_stack_dp(operator_config(), STACK, STACK_ID, "h", [UPLINK], "nosuch")
    with pytest.raises(FlagError, match=r"stack-mirror-interface.*DP nosuch"):
        put_stack_dp(operator_config(), STACK, STACK_ID, "h", [UPLINK], None, ("nosuch", 88))
    with pytest.raises(FlagError, match="has no interface 89"):
        put_stack_dp(operator_config(), STACK, STACK_ID, "h", [UPLINK], None, ("odsrootsw", 89))


def test_without_a_root_faucet_refuses_the_stack(faucet_ok: Any) -> None:
    config = put_stack_dp(operator_config(), STACK, STACK_ID, "h", [UPLINK], None)
    with pytest.raises(FaucetConfigError, match="no root"):
        faucet_ok(config)


def test_network_stack_link_both_ends(faucet_ok: Any) -> None:
    config = stacked()
    assert config["dps"]["net1"]["interfaces"][0xFEFF]["stack"] == {"dp": STACK, "port": 2}
    assert config["dps"][STACK]["interfaces"][2]["stack"] == {"dp": "net1", "port": 0xFEFF}
    faucet_ok(config)


def test_linking_is_skipped_until_both_dps_exist() -> None:
    config = link_network(operator_config(), "net1", 0xFEFF, STACK, 2)
    assert 0xFEFF not in config["dps"]["net1"]["interfaces"]


def test_removed_network_leaves_no_dangling_stack_port(faucet_ok: Any) -> None:
    config = stacked()
    del config["dps"]["net1"]
    with pytest.raises(FaucetConfigError, match="net1"):
        faucet_ok(config)  # this is why the driver lets hooks undo their edits
    config = unlink_network(config, "net1", STACK)
    assert 2 not in config["dps"][STACK]["interfaces"]
    assert 1 in config["dps"][STACK]["interfaces"]
    faucet_ok(config)


def test_tunnel_mirrors_ports_into_a_vlan_tunnel(faucet_ok: Any) -> None:
    config = put_tunnel(stacked(), "net1", 99, 356, "odsrootsw", 88, [2, 1, 2])
    name = tunnel_acl_name(356, "odsrootsw", 88)
    assert name.startswith(TUNNEL_ACL_PREFIX)
    assert config["dps"]["net1"]["interfaces"][99] == {
        "description": "dovesnap mirror tunnel", "coprocessor": {"strategy": "vlan_vid"},
        "acls_in": [name], "mirror": [1, 2],
    }
    rules = [r["rule"] for r in config["acls"][name]]
    assert rules[0] == {"vlan_vid": 356, "actions": {"allow": 0}}
    assert rules[1]["actions"]["output"]["tunnel"] == {
        "dp": "odsrootsw", "port": 88, "tunnel_id": 356, "type": "vlan"}
    assert "allowall" in config["acls"]
    faucet_ok(config)


def test_tunnel_acl_goes_with_its_last_user(faucet_ok: Any) -> None:
    config = put_tunnel(stacked(), "net1", 99, 356, "odsrootsw", 88, [1])
    del config["dps"]["net1"]
    config = unlink_network(config, "net1", STACK)
    assert tunnel_acl_name(356, "odsrootsw", 88) not in config["acls"]
    assert "allowall" in config["acls"]
    faucet_ok(config)


def test_strip_removes_all_stacking_and_keeps_the_operators_config(faucet_ok: Any) -> None:
    before = operator_config()
    config = put_tunnel(stacked(), "net1", 99, 356, "odsrootsw", 88, [1])
    config = strip_stack(config, STACK)
    assert STACK not in config["dps"]
    assert 7 not in config["dps"]["odsrootsw"]["interfaces"]
    assert 0xFEFF not in config["dps"]["net1"]["interfaces"]
    assert config["dps"]["net1"]["interfaces"][99] == {
        "description": MIRROR_DESCRIPTION, "output_only": True, "mirror": [1]}
    assert config["acls"] == before["acls"]
    faucet_ok(config)


def test_restacking_is_idempotent() -> None:
    once = stacked()
    again = link_network(
        put_stack_dp(copy.deepcopy(once), STACK, STACK_ID, "host", [UPLINK], "odsrootsw"),
        "net1", 0xFEFF, STACK, 2)
    assert yaml.safe_dump(dict(again)) == yaml.safe_dump(dict(once))


# --- stack state ---------------------------------------------------------------------------------

METRICS = """\
# HELP port_stack_state state of stacking on a port
# TYPE port_stack_state gauge
port_stack_state{dp_id="0x77",dp_name="odsrootsw",port="7",port_description="Stack link"} 3.0
port_stack_state{dp_id="0xe0f0007a395",dp_name="dovesnap07A395",port="1",port_description="x"} 3.0
port_stack_state{dp_id="0xe0f0007a395",dp_name="dovesnap07A395",port="2",port_description="x"} 1.0
port_stack_state{dp_id="0x7e5001",dp_name="net1",port="65279",port_description="x"} 3.0
port_status{dp_id="0x77",dp_name="odsrootsw",port="7",port_description="x"} 1.0
port_stack_state{dp_id="0x1",dp_name="broken",port="x",port_description="x"} 3.0
"""


def test_parse_stack_states_reads_only_stack_state_samples() -> None:
    assert parse_stack_states(METRICS) == {
        ("odsrootsw", 7): 3, (STACK, 1): 3, (STACK, 2): 1, ("net1", 65279): 3,
    }


def test_reload_count_reads_warm_and_cold_reloads_of_one_dp() -> None:
    text = (
        '# TYPE faucet_config_reload_warm_total counter\n'
        'faucet_config_reload_warm_total{dp_id="0x1",dp_name="net1"} 2.0\n'
        'faucet_config_reload_cold_total{dp_id="0x1",dp_name="net1"} 1.0\n'
        'faucet_config_reload_cold_total{dp_id="0x2",dp_name="other"} 7.0\n'
    )
    assert reload_count(text, "net1") == 3
    assert reload_count(text, "nothere") == 0
    assert reload_count("", "net1") == 0


def test_tunnel_waits_for_both_ends_of_the_network_link_and_an_uplink() -> None:
    states = parse_stack_states(METRICS)
    ends = (("net1", 65279), (STACK, 2))
    assert not tunnel_path_up(states, ends, [UPLINK], STACK, "odsrootsw")
    states[(STACK, 2)] = 3
    assert tunnel_path_up(states, ends, [UPLINK], STACK, "odsrootsw")
    states[("odsrootsw", 7)] = 2
    assert not tunnel_path_up(states, ends, [UPLINK], STACK, "odsrootsw")
    # A target further away: any working uplink will do.
    other = StackUplink(3, "spine", 1)
    states[(STACK, 3)] = states[("spine", 1)] = 3
    assert tunnel_path_up(states, ends, [UPLINK, other], STACK, "faraway")
    assert not tunnel_path_up({}, ends, [UPLINK], STACK, "odsrootsw")


def test_the_stack_counts_as_applied_only_after_a_reload_with_tables_and_switches_up() -> None:
    dps = [STACK, "odsrootsw"]
    up = {STACK: True, "odsrootsw": True}
    tables = {STACK: True, "odsrootsw": True}
    assert stack_applied(dps, up, tables, requests=8, requests_before=7)
    assert not stack_applied(dps, up, tables, requests=7, requests_before=7)  # no reload yet
    assert not stack_applied(dps, up, tables, requests=None, requests_before=7)
    assert stack_applied(dps, up, tables, requests=None, requests_before=None)  # nothing changed
    assert not stack_applied(dps, {STACK: True, "odsrootsw": False}, tables, 8, 7)  # reconnecting
    assert not stack_applied(dps, up, {STACK: True}, 8, 7)  # the root's ACL table not loaded
    assert not stack_applied(dps, {STACK: True}, tables, 8, 7)  # FAUCET does not know the root
