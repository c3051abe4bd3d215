"""FAUCET's own failures are seen and said, and healed without restarting anything.

- One ACL as both a port's ``acls_in`` and the VLAN's ``acl_out`` used to crash FAUCET 1.10 on
  every port add (no flows for any network): now it forwards.
- An operator's typo elsewhere in faucet.yaml is reported (not blamed on the containers joining
  meanwhile), and fixing the file heals every port, with no restart.
- FAUCET itself refusing its config (here: it restarts while the file is broken) shows in the
  status JSON, ``dovesnap doctor``, the events and the metrics, with FAUCET's reason.

This module runs its own dovesnap, because it breaks and mends that dovesnap's faucet.yaml.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reachability import own_subnet
from tests.integration.rig import (
    VENV_BIN,
    Daemon,
    Docker,
    instance_for,
    own_daemon,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

INSTANCE = instance_for(__name__)
TYPO = "acls:\n  typo:\n  - rule:\n      actions:\n        alow: 1\n"
ALLOW = {"dovesnap.faucet.portacl": "allowall"}


@pytest.fixture(scope="module")
def daemon(dovesnap: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with own_daemon(Path(tmp_path_factory.mktemp("faucet-health")), INSTANCE) as own:
        yield own


@pytest.fixture
def docker(daemon: Daemon) -> Iterator[Docker]:
    objects = Docker(driver=INSTANCE.driver)
    good = daemon.faucet_yaml.read_text()
    try:
        yield objects
    finally:
        if "alow" in daemon.faucet_yaml.read_text():  # a failed test leaves it broken
            daemon.faucet_yaml.write_text(good)
        objects.cleanup()


def _net(daemon: Daemon, name: str) -> dict[str, Any]:
    for net in daemon.status().values():
        if net["NetworkName"] == name:
            return dict(net)
    raise AssertionError(f"network {name} not in status")


def _ports(daemon: Daemon, name: str) -> dict[str, dict[str, Any]]:
    containers = _net(daemon, name)["DynamicNetworkStates"]["Containers"]
    return {c["Name"]: c for c in containers.values() if c["Name"]}


def _all_ok(daemon: Daemon, name: str, count: int) -> bool:
    ports = _ports(daemon, name)
    return len(ports) == count and all(p["State"] == "ok" for p in ports.values())


def _doctor(daemon: Daemon) -> str:
    inst = daemon.instance
    result = run([str(VENV_BIN / "dovesnap"), "doctor", "--plugin-socket", str(inst.socket),
                  "--faucet-config-dir", str(daemon.config_dir),
                  "--faucet-of-port", str(inst.faucet_of_port),
                  "--gauge-of-port", str(inst.gauge_of_port),
                  "--faucet-prom-port", str(inst.faucet_prom_port),
                  "--status-port", str(inst.status_port)], check=False, timeout=120)
    return next((line for line in result.stdout.splitlines() if "faucet-applied" in line), "")


def _metric(daemon: Daemon, name: str, network: str) -> float:
    url = f"http://127.0.0.1:{daemon.instance.status_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and f'network="{network}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return -1.0


def _events(daemon: Daemon, kind: str) -> list[dict[str, Any]]:
    found = []
    for line in daemon.log_file.read_text(errors="replace").splitlines():
        if "dovesnap.events" in line and f'"event": "{kind}"' in line:
            found.append(json.loads(line[line.index("{"):]))
    return found


def _faucet_errors(daemon: Daemon) -> int:
    log = daemon.workdir / "logs" / "faucet_exception.log"
    return log.read_text(errors="replace").count("Error:") if log.exists() else 0


def test_one_acl_as_port_acl_and_egress_acl_forwards(daemon: Daemon, docker: Docker) -> None:
    errors_before = _faucet_errors(daemon)
    net = docker.network("ovs.bridge.dpid=0x7e4a01", "ovs.bridge.mode=nat",
                         "ovs.bridge.vlan=401", "ovs.bridge.vlan_out_acl=allowall",
                         "ovs.bridge.default_acl=allowall", "ovs.bridge.nat_acl=allowall",
                         subnet=own_subnet(31)).args
    a, b = docker.run_container(net), docker.run_container(net)
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "a reaches b")
    gateway = _net(daemon, net)["Gateway"]
    assert wait_until(lambda: docker.ping(b, gateway), 20, 0.2, "b reaches the gateway")
    wait_until(lambda: _all_ok(daemon, net, 2), 20, 0.2, "both ports ok")
    config = daemon.faucet_config()
    vlan = next(v for v in config["vlans"].values() if v.get("vid") == 401)
    assert vlan["acl_out"] == "dovesnap-egress-allowall"
    assert config["acls"]["dovesnap-egress-allowall"] == config["acls"]["allowall"]
    assert _faucet_errors(daemon) == errors_before, "FAUCET logged an error"
    # The operator changes the original: the copy follows (the file watch re-syncs).
    text = daemon.faucet_yaml.read_text()
    marker = "  allowall:\n"
    assert marker in text
    extra = "  - rule:\n      dl_type: 0x806\n      actions:\n        allow: 1\n"
    daemon.faucet_yaml.write_text(text.replace(marker, marker + extra, 1))
    wait_until(lambda: daemon.faucet_config()["acls"]["dovesnap-egress-allowall"]
               == daemon.faucet_config()["acls"]["allowall"], 15, 0.2, "copy follows the edit")
    assert len(daemon.faucet_config()["acls"]["allowall"]) == 2
    daemon.faucet_yaml.write_text(daemon.faucet_yaml.read_text().replace(extra, "", 1))
    docker.cleanup()
    assert "dovesnap-egress-allowall" not in daemon.faucet_config()["acls"]


def test_operator_typo_is_reported_and_the_fixed_file_heals_without_restart(
    daemon: Daemon, docker: Docker
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e4a02", subnet=own_subnet(32)).args
    a = docker.run_container(net, "--label", "dovesnap.faucet.portacl=allowall")
    wait_until(lambda: _all_ok(daemon, net, 1), 20, 0.2, "a ok")
    assert daemon.proc is not None
    dovesnap_pid, faucet_pid = daemon.proc.pid, _pid(daemon, "faucet")
    good = daemon.faucet_yaml.read_text()
    daemon.faucet_yaml.write_text(good.replace("acls:\n", TYPO, 1))  # far from dovesnap's DP
    b = docker.run_container(net, "--label", "dovesnap.faucet.portacl=allowall")
    c = docker.run_container(net)
    wait_until(lambda: "alow" in _net(daemon, net)["Error"], 20, 0.2, "typo reported")
    ports = _ports(daemon, net)
    assert ports[b]["FailClosed"] == "" and ports[c]["FailClosed"] == ""  # not their fault
    assert ports[b]["State"] != "ok" and ports[c]["State"] != "ok"
    assert ports[a]["State"] == "ok"  # its flows are still in the switch
    assert not docker.ping(b, docker.ip(a))
    doctor = _doctor(daemon)
    assert doctor.startswith("FAIL") and "alow" in doctor, doctor
    assert _metric(daemon, "dovesnap_faucet_errors", net) == 1
    daemon.faucet_yaml.write_text(good)  # fixed; nothing restarted
    wait_until(lambda: _all_ok(daemon, net, 3), 30, 0.2, "every port ok after the fix")
    assert _net(daemon, net)["Error"] == ""
    wait_until(lambda: docker.ping(b, docker.ip(a)) and docker.ping(c, docker.ip(a)), 10, 0.2,
               "b and c reach a")
    assert (daemon.proc.pid, _pid(daemon, "faucet")) == (dovesnap_pid, faucet_pid)


def test_faucet_refusing_its_config_is_reported_with_its_reason(
    daemon: Daemon, docker: Docker
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e4a03", subnet=own_subnet(33)).args
    a, b = docker.run_container(net), docker.run_container(net)
    wait_until(lambda: _all_ok(daemon, net, 2), 20, 0.2, "ports ok")
    good = daemon.faucet_yaml.read_text()
    daemon.faucet_yaml.write_text(good.replace("acls:\n", TYPO, 1))
    os.kill(_pid(daemon, "faucet"), signal.SIGKILL)  # it comes back, reading the broken file
    wait_until(lambda: "FAUCET refused the config" in _net(daemon, net)["FaucetError"], 60, 0.5,
               "FAUCET's refusal in the status")
    reason = _net(daemon, net)["FaucetError"]
    assert "alow" in reason, reason  # FAUCET's own words
    doctor = _doctor(daemon)
    assert doctor.startswith("FAIL") and "FAUCET refuses its config" in doctor, doctor
    assert any("alow" in e.get("reason", "") for e in _events(daemon, "faucet_error"))
    assert _metric(daemon, "dovesnap_faucet_errors", net) == 1
    daemon.faucet_yaml.write_text(good)
    wait_until(lambda: _net(daemon, net)["FaucetError"] == "", 40, 0.5, "FAUCET runs it again")
    wait_until(lambda: _all_ok(daemon, net, 2), 20, 0.2, "ports ok")
    wait_until(lambda: docker.ping(a, docker.ip(b)), 10, 0.2, "a reaches b")
    assert _events(daemon, "faucet_recovered")
    doctor = _doctor(daemon)
    assert doctor.startswith("ok"), doctor


def _pid(daemon: Daemon, name: str) -> int:
    return int((daemon.workdir / "state" / f"{name}.pid").read_text().split()[0])
