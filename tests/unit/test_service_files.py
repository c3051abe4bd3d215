"""The service files agree with the daemon: every setting documented, defaults that match, units,
compose files and dashboards that refer to things that exist."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from dovesnap.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
ENV_TEMPLATE = ROOT / "packaging" / "service.env"
UNIT_TEMPLATE = ROOT / "packaging" / "dovesnap.service.in"
ENV_IN_HELP = re.compile(r"\(env ([A-Z0-9_]+)\)")
# Not `dovesnap serve` flags, but settings the service files themselves read.
SERVICE_ONLY = {"DOVESNAP_ARGS"}


def serve_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices["serve"]
            return found
    raise AssertionError("no serve subcommand")


def serve_env_vars() -> dict[str, str]:
    """Environment variable -> argparse dest, from the help texts of `dovesnap serve`."""
    found: dict[str, str] = {}
    for action in serve_parser()._actions:
        match = ENV_IN_HELP.search(action.help or "")
        if match:
            found[match.group(1)] = action.dest
    return found


def documented_settings() -> dict[str, str]:
    """KEY -> default value, from the commented-out ``#KEY=value`` lines of service.env."""
    settings: dict[str, str] = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        match = re.fullmatch(r"#([A-Z][A-Z0-9_]*)=(\S*)", line)
        if match:
            settings[match.group(1)] = match.group(2)
    return settings


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).extend(value.split() if value.strip() else [""])
    return sections


def test_the_env_file_documents_every_serve_setting_and_nothing_else() -> None:
    daemon = set(serve_env_vars())
    assert {"MIRROR_BRIDGE_OUT", "STACKING_INTERFACES", "STATUS_AUTH_IPS",
            "FAUCET_CONFIG_DIR", "DOVESNAP_PLUGIN_SOCKET"} <= daemon
    documented = set(documented_settings())
    assert daemon - documented == set(), "settings missing from packaging/service.env"
    assert documented - daemon - SERVICE_ONLY == set(), "service.env names unknown settings"


def test_the_env_file_shows_the_daemons_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    env_to_dest = serve_env_vars()
    for name in env_to_dest:
        monkeypatch.delenv(name, raising=False)
    parser = serve_parser()
    defaults = vars(parser.parse_args([]))
    for name, shown in documented_settings().items():
        if name in SERVICE_ONLY:
            continue
        actual = defaults[env_to_dest[name]]
        if isinstance(actual, bool):
            assert shown == ("1" if actual else "0"), name
        else:
            assert shown == str(actual), name


def test_the_env_file_is_valid_for_systemd_and_for_sh() -> None:
    for line in ENV_TEMPLATE.read_text().splitlines():
        # EnvironmentFile= lines are KEY=VALUE or comments; sh would choke on spaces around "=".
        assert line == "" or line.startswith("#") or re.fullmatch(r"[A-Z_]+=\S*", line), line


def test_the_unit_starts_before_docker_and_is_pulled_in_by_it() -> None:
    unit = unit_sections(UNIT_TEMPLATE.read_text())
    assert "docker.service" in unit["Unit"]["Before"]
    assert "docker.service" in unit["Unit"]["Wants"]
    assert "docker.service" not in unit["Unit"].get("After", [])
    assert "docker.service" not in unit["Unit"].get("Requires", [])
    assert set(unit["Install"]["WantedBy"]) == {"docker.service", "multi-user.target"}
    service = unit["Service"]
    assert service["Restart"] == ["always"]
    assert service["ExecStart"][:2] == ["@PREFIX@/bin/dovesnap", "serve"]
    assert service["ExecStartPost"][:3] == ["@PREFIX@/bin/python", "-m", "dovesnap.tools.service_ready"]
    assert service["EnvironmentFile"] == ["-@SYSCONFDIR@/service.env"]
    assert unit["Unit"]["StartLimitIntervalSec"] == ["0"]


def compose(name: str) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def test_compose_passes_only_real_settings_and_runs_like_the_go_plugin() -> None:
    plugin = compose("docker-compose.yml")["services"]["plugin"]  # type: ignore[index]
    assert plugin["network_mode"] == "host" and plugin["pid"] == "host"
    assert {"NET_ADMIN", "SYS_ADMIN"} <= set(plugin["cap_add"])
    mounts = {v.rsplit(":", 1)[1] for v in plugin["volumes"]}
    assert {"/run/docker/plugins", "/var/run/docker.sock", "/var/run/openvswitch",
            "/etc/faucet"} <= mounts
    assert set(plugin["environment"]) <= set(serve_env_vars())
    assert plugin["environment"]["EXTERNAL_FAUCET"] == "${EXTERNAL_FAUCET:-1}"
    standalone = compose("docker-compose-standalone.yml")["services"]  # type: ignore[index]
    assert standalone["plugin"]["environment"] == {"EXTERNAL_FAUCET": "0"}


def test_grafana_panels_use_recorded_series_and_the_provisioned_datasource() -> None:
    rules = yaml.safe_load((ROOT / "docker/prometheus/faucet.rules.yml").read_text())
    recorded = {rule["record"] for group in rules["groups"] for rule in group["rules"]}
    for name in recorded:
        assert re.fullmatch(r"[a-z_]+:[a-z_0-9]+:[a-z_0-9]+", name), name
    datasource = yaml.safe_load(
        (ROOT / "docker/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads((ROOT / "docker/grafana/dashboards/dovesnap.json").read_text())
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid
        exprs += [target["expr"] for target in panel["targets"]]
    used = {re.match(r"[a-z_:0-9]+", expr).group(0) for expr in exprs}  # type: ignore[union-attr]
    assert used - {"dp_status"} <= recorded, "dashboard uses series no rule records"
    scraped = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scraped["scrape_configs"]}
    assert set(jobs) == {"faucet", "gauge", "dovesnap"}
    assert jobs["dovesnap"]["metrics_path"] == "/metrics"
    assert scraped["rule_files"] == ["faucet.rules.yml"]


SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


def test_every_script_sources_lib_sh_for_what_they_share() -> None:
    assert {"install.sh", "uninstall.sh", "up.sh", "down.sh", "lib.sh"} <= {p.name for p in SCRIPTS}
    assert not (ROOT / "install.sh").exists() and not (ROOT / "uninstall.sh").exists()
    shared = re.compile(r"^(say|die|python_ok|systemd_is_init|is_dovesnap\w*|"
                        r"dovesnap_pid|make_up_pid)\(\)", re.MULTILINE)
    for path in SCRIPTS:
        text = path.read_text()
        subprocess.run(["bash", "-n", str(path)], check=True)
        if path.name == "lib.sh":
            continue
        assert '. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"' in text, path.name
        assert shared.findall(text) == [], path.name
        # The Plugin.Activate probe is dovesnap.tools.service_ready's, not curl's.
        assert "/Plugin.Activate" not in text and "--unix-socket" not in text, path.name
