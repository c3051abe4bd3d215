"""The embedded FAUCET and Gauge: where they listen, and which gauge.yaml is dovesnap's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.runtime.faucet import (
    EmbeddedControllers,
    gauge_config,
    gauge_metrics_addresses,
    is_loopback,
    is_starter_gauge_config,
)

FAUCET_YAML = Path("/etc/faucet/faucet.yaml")


def test_both_controllers_listen_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    default = EmbeddedControllers(tmp_path, tmp_path, (7001, 7002), 7003)
    assert "--ryu-ofp-listen-host=127.0.0.1" in default.faucet.argv
    assert "--ryu-ofp-listen-host=127.0.0.1" in default.gauge.argv
    assert "--ryu-ofp-tcp-listen-port=7002" in default.gauge.argv
    assert default.faucet.env is not None and default.faucet.env["FAUCET_PROMETHEUS_ADDR"] == "127.0.0.1"
    opened = EmbeddedControllers(tmp_path, tmp_path, listen="0.0.0.0")
    assert "--ryu-ofp-listen-host=0.0.0.0" in opened.faucet.argv
    assert opened.faucet.env is not None and opened.faucet.env["FAUCET_PROMETHEUS_ADDR"] == "0.0.0.0"
    assert gauge_config(FAUCET_YAML)["dbs"]["prometheus"]["prometheus_addr"] == "127.0.0.1"


def test_dovesnaps_starter_gauge_yaml_is_recognised_in_every_version() -> None:
    older = gauge_config(FAUCET_YAML, 9303, "0.0.0.0")  # what dovesnap wrote before
    assert is_starter_gauge_config(older, FAUCET_YAML)
    assert is_starter_gauge_config(gauge_config(FAUCET_YAML, 20483), FAUCET_YAML)
    operators = gauge_config(FAUCET_YAML, 9303, "0.0.0.0")
    operators["watchers"]["meter_poller"] = {"type": "meter_stats", "all_dps": True,
                                             "db": "prometheus"}
    assert not is_starter_gauge_config(operators, FAUCET_YAML)
    assert not is_starter_gauge_config(gauge_config(Path("/other/faucet.yaml")), FAUCET_YAML)
    assert not is_starter_gauge_config({"dbs": {"prometheus": "x"}}, FAUCET_YAML)
    assert gauge_metrics_addresses(operators) == ["0.0.0.0"]
    # a prometheus db without an address: Gauge binds every address
    assert gauge_metrics_addresses({"dbs": {"p": {"type": "prometheus"}, "f": {"type": "text"}}}
                                   ) == ["0.0.0.0"]


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("not an address", False),
])
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback
