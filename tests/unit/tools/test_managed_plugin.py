"""The managed plugin's config.json: what Docker needs, and every setting a real one."""

from __future__ import annotations

import argparse
import json

import pytest

from dovesnap import config
from dovesnap.cli import serve_settings
from dovesnap.tools import managed_plugin as mp


def _env(cfg: dict[str, object]) -> dict[str, dict[str, object]]:
    return {e["name"]: e for e in cfg["env"]}  # type: ignore[attr-defined, index]


def test_a_network_driver_with_the_host_network_pid_and_capabilities() -> None:
    cfg = mp.plugin_config("dovesnap-plugin:latest", "dovesnap")
    assert cfg["interface"] == {"types": ["docker.networkdriver/1.0"], "socket": "dovesnap.sock"}
    assert cfg["network"] == {"type": "host"} and cfg["pidhost"] is True
    assert set(cfg["linux"]["capabilities"]) >= {"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}  # type: ignore[index]
    assert cfg["entrypoint"] == ["/usr/local/bin/dovesnap-entrypoint", "serve"]
    mounts = {m["name"]: m for m in cfg["mounts"]}  # type: ignore[attr-defined]
    assert mounts["host-plugins"]["source"] == "/run/docker/plugins"
    assert mounts["netns"]["options"] == ["rbind", "rw", "rslave"]
    assert all(m["settable"] == ["source"] for m in mounts.values())
    flat = mp.plugin_config(netns_propagation="")
    assert {m["name"]: m for m in flat["mounts"]}["netns"]["options"] == ["rbind", "rw"]


def test_the_environment_is_the_serve_settings_with_the_plugin_layout_fixed() -> None:
    env = _env(mp.plugin_config("lab/dovesnap:2", "dsalias"))
    serve = {config.FLAGS[n].env for n in config.SERVE_FLAGS if config.FLAGS[n].env}
    assert serve <= set(env) and set(env) - serve == {"PATH", "LANG"}
    assert env["DOVESNAP_PLUGIN_SOCKET"]["value"] == "/run/docker/host-plugins/dsalias.sock"
    assert env["DOVESNAP_MANAGED_SOCKET"]["value"] == "/run/docker/plugins/dovesnap.sock"
    assert env["DOVESNAP_DRIVER_ALIASES"]["value"] == "lab/dovesnap:2"
    assert env["DOVESNAP_PLUGIN_SOCKET"]["settable"] == [] and env["PATH"]["settable"] == []
    assert env["STATUS_PORT"] == {"name": "STATUS_PORT", "description": config.FLAGS[
        "status-port"].help, "settable": ["value"], "value": "9401"}
    assert env["EXTERNAL_FAUCET"]["value"] == ""  # off: FAUCET runs inside the plugin
    # What dovesnap serve makes of that environment: one driver, two sockets, the plugin's name.
    parser = argparse.ArgumentParser()
    values = {name: str(e["value"]) for name, e in env.items()}
    config.add_flags(parser, config.SERVE_FLAGS, values)
    settings = serve_settings(parser.parse_args([]))
    assert settings.driver_name == "dsalias" and settings.driver_aliases == ("lab/dovesnap:2",)
    assert [str(p) for p in settings.plugin_sockets] == [
        "/run/docker/host-plugins/dsalias.sock", "/run/docker/plugins/dovesnap.sock"]


@pytest.mark.parametrize(("name", "ref"), [("dovesnap-plugin", "dovesnap-plugin:latest"),
                                           ("reg:5000/lab/ds", "reg:5000/lab/ds:latest"),
                                           ("lab/ds:1.2", "lab/ds:1.2")])
def test_command_line_prints_the_json(capsys: pytest.CaptureFixture[str], name: str,
                                      ref: str) -> None:
    assert mp.main(["--name", name]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert _env(cfg)["DOVESNAP_DRIVER_ALIASES"]["value"] == ref
