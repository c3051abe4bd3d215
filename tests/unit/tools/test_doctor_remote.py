"""``dovesnap doctor`` with FAUCET elsewhere: faucetconfrpc, remote controllers, stat reload."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dovesnap.cli import build_parser
from dovesnap.config import FaucetConfRpcSettings
from dovesnap.tools import doctor as d
from dovesnap.tools import doctor_remote as remote
from tests.unit.tools.test_doctor import FakeProbes

RPC = FaucetConfRpcSettings("10.90.0.1", 59999, Path("/keys"))
REMOTE = d.DoctorSettings(plugin_socket=Path("/run/docker/plugins/dovesnap-t9.sock"),
                          embedded_faucet=False, faucetconfrpc=RPC,
                          default_ofcontrollers=("tcp:10.90.0.1:6653", "tcp:10.90.0.1:6654"))
BRIDGE = d.BridgeSeen("odsbr1", "dovesnap-t9", (("tcp:10.90.0.1:6653", True),
                                                ("tcp:10.90.0.1:6654", True)))


CONFIG_OK = remote.RemoteConfigSeen(True, frozenset({"net1"}))
METRICS_OK = remote.FaucetMetricsSeen(True, frozenset({"net1"}))


@dataclasses.dataclass
class RemoteProbes(FakeProbes):
    config_seen: remote.RemoteConfigSeen = CONFIG_OK
    metrics_seen: remote.FaucetMetricsSeen = METRICS_OK
    asked: list[str] = dataclasses.field(default_factory=list)

    def faucetconfrpc(self, rpc: FaucetConfRpcSettings) -> remote.RemoteConfigSeen:
        return self.config_seen

    def faucet_metrics(self, url: str) -> remote.FaucetMetricsSeen:
        self.asked.append(url)
        return self.metrics_seen


def probes(**changes: object) -> RemoteProbes:
    found = RemoteProbes(ovs_seen=dataclasses.replace(FakeProbes().ovs_seen, bridges=(BRIDGE,)),
                         openflow_seen={6653: d.OpenFlowSeen(True, d.OFPT_HELLO),
                                        6654: d.OpenFlowSeen(True, d.OFPT_HELLO)})
    return dataclasses.replace(found, **changes)


def names(results: list[d.CheckResult]) -> dict[str, bool]:
    return {r.name: r.ok for r in results}


def test_a_healthy_remote_faucet_passes() -> None:
    seen = probes()
    results = d.run_checks(REMOTE, seen)
    assert all(r.ok for r in results), d.format_results(results)
    assert {"faucet", "gauge", "faucetconfrpc", "faucet-reload", "bridges"} <= set(names(results))
    assert "config-dir" not in names(results) and "faucet-config" not in names(results)
    assert seen.asked == ["http://10.90.0.1:9302/"]


def test_a_faucet_that_did_not_reload_is_told_to_stat_reload() -> None:
    stale = remote.FaucetMetricsSeen(True, frozenset())
    failed = [r for r in d.run_checks(REMOTE, probes(metrics_seen=stale)) if not r.ok]
    assert [r.name for r in failed] == ["faucet-reload"]
    assert "net1" in failed[0].detail and "FAUCET_CONFIG_STAT_RELOAD=1" in failed[0].fix


def test_a_silent_faucetconfrpc_is_named_with_the_key_files() -> None:
    down = remote.RemoteConfigSeen(False, error="UNAVAILABLE Socket closed")
    failed = [r for r in d.run_checks(REMOTE, probes(config_seen=down)) if not r.ok]
    assert [r.name for r in failed] == ["faucetconfrpc"]
    assert "10.90.0.1:59999" in failed[0].detail and "Socket closed" in failed[0].detail
    assert "faucetconfrpc.crt" in failed[0].fix and "10.90.0.1-ca.crt" in failed[0].fix


def test_a_served_config_faucet_refuses_fails() -> None:
    bad = remote.RemoteConfigSeen(True, frozenset({"net1"}), error="missing ACL x")
    failed = [r for r in d.run_checks(REMOTE, probes(config_seen=bad)) if not r.ok]
    assert failed[0].name == "faucetconfrpc" and "missing ACL x" in failed[0].detail


def test_remote_controllers_that_do_not_answer_fail() -> None:
    failed = [r for r in d.run_checks(REMOTE, probes(openflow_seen={})) if not r.ok]
    assert {r.name for r in failed} == {"faucet", "gauge"}
    assert "10.90.0.1:6653" in failed[0].detail
    assert "--default-ofcontrollers" in failed[0].fix and "embedded" not in failed[0].fix


def test_controller_targets_are_distinct_with_roles() -> None:
    found = remote.controller_targets(
        ["tcp:10.0.0.1:6653", "tcp:10.0.0.1:6654", "tcp:10.0.0.1:6653", "tcp:[fd42:9::1]:7000",
         "unix:/x"])
    assert found == [("FAUCET", "10.0.0.1", 6653), ("Gauge", "10.0.0.1", 6654),
                     ("controller", "fd42:9::1", 7000)]


def test_doctor_reads_the_faucetconfrpc_flags() -> None:
    args = build_parser().parse_args(
        ["doctor", "--faucetconfrpc_addr", "10.90.0.1", "--default-ofcontrollers",
         "tcp:10.90.0.1:6653", "--faucet-prom-port", "9999"])
    settings = d.settings_from(args)
    assert settings.faucetconfrpc is not None and settings.faucetconfrpc.addr == "10.90.0.1"
    assert not settings.embedded_faucet and settings.faucet_prom_port == 9999
    assert settings.default_ofcontrollers == ("tcp:10.90.0.1:6653",)
