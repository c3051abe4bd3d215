"""Mirror bridge and mirror river end to end: real dockerd, OVS, FAUCET, tcpdump and packets.

This module runs its own dovesnap (instance 25) with ``--mirror-bridge-out``/``-in`` on veth
pairs the test makes; tcpdump listens on the far end of the output pair.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fabric_helpers import (
    capture,
    engine_id,
    link_exists,
    send_frame,
    veth_pairs,
    vsctl_get,
)
from tests.integration.rig import (
    DOCKER,
    VENV_BIN,
    Daemon,
    Docker,
    bridge_of,
    instance_for,
    ovs_bridges,
    own_subnet,
    plugin_answers,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

MIRROR = instance_for(__name__)
DST = f"dst{MIRROR.number}"  # host interface names of this instance start so
OUT, CAPTURE = f"{DST}mirout", f"{DST}mircap"  # daemon's end, tcpdump's end
IN, FEED = f"{DST}mirin", f"{DST}mirfeed"  # daemon's end (the river), the upstream host's end


@pytest.fixture(scope="module")
def mirror_daemon(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Daemon]:
    if plugin_answers(MIRROR.socket):
        pytest.fail(f"a dovesnap already serves {MIRROR.socket}")
    with veth_pairs((OUT, CAPTURE), (IN, FEED)):
        daemon = Daemon(Path(tmp_path_factory.mktemp("mirror")), instance=MIRROR)
        daemon.start(["--mirror-bridge-out", OUT, "--mirror-bridge-in", IN])
        try:
            yield daemon
        finally:
            daemon.stop()


@pytest.fixture
def docker(mirror_daemon: Daemon) -> Iterator[Docker]:
    objects = Docker(driver=MIRROR.driver)
    try:
        yield objects
    finally:
        objects.cleanup()


def _port_of(daemon: Daemon, network: str, container: str) -> int | None:
    for port, iface in ((daemon.dp(network) or {}).get("interfaces") or {}).items():
        if str(iface.get("description", "")).startswith(container + " "):
            return int(port)
    return None


def _mirror_list(daemon: Daemon, network: str) -> list[int]:
    iface = ((daemon.dp(network) or {}).get("interfaces") or {}).get(99) or {}
    return list(iface.get("mirror") or [])


def test_mirror_bridge_is_built_at_start(mirror_daemon: Daemon) -> None:
    bridge = "odsmir" + engine_id()
    assert bridge in ovs_bridges()
    assert vsctl_get("Bridge", bridge, "datapath_type") == "netdev"  # no kernel module here
    assert vsctl_get("Bridge", bridge, "fail_mode") == "secure"
    assert vsctl_get("Interface", OUT, "ofport") == "1"
    assert vsctl_get("Interface", IN, "ofport") == "2"


def test_labelled_container_is_mirrored_and_unlabelled_is_not(
    mirror_daemon: Daemon, docker: Docker
) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e5001").args
    watched = docker.run_container(net, "--label", "dovesnap.faucet.mirror=true")
    quiet = docker.run_container(net)
    peer = docker.run_container(net)
    for name in (watched, quiet, peer):
        wait_until(lambda n=name: _port_of(mirror_daemon, net, n), 20, what=f"port of {name}")
    watched_port = _port_of(mirror_daemon, net, watched)
    wait_until(lambda: _mirror_list(mirror_daemon, net) == [watched_port], 20,
               what="mirror list on lbport")
    peer_ip, watched_ip, quiet_ip = (docker.ip(c) for c in (peer, watched, quiet))
    docker.exec(peer, "nc", "-ll", "-p", "7701", "-e", "echo", "mirrored", check=True, detach=True)
    docker.exec(peer, "nc", "-ll", "-p", "7702", "-e", "echo", "private", check=True, detach=True)

    def tcp(client: str, port: int, word: str) -> bool:
        got = docker.exec(client, "sh", "-c", f"nc -w 2 {peer_ip} {port} </dev/null").stdout
        return word in got

    # FAUCET floods a host's first packets until it has learned where the host is; a flood
    # also leaves by the watched port, and is mirrored as such. Let FAUCET learn everyone first.
    assert wait_until(lambda: tcp(watched, 7701, "mirrored"), 30, 0.3, "TCP from watched")
    assert wait_until(lambda: tcp(quiet, 7702, "private"), 30, 0.3, "TCP from quiet")
    with capture(CAPTURE, "tcp") as cap:
        assert tcp(quiet, 7702, "private")
        assert wait_until(lambda: tcp(watched, 7701, "mirrored"), 30, 0.3, "TCP from watched")
        wait_until(lambda: f"{peer_ip}.7701 > {watched_ip}" in cap.text(), 15,
                   what="the peer's reply to the watched container, mirrored")
        tcp(quiet, 7702, "private")  # once more, after the mirror surely works
        text = cap.close()
    assert f"{watched_ip}." in text and f"> {peer_ip}.7701" in text  # both directions
    assert "vlan 100" in text  # tagged with the network's VLAN by the mirror bridge
    assert ".7702" not in text and quiet_ip + "." not in text

    # Leaving stops the mirroring.
    run([DOCKER, "network", "disconnect", net, watched])
    wait_until(lambda: _mirror_list(mirror_daemon, net) == [], 20, what="mirror list emptied")


def test_mirror_river_passes_upstream_traffic_on(mirror_daemon: Daemon) -> None:
    token = secrets.token_hex(8)
    with capture(CAPTURE, "ether", "proto", "0x88b5", ascii_payload=True) as cap:

        def arrived() -> bool:
            send_frame(FEED, f"dovesnap-river-{token}".encode())
            return token in cap.text()

        wait_until(arrived, 20, 0.3, "upstream frame leaving on the mirror output")
        text = cap.close()
    assert "vlan" not in text  # passed on as it came, not tagged again


def test_mirror_bridge_drops_what_is_not_mirror_traffic(mirror_daemon: Daemon) -> None:
    """A frame entering on the output interface goes nowhere (not back out, not to the river)."""
    token = secrets.token_hex(8)
    with capture(FEED, "ether", "proto", "0x88b5", ascii_payload=True) as cap:
        for _ in range(5):
            send_frame(CAPTURE, f"dovesnap-reverse-{token}".encode())
        text = cap.close()
    assert token not in text


def test_operator_mirrors_a_running_container_and_stops(mirror_daemon: Daemon,
                                                        docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e5003", args=["--subnet", own_subnet(5)]).args
    watched, peer = docker.run_container(net), docker.run_container(net)
    for name in (watched, peer):
        wait_until(lambda n=name: _port_of(mirror_daemon, net, n), 20, what=f"port of {name}")
    peer_ip, watched_ip = docker.ip(peer), docker.ip(watched)
    docker.exec(peer, "nc", "-ll", "-p", "7703", "-e", "echo", "hello", check=True, detach=True)

    def tcp() -> bool:
        return "hello" in docker.exec(watched, "sh", "-c", f"nc -w 2 {peer_ip} 7703 </dev/null").stdout

    def mirror(action: str) -> str:
        done = run([str(VENV_BIN / "dovesnap"), "mirror", action, watched, "--status-addr",
                    f"127.0.0.1:{MIRROR.status_port}"], check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def mirrored_now() -> bool:
        with capture(CAPTURE, "tcp") as cap:
            assert tcp() and tcp()
            text = cap.close()
        return f"{watched_ip}." in text

    assert wait_until(tcp, 30, 0.3, "TCP before mirroring")  # FAUCET has learned both hosts
    assert not mirrored_now()
    assert "mirrored yes (set by operator)" in mirror("on")
    assert _mirror_list(mirror_daemon, net) == [_port_of(mirror_daemon, net, watched)]
    # FAUCET applies the reloaded config within a moment of the answer.
    wait_until(mirrored_now, 30, 0.2, "the container's TCP, mirrored")
    assert "mirrored no (set by operator)" in mirror("off")
    assert _mirror_list(mirror_daemon, net) == []
    wait_until(lambda: not mirrored_now(), 30, 0.2, "mirroring stopped")


def test_stop_removes_the_mirror_bridge_and_its_patches(mirror_daemon: Daemon,
                                                        docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e5002").args
    bridge = bridge_of(mirror_daemon, net)
    ports = run(["ovs-vsctl", "list-ports", bridge]).stdout.split()
    patches = [p for p in ports if p.startswith("ods") and not p.startswith("odsve")]
    assert len(patches) == 1 and vsctl_get("Interface", patches[0], "ofport") == "99"
    docker.cleanup()
    wait_until(lambda: not link_exists(patches[0]), 20, what="patch removed with the network")
    mirror_daemon.stop()
    assert "odsmir" + engine_id() not in ovs_bridges()
    assert link_exists(OUT) and link_exists(IN)  # the operator's interfaces stay
