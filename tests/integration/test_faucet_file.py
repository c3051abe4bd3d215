"""The operator's faucet.yaml stays theirs, with a real dovesnap, FAUCET and packets: a config
kept elsewhere and symlinked into the config dir stays a link (its mode, comments and quotes
kept), and an operator's edit that lands while dovesnap is writing survives and is used."""

from __future__ import annotations

import os
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration import rig
from tests.integration.rig import (
    DOCKER,
    Daemon,
    Docker,
    instance_for,
    own_daemon,
    run,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

INSTANCE = instance_for(__name__)

OPERATOR_YAML = """\
# the operator's faucet.yaml, kept in a config repository and linked into the config dir
acls:
    allowall:
        - rule:
              actions:
                  allow: 1
    denyall:
        - rule:
              actions:
                  allow: 0
    gateway-mac:   # only the lab gateway may speak
        - rule:
              eth_src: "0e:00:00:00:10:01"
              actions:
                  allow: 1
"""


@dataclass
class Linked:
    daemon: Daemon
    link: Path
    target: Path


@pytest.fixture(scope="module")
def linked(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linked]:
    work = tmp_path_factory.mktemp("faucetfile")
    repo = work / "repo"
    repo.mkdir()
    target = repo / "faucet.yaml"
    target.write_text(OPERATOR_YAML)
    os.chmod(target, 0o640)
    link = work / "dovesnap" / "faucet" / "faucet.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    with own_daemon(work / "dovesnap", INSTANCE) as daemon:
        yield Linked(daemon, link, target)


@pytest.fixture
def docker(linked: Linked) -> Iterator[Docker]:
    objects = Docker(driver=INSTANCE.driver)
    try:
        yield objects
    finally:
        objects.cleanup()


def network(docker: Docker, dpid: int, third_octet: int) -> str:
    """An internal dovesnap network on this run's own addresses (10.<run*10+7>.N.0/24)."""
    name = unique("ff")
    run([DOCKER, "network", "create", "-d", INSTANCE.driver, "--internal",
         "--subnet", f"10.{rig.INSTANCE * 10 + 7}.{third_octet}.0/24", "-o", f"ovs.bridge.dpid={dpid:#x}",
         name])
    docker.networks.append(name)
    return name


def interface_of(linked: Linked, net: str, container: str) -> dict[str, object] | None:
    dp = linked.daemon.dp(net) or {}
    for iface in (dp.get("interfaces") or {}).values():
        if str(iface.get("description", "")).startswith(container + " "):
            found: dict[str, object] = iface
            return found
    return None


def metric(linked: Linked, name: str) -> float:
    url = f"http://127.0.0.1:{INSTANCE.status_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_a_symlinked_config_is_written_through_and_stays_the_operators(
    linked: Linked, docker: Docker
) -> None:
    net = network(docker, 0x7E5701, 1)
    a, b = docker.run_container(net), docker.run_container(net)
    for name in (a, b):
        wait_until(lambda n=name: interface_of(linked, net, n), 30, 0.1, f"{name}'s interface")
    # FAUCET read the DP through the link: the containers' traffic passes its flows.
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "ping through FAUCET")
    assert linked.link.is_symlink() and os.readlink(linked.link) == str(linked.target)
    text = linked.target.read_text()
    assert text.startswith(OPERATOR_YAML)  # comments, quotes and indentation as written
    assert yaml.safe_load(text)["acls"]["gateway-mac"][0]["rule"]["eth_src"] == "0e:00:00:00:10:01"
    assert stat.S_IMODE(linked.target.stat().st_mode) == 0o640
    backup = linked.link.with_name("faucet.yaml.dovesnap-bak")
    assert backup.read_text() == OPERATOR_YAML
    assert sorted(p.name for p in linked.target.parent.iterdir()) == ["faucet.yaml"]
    assert not [p for p in linked.link.parent.iterdir() if p.name.startswith(".dovesnap-")]


def _edit_when_dovesnap_writes(target: Path, done: threading.Event, edited: list[str]) -> None:
    """Wait until dovesnap has a candidate beside the target (its write has begun: it read the
    file and is validating), then replace the file as an editor does (new file, rename)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not done.is_set():
        if any(p.name.startswith(".dovesnap-") for p in target.parent.iterdir()):
            text = target.read_text().replace(
                "acls:\n", "acls:\n    operator-added: [{rule: {actions: {allow: 1}}}]\n", 1)
            scratch = target.with_name("faucet.yaml.editing")
            scratch.write_text(text)
            os.chmod(scratch, 0o640)
            os.replace(scratch, target)
            edited.append(text)
            return
        time.sleep(0.001)


def test_an_operator_edit_made_while_dovesnap_writes_is_kept_and_used(
    linked: Linked, docker: Docker
) -> None:
    net = network(docker, 0x7E5702, 2)
    first = docker.run_container(net)
    wait_until(lambda: interface_of(linked, net, first), 30, 0.1, "first interface")
    time.sleep(1)  # quiet: no dovesnap write in flight
    concurrent_before = metric(linked, "dovesnap_faucet_concurrent_edits_total")
    done, edited = threading.Event(), []
    operator = threading.Thread(target=_edit_when_dovesnap_writes,
                                args=(linked.target, done, edited))
    operator.start()
    try:
        second = docker.run_container(net)  # dovesnap writes the new port's interface
        wait_until(lambda: interface_of(linked, net, second), 30, 0.1, "second interface")
    finally:
        done.set()
        operator.join()
    assert edited, "dovesnap never wrote a candidate beside the config"
    config = yaml.safe_load(linked.target.read_text())
    assert "operator-added" in config["acls"]  # the operator's edit survived dovesnap's write
    assert interface_of(linked, net, second) is not None  # and so did dovesnap's change
    assert metric(linked, "dovesnap_faucet_concurrent_edits_total") > concurrent_before
    assert linked.link.is_symlink()
    # FAUCET uses the merged file: a container labelled with the operator's new ACL gets it
    # and talks to the others.
    third = docker.run_container(net, "--label", "dovesnap.faucet.portacl=operator-added")
    iface = wait_until(lambda: interface_of(linked, net, third), 30, 0.1, "third interface")
    assert iface["acls_in"] == ["operator-added"]
    assert wait_until(lambda: docker.ping(third, docker.ip(first)), 30, 0.2, "ping with its ACL")
