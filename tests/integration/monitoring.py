"""A real Prometheus (Debian's package) run with docker/prometheus/, pointed at a test's ports.

docker-compose-monitoring.yml runs Prometheus from an image that cannot be pulled here; the
binary is the same program, so the scrape config and recording rules get a real check: the
targets must be up and the rules must produce series from FAUCET's, Gauge's and dovesnap's own
metrics.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.integration.rig import ROOT, run

CONFIG_DIR = ROOT / "docker" / "prometheus"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

Query = Callable[[str], list[dict[str, Any]]]


def missing_tools() -> str:
    """Empty when Prometheus is installed, else what to do about it."""
    if Path(PROMETHEUS).exists() and Path(PROMTOOL).exists():
        return ""
    return "prometheus/promtool are not installed: scripts/deps.sh --test (Debian package prometheus)"


def scrape_config(workdir: Path, targets: dict[str, int]) -> Path:
    """docker/prometheus/ copied to ``workdir`` with each job's port replaced, 1 s intervals."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    for job in config["scrape_configs"]:
        port = targets[job["job_name"]]
        job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    for rules in config["rule_files"]:
        shutil.copy2(CONFIG_DIR / rules, workdir / rules)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    checked = run([PROMTOOL, "check", "config", str(path)], check=False)
    if checked.returncode != 0:
        raise AssertionError(f"promtool check config: {checked.stdout}{checked.stderr}")
    return path


@contextlib.contextmanager
def running_prometheus(workdir: Path, targets: dict[str, int], port: int) -> Iterator[Query]:
    """Prometheus on 127.0.0.1:``port`` scraping ``targets``; yields a PromQL query function."""
    config = scrape_config(workdir / "config", targets)
    log = (workdir / "prometheus.log").open("ab")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()

    def query(expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.load(response)
        except OSError:
            return []
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    try:
        yield query
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def log_tail(workdir: Path) -> str:
    path = workdir / "prometheus.log"
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"
