"""``dovesnap serve``'s start-up pieces that need no root: the FAUCET and Gauge config files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.config import ServeSettings
from dovesnap.daemon import Daemon
from dovesnap.runtime.faucet import gauge_config


async def prepare(config_dir: Path, **settings: object) -> dict[str, object]:
    daemon = Daemon(ServeSettings(faucet_config_dir=config_dir, **settings))  # type: ignore[arg-type]
    store = FaucetConfigStore(config_dir / "faucet.yaml", lambda _path: None, lambda: None)
    await daemon._prepare_faucet(store)
    loaded: dict[str, object] = yaml.safe_load((config_dir / "gauge.yaml").read_text())
    return loaded


async def test_a_new_gauge_yaml_serves_metrics_on_loopback(tmp_path: Path) -> None:
    gauge = await prepare(tmp_path, gauge_prom_port=20483)
    assert gauge == gauge_config(tmp_path / "faucet.yaml", 20483, "127.0.0.1")


async def test_an_older_dovesnaps_gauge_yaml_is_brought_in_line(tmp_path: Path) -> None:
    older = gauge_config(tmp_path / "faucet.yaml", 9303, "0.0.0.0")
    (tmp_path / "gauge.yaml").write_text(yaml.safe_dump(older))
    assert await prepare(tmp_path) == gauge_config(tmp_path / "faucet.yaml", 9303, "127.0.0.1")
    opened = await prepare(tmp_path, controller_listen="0.0.0.0", gauge_prom_port=9313)
    assert opened == gauge_config(tmp_path / "faucet.yaml", 9313, "0.0.0.0")


async def test_an_operators_gauge_yaml_is_kept_and_an_open_address_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    theirs = gauge_config(tmp_path / "faucet.yaml", 9303, "0.0.0.0")
    theirs["watchers"]["meter_poller"] = {"type": "meter_stats", "all_dps": True, "db": "prometheus"}
    text = "# mine\n" + yaml.safe_dump(theirs)
    (tmp_path / "gauge.yaml").write_text(text)
    with caplog.at_level(logging.WARNING):
        await prepare(tmp_path)
    assert (tmp_path / "gauge.yaml").read_text() == text
    assert any("0.0.0.0" in r.getMessage() and "prometheus_addr" in r.getMessage()
               for r in caplog.records)
