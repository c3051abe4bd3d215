"""Which ports FAUCET installed: read from ovs-ofctl's flow dump."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.adapters.openflow import LOCAL_PORT, OfctlOpenFlow, in_ports_of

TAGGED = "vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:100,resubmit(,1)"
DUMP = f"""\
NXST_FLOW reply (xid=0x4):
 cookie=0x5adc15c0, duration=2.5s, table=0, n_packets=0, priority=4096,in_port=LOCAL,{TAGGED}
 cookie=0x5adc15c0, duration=2.5s, table=0, n_packets=3, priority=4096,in_port=2,{TAGGED}
 cookie=0x5adc15c0, duration=2.5s, table=0, n_packets=0, priority=0 actions=drop
 cookie=0x5adc15c0, duration=2.5s, table=3, n_packets=0, priority=8191,in_port=17,dl_vlan=100 actions=drop
"""


def test_in_ports_of_a_faucet_flow_table() -> None:
    assert in_ports_of(DUMP) == {LOCAL_PORT, 2, 17}


def test_no_flows_no_ports() -> None:
    assert in_ports_of("NXST_FLOW reply (xid=0x4):\n") == set()


def test_one_ports_flows_are_read_with_a_filtered_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Join polls one port: only its flows are dumped, whatever else the bridge has."""
    calls = tmp_path / "calls"
    ofctl = tmp_path / "ovs-ofctl"
    ofctl.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'case "$4" in in_port=2|in_port=LOCAL) printf "%s" "$DUMP";; '
        '*) echo "NXST_FLOW reply (xid=0x4):";; esac\n')
    ofctl.chmod(0o755)
    monkeypatch.setenv("DUMP", DUMP)
    reader = OfctlOpenFlow(str(ofctl), attempts=1)
    assert reader.port_has_flows("br0", 2)
    assert reader.port_has_flows("br0", LOCAL_PORT)
    assert not reader.port_has_flows("br0", 5)
    assert calls.read_text().splitlines() == [
        "--no-names dump-flows br0 in_port=2", "--no-names dump-flows br0 in_port=LOCAL",
        "--no-names dump-flows br0 in_port=5"]
