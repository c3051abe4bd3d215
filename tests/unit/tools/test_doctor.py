"""``dovesnap doctor``: each check on what a probe saw, and the whole run with one thing broken."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.cli import build_parser
from dovesnap.tools import doctor as d
from dovesnap.tools.doctor_applied import FaucetAppliedSeen, check_faucet_applied, status_problems

SETTINGS = d.DoctorSettings(plugin_socket=Path("/run/docker/plugins/dovesnap-t9.sock"),
                            faucet_of_port=7553, gauge_of_port=7554)
HEALTHY_BRIDGE = d.BridgeSeen("odsbr1", "dovesnap-t9", (("tcp:127.0.0.1:7553", True),
                                                        ("tcp:127.0.0.1:7554", True)))


DOCKER_OK = d.DockerSeen(version="20.10")
PLUGIN_OK = d.PluginSeen(exists=True, answers=True)
OVS_OK = d.OvsSeen(True, "3.1.0", ("netdev", "system"), True, (HEALTHY_BRIDGE,))
IPTABLES_OK = d.IptablesSeen("nf_tables", ("nf_tables",))
DIR_OK = d.DirSeen(True, True)
FAUCET_OK = d.FaucetConfigSeen(True, True)
APPLIED_OK = FaucetAppliedSeen(True, status_answers=True)


@dataclasses.dataclass
class FakeProbes:
    """A healthy host; tests break one part at a time."""

    docker_seen: d.DockerSeen = DOCKER_OK
    plugin_seen: d.PluginSeen = PLUGIN_OK
    ovs_seen: d.OvsSeen = OVS_OK
    openflow_seen: dict[int, d.OpenFlowSeen] = dataclasses.field(default_factory=lambda: {
        7553: d.OpenFlowSeen(True, d.OFPT_HELLO), 7554: d.OpenFlowSeen(True, d.OFPT_HELLO)})
    iptables_seen: d.IptablesSeen = IPTABLES_OK
    dir_seen: d.DirSeen = DIR_OK
    faucet_seen: d.FaucetConfigSeen = FAUCET_OK
    applied_seen: FaucetAppliedSeen = APPLIED_OK
    listening_seen: tuple[BoundSocket, ...] = (BoundSocket("tcp", "127.0.0.1", 7553),
                                               BoundSocket("tcp", "0.0.0.0", 22))

    def docker(self, url: str, driver: str) -> d.DockerSeen:
        return self.docker_seen

    def plugin(self, socket_path: Path) -> d.PluginSeen:
        return self.plugin_seen

    def ovs(self, db_sock: Path) -> d.OvsSeen:
        return self.ovs_seen

    def openflow(self, host: str, port: int) -> d.OpenFlowSeen:
        return self.openflow_seen.get(port, d.OpenFlowSeen(False, error="Connection refused"))

    def iptables(self) -> d.IptablesSeen:
        return self.iptables_seen

    def config_dir(self, path: Path) -> d.DirSeen:
        return self.dir_seen

    def faucet_config(self, path: Path) -> d.FaucetConfigSeen:
        return self.faucet_seen

    def faucet_applied(self, metrics_url: str, status_url: str) -> FaucetAppliedSeen:
        return self.applied_seen
    def listening(self) -> tuple[BoundSocket, ...]:
        return self.listening_seen


def failing(probes: FakeProbes, settings: d.DoctorSettings = SETTINGS) -> list[d.CheckResult]:
    return [r for r in d.run_checks(settings, probes) if not r.ok]


def test_healthy_host_passes_everything() -> None:
    results = d.run_checks(SETTINGS, FakeProbes())
    assert [r.name for r in results] == ["docker", "plugin", "ovs", "faucet", "gauge", "exposure",
                                         "bridges", "iptables", "config-dir", "faucet-config",
                                         "internal-dns", "faucet-applied"]
    assert all(r.ok and not r.warning for r in results)
    assert "all checks passed" in d.format_results(results)


FROZEN = d.OpenFlowSeen(True, None, "timed out")
BROKEN = [
    ("docker", {"docker_seen": d.DockerSeen(error="connection refused")}, "Docker does not answer"),
    ("plugin", {"plugin_seen": d.PluginSeen(exists=False)}, "no plugin socket"),
    ("plugin", {"plugin_seen": d.PluginSeen(exists=True, error="refused")}, "does not answer"),
    ("ovs", {"ovs_seen": d.OvsSeen(False, error="no socket")}, "Open vSwitch does not answer"),
    ("ovs", {"ovs_seen": d.OvsSeen(True, "3.1", ("system",), False)}, "no usable datapath"),
    ("faucet", {"openflow_seen": {7554: d.OpenFlowSeen(True, 0)}}, "FAUCET is not listening"),
    ("faucet", {"openflow_seen": {7553: FROZEN, 7554: d.OpenFlowSeen(True, 0)}},
     "does not speak OpenFlow"),
    ("gauge", {"openflow_seen": {7553: d.OpenFlowSeen(True, 0)}}, "Gauge is not listening"),
    ("iptables", {"iptables_seen": d.IptablesSeen("legacy", ("nf_tables",))},
     "Docker's rules are in nf_tables"),
    ("iptables", {"iptables_seen": d.IptablesSeen("")}, "not installed"),
    ("config-dir", {"dir_seen": d.DirSeen(False)}, "does not exist"),
    ("config-dir", {"dir_seen": d.DirSeen(True, False, "Read-only file system")}, "not writable"),
    ("faucet-config", {"faucet_seen": d.FaucetConfigSeen(True, True, "unknown ACL x")},
     "FAUCET refuses"),
    ("faucet-applied", {"applied_seen": FaucetAppliedSeen(False)}, "do not answer"),
    ("faucet-applied", {"applied_seen": FaucetAppliedSeen(True, "DP n1: alow field unknown")},
     "FAUCET refuses its config: DP n1: alow field unknown"),
    ("faucet-applied", {"applied_seen": FaucetAppliedSeen(True, dps_down=("n1",))},
     "not connected to FAUCET: n1"),
    ("faucet-applied", {"applied_seen": FaucetAppliedSeen(
        True, status_answers=True, problems=("network n1 port 3 (web): FAUCET installed no "
                                             "flows for port 3",))}, "port 3 (web): FAUCET"),
]


@pytest.mark.parametrize(("name", "broken", "says"), BROKEN)
def test_one_broken_thing_is_named_with_a_fix(name: str, broken: dict[str, object], says: str) -> None:
    probes = dataclasses.replace(FakeProbes(), **broken)  # type: ignore[arg-type]
    failed = failing(probes)
    names = [r.name for r in failed]
    assert name in names
    result = next(r for r in failed if r.name == name)
    assert says in result.detail and result.fix
    assert f"FAIL {name}" in d.format_results(d.run_checks(SETTINGS, probes))


def test_broken_ovs_also_fails_bridge_check() -> None:
    probes = FakeProbes(ovs_seen=d.OvsSeen(False))
    assert [r.name for r in failing(probes)] == ["ovs", "bridges"]


@pytest.mark.parametrize(("controllers", "problem"), [
    ((("tcp:127.0.0.1:7553", False), ("tcp:127.0.0.1:7554", True)),
     "odsbr1 is not connected to FAUCET at tcp:127.0.0.1:7553"),
    ((("tcp:127.0.0.1:7553", True), ("tcp:127.0.0.1:7554", False)),
     "odsbr1 is not connected to Gauge at tcp:127.0.0.1:7554"),
    ((("tcp:10.0.0.9:6653", False),), "odsbr1 is not connected to controller at tcp:10.0.0.9:6653"),
    ((), "odsbr1 has no controller"),
])
def test_bridge_not_connected_names_the_controller(
    controllers: tuple[tuple[str, bool], ...], problem: str
) -> None:
    bridges = (d.BridgeSeen("odsbr1", "dovesnap-t9", controllers),
               d.BridgeSeen("other", "dovesnap", (("tcp:127.0.0.1:1", False),)))  # not ours
    result = d.check_bridges(d.OvsSeen(True, bridges=bridges), SETTINGS)
    assert not result.ok and result.detail == problem


def test_external_faucet_skips_controller_ports() -> None:
    settings = dataclasses.replace(SETTINGS, embedded_faucet=False)
    probes = FakeProbes(openflow_seen={})
    assert failing(probes, settings) == []
    assert failing(probes)  # but with the embedded one, nothing listening is a failure


@pytest.mark.parametrize(("seen", "ok", "says"), [
    (d.OvsSeen(True, "3.1", ("netdev", "system"), True), True, "system (kernel module loaded), netdev"),
    (d.OvsSeen(True, "3.1", ("netdev", "system"), False), True, "no kernel module"),
    (d.OvsSeen(True, "3.1", (), True), True, "system"),
])
def test_ovs_datapaths(seen: d.OvsSeen, ok: bool, says: str) -> None:
    result = d.check_ovs(seen, Path("/x.sock"))
    assert result.ok is ok and says in result.detail


@pytest.mark.parametrize(("seen", "ok"), [
    (d.IptablesSeen("nf_tables", ()), True),  # Docker without iptables: nothing to compare
    (d.IptablesSeen("legacy", ("legacy",)), True),
    (d.IptablesSeen("nf_tables", ("legacy",)), False),
])
def test_iptables_flavours(seen: d.IptablesSeen, ok: bool) -> None:
    assert d.check_iptables(seen).ok is ok


def test_missing_faucet_config_is_fine_before_first_start() -> None:
    assert d.check_faucet_config(d.FaucetConfigSeen(False), Path("/etc/faucet/faucet.yaml")).ok


def test_doctor_command_line_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["doctor", "--plugin-socket", str(SETTINGS.plugin_socket),
                                      "--faucet-of-port", "7553", "--gauge-of-port", "7554"])
    assert isinstance(args, argparse.Namespace)
    assert d.settings_from(args) == SETTINGS
    assert d.run(args, FakeProbes()) == 0
    assert d.run(args, FakeProbes(dir_seen=d.DirSeen(False))) == 1
    assert "FAIL config-dir" in capsys.readouterr().out


def test_faucet_applied_without_dovesnap_running_says_ports_unchecked() -> None:
    result = check_faucet_applied(FaucetAppliedSeen(True), "http://127.0.0.1:9302/")
    assert result.ok and "not checked" in result.detail


def test_faucet_applied_counts_only_switches_faucet_yaml_still_names() -> None:
    # FAUCET keeps reporting a DP it ran (as down) after the DP left its config.
    seen = FaucetAppliedSeen(True, dps_down=("gone", "net1"), status_answers=True)
    url = "http://127.0.0.1:9302/"
    assert check_faucet_applied(seen, url, frozenset({"net2"})).ok
    still = check_faucet_applied(seen, url, frozenset({"net1"}))
    assert not still.ok and "net1" in still.detail and "gone" not in still.detail
    assert "gone" in check_faucet_applied(seen, url).detail  # faucet.yaml unknown: all count


def test_status_problems_name_network_and_port() -> None:
    status = {"n": {"NetworkName": "net1", "Error": "", "FaucetError": "FAUCET refused x",
                    "DynamicNetworkStates": {"Containers": {"e": {
                        "OFPort": 3, "Name": "web", "State": "not-applied",
                        "StateReason": "no flows"}, "f": {"OFPort": 4, "State": "ok"}}}}}
    assert status_problems(status) == ["network net1: FAUCET refused x",
                                       "network net1 port 3 (web): no flows"]
NAT_BRIDGE = dataclasses.replace(HEALTHY_BRIDGE, name="odsbr2", mode="nat")
OPEN_OPENFLOW = BoundSocket("tcp", "0.0.0.0", 7553)


def test_controllers_reachable_from_containers_are_warned_about(
    capsys: pytest.CaptureFixture[str]
) -> None:
    ovs = dataclasses.replace(OVS_OK, bridges=(HEALTHY_BRIDGE, NAT_BRIDGE))
    probes = FakeProbes(ovs_seen=ovs, listening_seen=(
        OPEN_OPENFLOW, BoundSocket("tcp", "::", 9303), BoundSocket("tcp", "127.0.0.1", 7554)))
    result = next(r for r in d.run_checks(SETTINGS, probes) if r.name == "exposure")
    assert result.ok and result.warning  # a warning: doctor still exits 0
    assert "FAUCET OpenFlow 0.0.0.0:7553" in result.detail and "Gauge metrics :::9303" in result.detail
    assert "odsbr2" in result.detail and "7554" not in result.detail
    assert "CONTROLLER_LISTEN" in result.fix
    args = build_parser().parse_args(["doctor", "--plugin-socket", str(SETTINGS.plugin_socket),
                                      "--faucet-of-port", "7553", "--gauge-of-port", "7554"])
    assert d.run(args, probes) == 0
    out = capsys.readouterr().out
    assert "WARN exposure" in out and "fix: unless remote switches" in out


@pytest.mark.parametrize(("bridges", "sockets", "warning", "says"), [
    ((HEALTHY_BRIDGE,), (OPEN_OPENFLOW,), False, "no dovesnap network has a gateway"),
    ((NAT_BRIDGE,), (BoundSocket("tcp", "::1", 7553),), False, "loopback only"),
    ((NAT_BRIDGE,), (BoundSocket("udp", "0.0.0.0", 7553),), False, "loopback only"),
    ((dataclasses.replace(NAT_BRIDGE, driver="dovesnap"),), (OPEN_OPENFLOW,), False, "no dovesnap"),
    ((dataclasses.replace(NAT_BRIDGE, mode="routed"),), (OPEN_OPENFLOW,), True, "nat/routed"),
])
def test_exposure_only_warns_when_a_gateway_network_can_reach_them(
    bridges: tuple[d.BridgeSeen, ...], sockets: tuple[BoundSocket, ...], warning: bool, says: str
) -> None:
    result = d.check_exposure(sockets, d.OvsSeen(True, bridges=bridges), SETTINGS)
    assert result.ok and result.warning is warning and says in result.detail


def test_doctor_reaches_controllers_where_they_listen() -> None:
    args = build_parser().parse_args(["doctor", "--controller-listen", "10.0.0.5"])
    assert d.settings_from(args).controller_host == "10.0.0.5"
    args = build_parser().parse_args(["doctor", "--controller-listen", "0.0.0.0"])
    assert d.settings_from(args).controller_host == "127.0.0.1"


@pytest.mark.parametrize(("version", "internal", "warned", "says"), [
    ("20.10.24+dfsg1", ("lab",), False, ""),  # before 25: names are forwarded for them too
    ("25.0.3", ("lab",), True, "forwards no names at all"),
    ("26.0.1", ("lab",), True, "forwards no names at all"),
    ("26.1.5+dfsg1", ("lab", "mgmt"), True, "host's loopback resolver"),
    ("28.5.2", (), False, ""),  # no --internal network of this driver
    ("29.0.0", ("lab",), True, "host's loopback resolver"),
    ("nonsense", ("lab",), False, ""),
])
def test_internal_networks_on_docker_25_and_later_are_warned_about(
    version: str, internal: tuple[str, ...], warned: bool, says: str
) -> None:
    probes = FakeProbes(docker_seen=d.DockerSeen(version=version, internal_networks=internal))
    results = d.run_checks(SETTINGS, probes)
    result = next(r for r in results if r.name == "internal-dns")
    assert result.ok and result.warning is warned  # a warning, never a failure
    assert says in result.detail
    text = d.format_results(results)
    if warned:
        assert "WARN internal-dns" in text and "ovs.bridge.mode=nat" in result.fix
        assert ", ".join(internal) in result.detail and "1 warnings: internal-dns" in text
    assert "all checks passed" in text
