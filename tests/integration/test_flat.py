"""Flat networks end to end: real dockerd, OVS, FAUCET and packets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rig import Daemon, Docker, bridge_of, run, wait_until

pytestmark = pytest.mark.integration


def _iface_for(daemon: Daemon, network: str, container: str) -> dict[str, object] | None:
    dp = daemon.dp(network) or {}
    for port, iface in (dp.get("interfaces") or {}).items():
        if str(iface.get("description", "")).startswith(container + " "):
            return {"port": port, **iface}
    return None


def _wait_port(daemon: Daemon, network: str, container: str) -> dict[str, object]:
    result: dict[str, object] = wait_until(
        lambda: _iface_for(daemon, network, container), 15, what=f"FAUCET interface of {container}"
    )
    return result


def test_two_containers_talk_through_faucet(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0001").args
    a = docker.run_container(net)
    b = docker.run_container(net)
    iface_a = _wait_port(dovesnap, net, a)
    _wait_port(dovesnap, net, b)
    assert iface_a["native_vlan"] == 100
    assert wait_until(lambda: docker.ping(b, docker.ip(a)), 20, 0.2, "ping a from b")
    # FAUCET, not OVS's NORMAL action, forwards: the bridge is in secure mode with FAUCET's flows.
    bridge = bridge_of(dovesnap, net)
    assert run(["ovs-vsctl", "get-fail-mode", bridge]).stdout.strip() == "secure"
    flows = run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge]).stdout
    assert "NORMAL" not in flows
    assert "table=" in flows and "dl_vlan=100" in flows.replace("vlan_vid=0x1064", "dl_vlan=100")
    # TCP works too (TX checksum offload is off on userspace bridges).
    docker.exec(a, "nc", "-ll", "-p", "7777", "-e", "echo", "dovesnap-tcp", check=True, detach=True)

    def tcp_ok() -> bool:
        got = docker.exec(b, "sh", "-c", f"nc -w 2 {docker.ip(a)} 7777 </dev/null").stdout
        return "dovesnap-tcp" in got

    assert wait_until(tcp_ok, 20, 0.3, "TCP between containers")
    # The status JSON knows both containers and their ports.
    status = next(v for v in dovesnap.status().values() if v["NetworkName"] == net)
    names = {c["Name"] for c in status["DynamicNetworkStates"]["Containers"].values()}
    assert {a, b} <= names


def test_denyall_label_cuts_container_off(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0002").args
    a = docker.run_container(net)
    denied = docker.run_container(net, "--label", "dovesnap.faucet.portacl=denyall")
    _wait_port(dovesnap, net, a)
    iface = _wait_port(dovesnap, net, denied)
    assert iface["acls_in"] == ["denyall"]
    b = docker.run_container(net)
    _wait_port(dovesnap, net, b)
    assert wait_until(lambda: docker.ping(b, docker.ip(a)), 20, 0.2, "allowed pair")
    assert not docker.ping(denied, docker.ip(a), count=3)
    assert not docker.ping(a, docker.ip(denied), count=2)


def test_unknown_acl_fails_closed_and_others_keep_working(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0003").args
    a = docker.run_container(net)
    bad = docker.run_container(net, "--label", "dovesnap.faucet.portacl=no-such-acl")
    mangled = docker.run_container(net, "--label", "dovesnap.faucet.portacl=a: {b}\n'c")
    b = docker.run_container(net)
    for name in (a, b):
        _wait_port(dovesnap, net, name)

    def reasons() -> dict[str, str]:
        status = next(v for v in dovesnap.status().values() if v["NetworkName"] == net)
        return {c["Name"]: c["FailClosed"] for c in status["DynamicNetworkStates"]["Containers"].values()}

    wait_until(lambda: reasons().get(bad) and reasons().get(mangled), 15, what="fail-closed reasons")
    assert "no-such-acl" in reasons()[bad]
    assert _iface_for(dovesnap, net, bad) is None
    assert _iface_for(dovesnap, net, mangled) is None
    assert wait_until(lambda: docker.ping(b, docker.ip(a)), 20, 0.2, "healthy pair")
    assert not docker.ping(bad, docker.ip(a), count=2)
    # FAUCET's config is still valid and FAUCET still runs.
    check = run([str(__import__("sys").executable), "-m", "faucet.check_faucet_config",
                 str(dovesnap.faucet_yaml)], check=False)
    assert check.returncode == 0, check.stdout[-2000:]


def test_meter_acl_becomes_an_ovs_meter(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0004").args
    limited = docker.run_container(net, "--label", "dovesnap.faucet.portacl=ratelimitit")
    iface = _wait_port(dovesnap, net, limited)
    assert iface["acls_in"] == ["ratelimitit"]
    bridge = bridge_of(dovesnap, net)

    def meter_programmed() -> bool:
        meters = run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", bridge], check=False).stdout
        flows = run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge], check=False).stdout
        return "meter=1" in meters and "meter:1" in flows

    assert wait_until(meter_programmed, 20, 0.2, "meter 1 in OVS")


def test_mac_options(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0005",
                         "ovs.bridge.ovs_local_mac=0e:01:00:00:00:03").args
    prefixed = docker.run_container(net, "--label", "dovesnap.faucet.mac_prefix=0e:99")
    fixed = docker.run_container(net, "--mac-address", "0e:ab:cd:00:00:01")
    _wait_port(dovesnap, net, prefixed)
    _wait_port(dovesnap, net, fixed)
    assert wait_until(lambda: docker.mac_in_container(prefixed).startswith("0e:99:"), 10,
                      what="mac_prefix applied")
    assert docker.mac_in_container(fixed) == "0e:ab:cd:00:00:01"
    bridge = bridge_of(dovesnap, net)
    local_mac = Path(f"/sys/class/net/{bridge}/address").read_text().strip()
    assert local_mac == "0e:01:00:00:00:03"
    assert wait_until(lambda: docker.ping(prefixed, docker.ip(fixed)), 20, 0.2, "ping with new MACs")


def test_preallocated_ports_exist_before_containers(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e0006", "ovs.bridge.preallocate_ports=3",
                         "ovs.bridge.default_acl=allowall").args
    dp = wait_until(lambda: dovesnap.dp(net), 10, what="DP written")
    interfaces = {k: v for k, v in dp["interfaces"].items() if k != 99}  # 99: mirror port
    assert sorted(interfaces) == [1, 2, 3]
    assert all(i["description"] == "preallocated port" for i in interfaces.values())
    assert all(i["acls_in"] == ["allowall"] for i in interfaces.values())
    a = docker.run_container(net)
    iface = _wait_port(dovesnap, net, a)
    assert iface["port"] == 1
    assert iface["acls_in"] == ["allowall"]
    assert sorted(dovesnap.dp(net)["interfaces"]) == [1, 2, 3, 99]  # type: ignore[index]
    docker.remove_container(a)
    wait_until(lambda: dovesnap.dp(net)["interfaces"][1]["description"] == "preallocated port",  # type: ignore[index]
               10, what="port 1 back to preallocated")


def test_taking_over_a_preallocated_port_changes_nothing_faucet_forwards_with(
    dovesnap: Daemon, docker: Docker
) -> None:
    """A container whose policy is the placeholder's forwards on the placeholder's flows: FAUCET
    sees no port added, changed or deleted, only (later) the new name."""
    net = docker.network("ovs.bridge.dpid=0x7e0007", "ovs.bridge.preallocate_ports=3",
                         "ovs.bridge.default_acl=allowall").args
    wait_until(lambda: dovesnap.dp(net), 10, what="DP written")
    peer = docker.run_container(net)
    _wait_port(dovesnap, net, peer)
    seen = dovesnap.faucet_log_size()
    taker = docker.run_container(net)
    assert wait_until(lambda: docker.ping(taker, docker.ip(peer)), 20, 0.2, "ping the peer")
    port = _wait_port(dovesnap, net, taker)["port"]  # its name, once the held rename went out
    assert port == 2
    changes, ours = dovesnap.faucet_port_changes(net, 2, seen)
    assert not changes, ours
