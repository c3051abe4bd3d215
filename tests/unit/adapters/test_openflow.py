"""Which ports FAUCET installed: read from ovs-ofctl's flow dump."""

from __future__ import annotations

from dovesnap.adapters.openflow import LOCAL_PORT, in_ports_of

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
