"""FAUCET's own word on what it runs: parsed from its Prometheus text."""

from __future__ import annotations

from dovesnap.adapters.faucet_metrics import metric_samples, parse_faucet_state, port_acl_tables

GOOD = """\
# HELP faucet_config_load_error 1 if last attempt to re/load config failed
faucet_config_load_error 0.0
faucet_config_hash_info{config_files="/etc/faucet/faucet.yaml",error="",hashes="abc123"} 1.0
port_status{dp_id="0x7e4001",dp_name="net1",port="4294967294",port_description="gateway"} 1.0
port_status{dp_id="0x7e4001",dp_name="net1",port="1",port_description="web {x} \\"q\\""} 0.0
dp_status{dp_id="0x7e4001",dp_name="net1"} 1.0
dp_status{dp_id="0x7e4002",dp_name="net2"} 0.0
"""

REASON = "DP net1: alow field unknown in typo (known types {'allow': <class 'int'>})"
BAD = (
    "faucet_config_load_error 1.0\n"
    'faucet_config_hash_info{config_files="/etc/faucet/faucet.yaml",'
    f'error="{REASON}\\nsecond line",hashes=""}} 1.0\n'
)


def test_state_of_a_good_load() -> None:
    state = parse_faucet_state(GOOD)
    assert not state.load_error and state.error == ""
    assert state.hashes == {"/etc/faucet/faucet.yaml": "abc123"}
    assert state.dps_up == {"net1": True, "net2": False}
    assert state.ports_up == {("net1", 4294967294): True, ("net1", 1): False}


def test_refusal_keeps_faucets_reason_with_braces_and_escapes() -> None:
    state = parse_faucet_state(BAD)
    assert state.load_error
    assert state.error == REASON + "\nsecond line"
    assert state.hashes == {"/etc/faucet/faucet.yaml": ""}


def test_label_values_are_unescaped() -> None:
    [(labels, value)] = metric_samples(GOOD, ["port_status"])[1:]
    assert labels["port_description"] == 'web {x} "q"' and value == 0.0


def test_nothing_known_from_an_empty_page() -> None:
    state = parse_faucet_state("")
    assert not state.load_error and not state.hashes and not state.dps_up


def test_a_port_acl_table_shows_in_the_vlan_tables_id_not_in_a_stale_sample() -> None:
    page = "\n".join([
        # sw1 had a port ACL table once; FAUCET still exports that sample, but its VLAN
        # table is first again.
        'faucet_config_table_names{dp_id="0x1",dp_name="sw1",next_tables="vlan",'
        'table_name="port_acl"} 0.0',
        'faucet_config_table_names{dp_id="0x1",dp_name="sw1",next_tables="eth_src",'
        'table_name="vlan"} 0.0',
        'faucet_config_table_names{dp_id="0x2",dp_name="sw2",next_tables="vlan",'
        'table_name="port_acl"} 0.0',
        'faucet_config_table_names{dp_id="0x2",dp_name="sw2",next_tables="eth_src",'
        'table_name="vlan"} 1.0',
    ])
    assert port_acl_tables(page) == {"sw1": False, "sw2": True}
    assert port_acl_tables("") == {}
