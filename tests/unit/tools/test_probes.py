"""The probes ``dovesnap doctor`` looks through: parsing what tools say, and a host with nothing running."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.tools import doctor as d
from dovesnap.tools.probes import SystemProbes, iptables_flavour, network_mode


@pytest.mark.parametrize(("text", "flavour"), [
    ("iptables v1.8.9 (nf_tables)", "nf_tables"), ("iptables v1.8.7 (legacy)", "legacy"),
    ("iptables v1.6.1", "legacy"), ("", ""),
])
def test_iptables_flavour_parsing(text: str, flavour: str) -> None:
    assert iptables_flavour(text) == flavour


def test_system_probes_on_files_and_ports_nobody_uses(tmp_path: Path) -> None:
    probes = SystemProbes()
    assert probes.plugin(tmp_path / "none.sock") == d.PluginSeen(exists=False)
    assert probes.config_dir(tmp_path / "none") == d.DirSeen(exists=False)
    assert probes.config_dir(tmp_path).writable and list(tmp_path.iterdir()) == []
    assert not probes.ovs(tmp_path / "db.sock").answers
    assert not probes.openflow("127.0.0.1", 1).listening
    assert probes.faucet_config(tmp_path / "faucet.yaml") == d.FaucetConfigSeen(exists=False)
    (tmp_path / "faucet.yaml").write_text("acls: {}\n")
    assert probes.faucet_config(tmp_path / "faucet.yaml") == d.FaucetConfigSeen(
        True, False, dp_names=frozenset())
    (tmp_path / "faucet.yaml").write_text(
        "dps: {x: {dp_id: 1, interfaces: {1: {native_vlan: 100, acls_in: [nope]}}}}\n")
    seen = probes.faucet_config(tmp_path / "faucet.yaml")
    assert seen.exists and seen.has_dps and "nope" in seen.error
    assert seen.dp_names == frozenset({"x"})
    assert not seen.error.startswith("FAUCET")  # the check says who refused


@pytest.mark.parametrize(("ids", "mode"), [
    ({"dovesnap-spec": '{"mode": "nat", "dpid": 1}'}, "nat"),
    ({"dovesnap-spec": "{broken"}, ""), ({"dovesnap-spec": "[1]"}, ""), ({}, ""),
])
def test_network_mode_comes_from_the_spec_ovs_keeps(ids: dict[str, str], mode: str) -> None:
    assert network_mode(ids) == mode


def test_listening_sockets_include_a_port_the_test_listens_on() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert any(s.port == port and s.loopback for s in SystemProbes().listening())
