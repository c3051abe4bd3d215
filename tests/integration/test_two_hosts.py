"""Two hosts, one FAUCET: host B's dovesnap edits FAUCET's config only through faucetconfrpc.

Host A is this host; host B comes from ``two_hosts`` (own netns, mounts, dockerd, OVS). On A run
the operator's FAUCET and Gauge (``FAUCET_CONFIG_STAT_RELOAD=1``), the real faucetconfrpc server
(mutual TLS, certificates made here) and a root switch ``tworoot`` (an OVS bridge). Both hosts'
dovesnaps reach FAUCET's config through faucetconfrpc and stack their ``dovesnap<engine>`` bridge
to ``tworoot`` (port 7 from A, port 8 from B, over a veth into B). A container on A and one on B,
on the same VLAN, talk across the stack. The fabric itself is built by ``two_hosts_fabric.py``.
The tests run in order and share the fabric (networks made by the second test).
"""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovesnap.plan.daemon_bridges import short_engine_id
from tests.certs import make_pki
from tests.integration.fabric_helpers import capture, engine_id, stack_states
from tests.integration.rig import DOCKER, TEST_PREFIX, VENV_BIN, plugin_answers, run, unique, wait_until
from tests.integration.two_hosts import A_IP, MGMT_NET
from tests.integration.two_hosts_fabric import (
    CONTROLLERS_B,
    MIRROR_CAPTURE,
    ROOT_CAPTURE,
    ROOT_DP,
    RPC_PORT,
    SAMPLES,
    SUBNET,
    A,
    Fabric,
    a_args,
    b_args,
    fabric_on,
    rpc_args,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fabric(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    if plugin_answers(A.socket):
        pytest.fail(f"a dovesnap already serves {A.socket}")
    with fabric_on(Path(tmp_path_factory.mktemp("twohosts"))) as fab:
        yield fab


def test_host_b_edits_faucet_only_through_faucetconfrpc(fabric: Fabric) -> None:
    engine_b = fabric.b.engine_id()
    dps = wait_until(lambda: {n for n in (fabric.faucet_config().get("dps") or {})
                              if n.startswith("dovesnap")} if len(
        [n for n in (fabric.faucet_config().get("dps") or {}) if n.startswith("dovesnap")]) >= 2
        else None, 60, 0.5, "both stacking DPs in FAUCET's config")
    assert len(dps) == 2
    root = fabric.faucet_config()["dps"][ROOT_DP]["interfaces"]
    assert root[7]["stack"]["dp"] in dps and root[8]["stack"]["dp"] in dps
    assert root[7]["stack"]["dp"] != root[8]["stack"]["dp"]
    assert root[88] == {"output_only": True}  # the operator's own port, untouched
    assert not (fabric.b.directory / "faucet" / "faucet.yaml").exists()  # B has no local config
    peers = {line.split("peer_ip:")[1].split()[0] for line in fabric.rpc.requests()}
    assert MGMT_NET.replace(".", "_") + "_2" in peers  # B's requests came over the link, mTLS
    assert engine_b


def test_containers_on_two_hosts_ping_and_talk_tcp(fabric: Fabric) -> None:
    fabric.net_a = unique("twoa")
    run([DOCKER, "network", "create", "-d", A.driver, "--internal", "-o", "ovs.bridge.dpid=0x97a1",
         f"--subnet={SUBNET}.0/24", f"--ip-range={SUBNET}.0/25", fabric.net_a])
    fabric.docker_a.networks.append(fabric.net_a)
    fabric.net_b = unique("twob")
    fabric.b.docker("network", "create", "-d", fabric.b.instance.driver, "--internal",
                    "-o", "ovs.bridge.dpid=0x97b1", f"--subnet={SUBNET}.0/24",
                    f"--ip-range={SUBNET}.128/25", fabric.net_b)
    fabric.server_a = fabric.docker_a.run_container(
        fabric.net_a, command=("sh", "-c", "while true; do echo hello-from-a | nc -l -p 7000; done"))
    a_ip = fabric.docker_a.ip(fabric.server_a)

    def stack_up() -> bool:
        states = stack_states(A.faucet_prom_port)
        return bool(states) and all(state == 3 for (dp, _), state in states.items())

    try:
        wait_until(stack_up, 120, 0.5, "every stack port UP")
        b_box = ""
        for _ in range(SAMPLES):  # alternately: a new container on B, then one on A
            started = time.monotonic()
            box = fabric.run_b()
            wait_until(lambda b=box: fabric.ping_from_b(b, a_ip), 90, 0.2, "B -> A ping")
            fabric.samples.setdefault("B container reaches an A container", []).append(
                time.monotonic() - started)
            b_box = b_box or box
            started = time.monotonic()
            other_a = fabric.docker_a.run_container(fabric.net_a)
            wait_until(lambda o=other_a: fabric.docker_a.ping(o, a_ip, wait=1), 90, 0.2,
                       "A -> A ping")
            fabric.samples.setdefault("A container reaches an A container (one host)", []).append(
                time.monotonic() - started)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{fabric.explain()}") from None
    b_ip = fabric.b.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}"
                           "{{end}}", b_box).stdout.strip()
    assert fabric.docker_a.ping(fabric.server_a, b_ip)
    reply = fabric.b.docker("exec", b_box, "sh", "-c", f"nc {a_ip} 7000 </dev/null",
                            check=False, timeout=30).stdout
    assert "hello-from-a" in reply
    config = fabric.faucet_config()["dps"]
    assert fabric.net_b in config and fabric.net_a in config  # one FAUCET has both hosts' DPs


