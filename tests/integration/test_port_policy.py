"""Per-port policy with real packets: Docker endpoint options (``--driver-opt``) over labels, and
the operator's ``dovesnap acl`` on a running container; both across a dovesnap restart.

Every network here uses this run's own subnets (rig.own_subnet).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.rig import (
    DOCKER,
    IMAGE,
    INSTANCE,
    STATUS_PORT,
    VENV_BIN,
    Daemon,
    Docker,
    own_subnet,
    run,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

ACL = "dovesnap.faucet.portacl"


def _dpid(n: int) -> str:
    return f"ovs.bridge.dpid=0x15{INSTANCE:02x}{n:02x}"


def _port(daemon: Daemon, network: str, container: str) -> dict[str, object] | None:
    for number, iface in ((daemon.dp(network) or {}).get("interfaces") or {}).items():
        if str(iface.get("description", "")).startswith(container + " "):
            return {"number": number, **iface}
    return None


def _acls(daemon: Daemon, network: str, container: str) -> list[str] | None:
    port = _port(daemon, network, container)
    return None if port is None else list(port.get("acls_in") or [])  # type: ignore[call-overload]


def _ip_on(docker: Docker, container: str, network: str) -> str:
    found = json.loads(run([DOCKER, "inspect", container]).stdout)[0]
    return str(found["NetworkSettings"]["Networks"][network]["IPAddress"])


def _dovesnap(*argv: str) -> subprocess.CompletedProcess[str]:
    return run([str(VENV_BIN / "dovesnap"), *argv, "--status-addr", f"127.0.0.1:{STATUS_PORT}"],
               check=False)


def test_driver_opt_acl_on_connect_wins_over_the_label_and_lasts(
    dovesnap: Daemon, docker: Docker
) -> None:
    net_a = docker.network(_dpid(1), args=["--subnet", own_subnet(1)]).args
    net_b = docker.network(_dpid(2), args=["--subnet", own_subnet(2)]).args
    opted = docker.run_container(net_a, "--label", f"{ACL}=denyall")
    plain = docker.run_container(net_a, "--label", f"{ACL}=denyall")  # the control: no option
    peer = docker.run_container(net_b)
    run([DOCKER, "network", "connect", "--driver-opt", f"{ACL}=allowall", "--driver-opt",
         "com.docker.network.endpoint.ifname=dsmgmt0", net_b, opted])
    run([DOCKER, "network", "connect", net_b, plain])
    for name in (opted, plain, peer):
        wait_until(lambda n=name: _port(dovesnap, net_b, n), 20, what=f"{name}'s port on {net_b}")
    assert _acls(dovesnap, net_b, opted) == ["allowall"]
    assert _acls(dovesnap, net_b, plain) == ["denyall"]
    wait_until(lambda: _acls(dovesnap, net_a, opted) == ["denyall"], 20, what="label on net_a")
    opted_ip, plain_ip = _ip_on(docker, opted, net_b), _ip_on(docker, plain, net_b)
    assert wait_until(lambda: docker.ping(peer, opted_ip), 20, 0.2, "ping the opted container")
    assert not docker.ping(peer, plain_ip, count=2)
    # 20.10 (and every engine up to 28.5) ignores a remote driver's DstName: eth<N> it is.
    names = docker.exec(opted, "ip", "-o", "-4", "addr", "show").stdout
    print("interface of the ifname option:", [line.split()[1] for line in names.splitlines()
                                               if opted_ip + "/" in line])
    # The same at docker run: --network name=NET,driver-opt=... (what compose v2's driver_opts use)
    started = unique("c")
    docker.containers.append(started)
    run([DOCKER, "run", "-d", "--name", started, "--label", f"{ACL}=denyall", "--network",
         f"name={net_b},driver-opt={ACL}=allowall", IMAGE, "sleep", "3600"])
    wait_until(lambda: _acls(dovesnap, net_b, started) == ["allowall"], 20, what="run driver-opt")
    entry = next(c for net in dovesnap.status().values() if net["NetworkName"] == net_b
                 for c in net["DynamicNetworkStates"]["Containers"].values() if c["Name"] == opted)
    assert entry["EndpointOptions"][ACL] == "allowall"

    dovesnap.stop()
    dovesnap.start()  # the option is kept in OVS: the same ACL after a restart
    wait_until(lambda: _acls(dovesnap, net_b, opted) == ["allowall"], 20, what="after restart")
    assert wait_until(lambda: docker.ping(peer, opted_ip), 20, 0.2, "ping after dovesnap restart")

    run([DOCKER, "restart", "-t", "1", opted])  # a new endpoint: Docker hands the option again
    wait_until(lambda: _acls(dovesnap, net_b, opted) == ["allowall"], 30, what="after docker restart")
    # From the restarted container: the peer may still have its old MAC in its ARP cache.
    peer_ip = _ip_on(docker, peer, net_b)
    assert wait_until(lambda: docker.ping(opted, peer_ip), 20, 0.2, "ping after container restart")


def test_operator_changes_a_running_containers_acl(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network(_dpid(3), args=["--subnet", own_subnet(3)]).args
    a, b = docker.run_container(net), docker.run_container(net)
    b_ip = docker.ip(b)
    assert wait_until(lambda: docker.ping(a, b_ip), 30, 0.2, "first ping")

    done = _dovesnap("acl", "set", a, "denyall")
    assert done.returncode == 0, done.stderr
    assert "acls_in denyall (set by operator)" in done.stdout
    assert _acls(dovesnap, net, a) == ["denyall"]  # the answer came after the write
    wait_until(lambda: not docker.ping(a, b_ip), 20, 0.2, "pings dropped")
    table = run([str(VENV_BIN / "dovesnap"), "status", "--status-addr", f"127.0.0.1:{STATUS_PORT}",
                 "--faucet-config", str(dovesnap.faucet_yaml)]).stdout
    assert "denyall (set)" in table

    ifname = next(c["IfName"] for n in dovesnap.status().values() if n["NetworkName"] == net
                  for c in n["DynamicNetworkStates"]["Containers"].values() if c["Name"] == a)
    dovesnap.stop()
    recorded = run(["ovs-vsctl", "get", "Interface", ifname,
                    "external_ids:dovesnap-operator-policy"]).stdout
    assert json.loads(json.loads(recorded)) == {"acls": ["denyall"]}  # OVS quotes the JSON
    dovesnap.start()
    wait_until(lambda: _acls(dovesnap, net, a) == ["denyall"], 20, what="policy after restart")
    assert not docker.ping(a, b_ip, count=2)

    cleared = _dovesnap("acl", "clear", a, net)
    assert cleared.returncode == 0, cleared.stderr
    assert _acls(dovesnap, net, a) == []
    assert wait_until(lambda: docker.ping(a, b_ip), 20, 0.2, "pings pass again")
    refused = _dovesnap("acl", "set", "dstest-nobody", "allowall")
    assert refused.returncode == 1 and "no running container" in refused.stderr
