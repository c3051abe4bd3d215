"""Embedded FAUCET and Gauge: their starter configs, environment and supervision."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.blocking import run_blocking
from dovesnap.config import (
    CONTROLLER_LISTEN,
    FAUCET_OF_PORT,
    FAUCET_PROM_PORT,
    GAUGE_OF_PORT,
    GAUGE_PROM_PORT,
)
from dovesnap.errors import FaucetConfigError
from dovesnap.runtime.faucet_examples import GAUGE_YAML, set_aside_examples
from dovesnap.runtime.supervisor import Supervised

GAUGE_DEFAULT_PROM_ADDR = "0.0.0.0"  # what Gauge binds when a prometheus db names no address


def starter_faucet_config() -> dict[str, Any]:
    """The faucet.yaml written when there is none: two handy ACLs, no DPs yet."""
    return {
        "acls": {
            "allowall": [{"rule": {"actions": {"allow": 1}}}],
            "denyall": [{"rule": {"actions": {"allow": 0}}}],
        },
    }


def gauge_config(
    faucet_yaml: Path, prom_port: int = GAUGE_PROM_PORT, prom_addr: str = CONTROLLER_LISTEN
) -> dict[str, Any]:
    """Gauge watches port state, port stats and flow tables of every DP into Prometheus."""
    return {
        "faucet_configs": [str(faucet_yaml)],
        "watchers": {
            "port_status_poller": {"type": "port_state", "all_dps": True, "db": "prometheus"},
            "port_stats_poller": {
                "type": "port_stats", "all_dps": True, "interval": 30, "db": "prometheus",
            },
            "flow_table_poller": {
                "type": "flow_table", "all_dps": True, "interval": 60, "db": "prometheus",
            },
        },
        "dbs": {
            "prometheus": {
                "type": "prometheus", "prometheus_addr": prom_addr, "prometheus_port": prom_port,
            },
        },
    }


def is_starter_gauge_config(config: Mapping[str, Any], faucet_yaml: Path) -> bool:
    """Is this gauge.yaml the one dovesnap writes (whatever metrics address and port it has:
    dovesnap before 14 wrote 0.0.0.0), rather than an operator's own?"""
    dbs = config.get("dbs")
    prom = dbs.get("prometheus") if isinstance(dbs, Mapping) else None
    if not isinstance(prom, Mapping):
        return False
    addr, port = prom.get("prometheus_addr"), prom.get("prometheus_port")
    if not isinstance(addr, str) or not isinstance(port, int):
        return False
    return dict(config) == gauge_config(faucet_yaml, port, addr)


def gauge_metrics_addresses(config: Mapping[str, Any]) -> list[str]:
    """The addresses an (operator's) gauge.yaml has Gauge serve metrics on."""
    dbs = config.get("dbs")
    if not isinstance(dbs, Mapping):
        return []
    return [str(db.get("prometheus_addr", GAUGE_DEFAULT_PROM_ADDR)) for db in dbs.values()
            if isinstance(db, Mapping) and db.get("type") == "prometheus"]


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


async def prepare_config(
    store: FaucetConfigStore, gauge_prom_port: int = GAUGE_PROM_PORT
) -> list[tuple[Path, Path | None]]:
    """Before FAUCET starts: set FAUCET's untouched example files aside (``NAME.example``),
    then write dovesnap's starter ``faucet.yaml`` and ``gauge.yaml`` where there are none.
    Operators' files are kept as they are. Returns what was set aside."""
    directory = store.path.parent
    try:
        moved = await run_blocking(set_aside_examples, directory)
    except OSError as err:
        raise FaucetConfigError(
            f"cannot set FAUCET's example config in {directory} aside: {err}",
            "move its faucet.yaml, acls.yaml and gauge.yaml out of the way by hand",
        ) from None
    await store.ensure_exists(starter_faucet_config())
    gauge_yaml = directory / GAUGE_YAML
    if not gauge_yaml.exists():
        gauge_store = FaucetConfigStore(gauge_yaml, lambda _path: None, lambda: None)
        await gauge_store.ensure_exists(gauge_config(store.path, gauge_prom_port))
    return moved


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    # faucet's launcher execs osken-manager from PATH: our venv's bin must come first.
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra)
    return env


def listen_args(listen: str, port: int) -> list[str]:
    """OpenFlow listen flags (faucet and gauge hand ``--ryu-*`` on to osken-manager)."""
    return [f"--ryu-ofp-listen-host={listen}", f"--ryu-ofp-tcp-listen-port={port}"]


class EmbeddedControllers:
    """FAUCET on 6653 (metrics 9302) and Gauge on 6654 (metrics 9303), on ``listen`` (loopback
    by default; Gauge's metrics address is in gauge.yaml), supervised."""

    def __init__(
        self,
        config_dir: Path,
        log_dir: Path,
        of_ports: tuple[int, int] = (FAUCET_OF_PORT, GAUGE_OF_PORT),
        faucet_prom_port: int = FAUCET_PROM_PORT,
        run_dir: Path | None = None,
        listen: str = CONTROLLER_LISTEN,
    ) -> None:
        run_dir = run_dir or log_dir
        self.config_dir = config_dir
        self.log_dir = log_dir
        bindir = Path(sys.executable).parent
        faucet_yaml = config_dir / "faucet.yaml"
        # A FAUCET or Gauge left running by an earlier dovesnap is adopted only if it listens
        # where this one would (osken-manager's own spelling of the flag), else replaced.
        listening = (f"--ofp-listen-host={listen}",)
        self.faucet = Supervised(
            "faucet",
            [str(bindir / "faucet"), *listen_args(listen, of_ports[0])],
            env=_env({
                "FAUCET_CONFIG": str(faucet_yaml),
                "FAUCET_LOG": str(log_dir / "faucet.log"),
                "FAUCET_EXCEPTION_LOG": str(log_dir / "faucet_exception.log"),
                "FAUCET_PROMETHEUS_PORT": str(faucet_prom_port),
                "FAUCET_PROMETHEUS_ADDR": listen,
                "FAUCET_CONFIG_STAT_RELOAD": "0",
            }),
            log_path=log_dir / "faucet.out",
            pidfile=run_dir / "faucet.pid",
            also_known_as=("osken-manager",),  # faucet execs osken-manager
            adopt_only_with=listening,
        )
        self.gauge = Supervised(
            "gauge",
            [str(bindir / "gauge"), *listen_args(listen, of_ports[1])],
            env=_env({
                "GAUGE_CONFIG": str(config_dir / "gauge.yaml"),
                "GAUGE_LOG": str(log_dir / "gauge.log"),
                "GAUGE_EXCEPTION_LOG": str(log_dir / "gauge_exception.log"),
                "FAUCET_CONFIG": str(faucet_yaml),
                "GAUGE_CONFIG_STAT_RELOAD": "0",
            }),
            log_path=log_dir / "gauge.out",
            pidfile=run_dir / "gauge.pid",
            also_known_as=("osken-manager",),
            adopt_only_with=listening,
        )

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.faucet.start()
        self.gauge.start()

    def reload(self) -> None:
        """SIGHUP both: FAUCET applies a new config in tens of milliseconds."""
        self.faucet.signal(signal.SIGHUP)
        self.gauge.signal(signal.SIGHUP)

    async def stop(self) -> None:
        await self.faucet.stop()
        await self.gauge.stop()