def test_one_graph_of_both_hosts(fabric: Fabric) -> None:
    assert fabric.net_b, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    out = fabric.workdir / "two-hosts.svg"
    done = run([str(VENV_BIN / "dovesnap"), "graph", "-o", str(out), "--status-addrs",
                f"127.0.0.1:{A.status_port},{fabric.b.status_url().split('/')[2]}",
                "--faucet-config", str(fabric.faucet_yaml)], check=False)
    assert done.returncode == 0, done.stderr
    svg = html.unescape(out.read_text())  # Graphviz writes "-" as &#45;
    stacking = ["dovesnap" + engine_id(), "dovesnap" + str(short_engine_id(fabric.b.engine_id()))]
    for name in (fabric.net_a, fabric.net_b, ROOT_DP, *stacking):
        assert name in svg, name


def test_doctor_on_host_b_checks_the_remote_faucet(fabric: Fabric) -> None:
    assert fabric.net_b, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    argv = [str(VENV_BIN / "dovesnap"), "doctor", *rpc_args(fabric.keydir_b),
            "--plugin-socket", str(fabric.b.instance.socket), "--default-ofcontrollers",
            CONTROLLERS_B, "--faucet-prom-port", str(A.faucet_prom_port)]
    done = fabric.b.sh(*argv, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("faucetconfrpc", "faucet-reload", "faucet ", "gauge ", "bridges"):
        assert any(row.startswith(f"ok   {line}") for row in done.stdout.splitlines()), done.stdout
    fabric.rpc.stop()
    try:
        done = fabric.b.sh(*argv, timeout=120)
    finally:
        fabric.rpc.start()
    assert done.returncode == 1
    failed = [row for row in done.stdout.splitlines() if row.startswith("FAIL")]
    assert len(failed) == 1 and f"faucetconfrpc at {A_IP}:{RPC_PORT} does not answer" in failed[0]


def test_faucetconfrpc_down_keeps_a_new_port_closed_until_it_is_back(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    a_ip = fabric.docker_a.ip(fabric.server_a)
    fabric.rpc.stop()
    try:
        box = fabric.run_b()
        port = wait_until(lambda: fabric.b_port(box).get("FailClosed"), 60, 0.3,
                          "the port shown failed closed")
        assert "faucetconfrpc" in port and f"{A_IP}:{RPC_PORT}" in port
        assert not any(fabric.ping_from_b(box, a_ip) for _ in range(3))
        assert fabric.net_b in fabric.faucet_config()["dps"]
    finally:
        fabric.rpc.start()
    wait_until(lambda: fabric.ping_from_b(box, a_ip), 90, 0.5, "the port opening once it is back")
    assert fabric.b_port(box)["FailClosed"] == ""


def test_a_change_faucet_refuses_keeps_the_port_closed(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    a_ip = fabric.docker_a.ip(fabric.server_a)
    box = fabric.run_b("--label", "dovesnap.faucet.portacl=nosuchacl")
    reason = wait_until(lambda: fabric.b_port(box).get("FailClosed"), 60, 0.3,
                        "the port shown failed closed")
    assert "nosuchacl" in reason
    assert not any(fabric.ping_from_b(box, a_ip) for _ in range(3))


def test_a_refused_certificate_keeps_new_ports_closed(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    a_ip = fabric.docker_a.ip(fabric.server_a)
    rogue = make_pki(fabric.b.directory / "rogue")  # another CA: the server must refuse us
    shutil.copy2(fabric.pki.ca, rogue.directory / f"{A_IP}-ca.crt")
    fabric.b.stop_dovesnap()
    try:
        fabric.b.start_dovesnap(b_args(rogue.directory, "--faucetconfrpc-connretries", "1"))
        box = fabric.run_b()
        reason = wait_until(lambda: fabric.b_port(box).get("FailClosed"), 60, 0.3,
                            "the port shown failed closed")
        assert "faucetconfrpc" in reason
        assert not any(fabric.ping_from_b(box, a_ip) for _ in range(3))
    finally:
        fabric.b.stop_dovesnap()
        fabric.b.start_dovesnap(b_args(fabric.keydir_b))
    wait_until(lambda: fabric.ping_from_b(box, a_ip), 90, 0.5, "the port opening with our cert")


def test_the_stack_survives_restarts_of_either_dovesnap_and_of_host_b_ovs(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    a_ip = fabric.docker_a.ip(fabric.server_a)
    box = fabric.run_b()
    wait_until(lambda: fabric.ping_from_b(box, a_ip), 90, 0.3, "B -> A ping")
    for what, restart in (
        ("host B's dovesnap", lambda: (fabric.b.stop_dovesnap(),
                                       fabric.b.start_dovesnap(b_args(fabric.keydir_b)))),
        ("host A's dovesnap", lambda: (fabric.a.stop(),
                                       fabric.a.start(a_args(fabric.workdir / "keys-a")))),
        ("host B's OVS", fabric.b.restart_ovs),
    ):
        started = time.monotonic()
        restart()
        try:
            wait_until(lambda: fabric.ping_from_b(box, a_ip), 120, 0.5, f"ping after {what}")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{fabric.explain()}") from None
        fabric.times[f"ping B -> A back after restarting {what}"] = time.monotonic() - started


def _mirrored_tcp_seen(fabric: Fabric, ifname: str, *expression: str) -> str:
    """Run a mirror-labelled container on B, talk TCP to A's server; what tcpdump on A's
    ``ifname`` saw of it."""
    a_ip = fabric.docker_a.ip(fabric.server_a)
    box = fabric.run_b("--label", "dovesnap.faucet.mirror=true")
    wait_until(lambda: fabric.ping_from_b(box, a_ip), 90, 0.3, "B -> A ping")
    b_ip = fabric.b.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}"
                           "{{end}}", box).stdout.strip()
    with capture(ifname, *expression) as cap:

        def seen() -> bool:
            fabric.b.docker("exec", box, "sh", "-c", f"nc -w 2 {a_ip} 7000 </dev/null",
                            check=False, timeout=30)
            text = cap.text()
            return f"{b_ip}." in text and f"{a_ip}.7000" in text

        try:
            wait_until(seen, 90, 0.5, f"B's mirrored TCP on A's {ifname}")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{fabric.explain()}") from None
        return cap.close()


def test_stack_mirroring_brings_b_s_traffic_to_the_roots_mirror_port(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    fabric.b.stop_dovesnap()
    fabric.b.start_dovesnap(b_args(fabric.keydir_b, "--stack-mirror-interface", f"{ROOT_DP}:88"))
    text = _mirrored_tcp_seen(fabric, ROOT_CAPTURE, "tcp", "port", "7000")
    assert "vlan" not in text  # the tunnel ends at port 88: copies leave without its VLAN


def test_mirror_river_brings_b_s_traffic_to_a_s_mirror_output(fabric: Fabric) -> None:
    assert fabric.server_a, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    fabric.b.stop_dovesnap()
    fabric.b.start_dovesnap(b_args(fabric.keydir_b, "--mirror-bridge-out", "river0"))
    _mirrored_tcp_seen(fabric, MIRROR_CAPTURE, "tcp", "port", "7000")


def test_cleanup_on_host_b_removes_its_dps_through_faucetconfrpc(fabric: Fabric) -> None:
    assert fabric.net_b, "needs the networks of test_containers_on_two_hosts_ping_and_talk_tcp"
    fabric.b.stop_dovesnap()
    done = fabric.b.sh(str(VENV_BIN / "dovesnap"), "cleanup", *rpc_args(fabric.keydir_b),
                       timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    dps = fabric.faucet_config()["dps"]
    assert fabric.net_b not in dps  # B's network DP: gone, through faucetconfrpc
    assert fabric.net_a in dps and ROOT_DP in dps  # A's and the operator's: kept
    assert not [n for n in fabric.b.vsctl("list-br").split() if n.startswith("odsbr")]


def test_nothing_of_host_b_is_left_on_host_a(fabric: Fabric) -> None:
    leftovers = run([DOCKER, "ps", "-aq", "--filter", f"name={TEST_PREFIX}b-"]).stdout.split()
    assert leftovers == []  # B's containers live in B's dockerd only
