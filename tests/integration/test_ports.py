"""Host interfaces on dovesnap networks: add_ports, coprocessor ports, VLAN output ACLs, ports
added by hand with ovs-vsctl (whatever their name), preallocated ports beside add_ports, and the
status JSON the Go original's graph tool reads, with real FAUCET and packets."""

from __future__ import annotations

import ipaddress
import secrets
import statistics
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.go_graph_fields import OFP_LOCAL, check_go_graph_can_read
from tests.integration.fabric_helpers import veth_pairs
from tests.integration.netns_hosts import NetnsHost, elapsed_until, netns_host
from tests.integration.rig import (
    DOCKER,
    INSTANCE,
    Daemon,
    Docker,
    run,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    """Three namespace hosts on veths whose host ends are free for the test to attach."""
    with ExitStack() as stack:
        yield [stack.enter_context(netns_host(host_end_up=False)) for _ in range(3)]


def _status(daemon: Daemon, network: str) -> dict[str, Any]:
    for value in daemon.status().values():
        if value["NetworkName"] == network:
            return dict(value)
    raise AssertionError(f"network {network} not in status")


def _address_in(daemon: Daemon, network: str, from_top: int) -> str:
    """An address near the top of the network's subnet (IPAM hands out from the bottom)."""
    status = _status(daemon, network)
    prefix = ipaddress.ip_network(f"0.0.0.0/{status['GatewayMask']}").prefixlen
    subnet = ipaddress.ip_network(f"{status['Gateway']}/{prefix}", strict=False)
    return f"{subnet.broadcast_address - from_top}/{prefix}"


def _give_address(host: NetnsHost, address: str) -> None:
    host.ns_address = address
    host.exec("ip", "addr", "add", address, "dev", host.ns_ifname, check=True)


def _iface(daemon: Daemon, network: str, description: str) -> tuple[int, dict[str, Any]] | None:
    interfaces = (daemon.dp(network) or {}).get("interfaces") or {}
    for port, iface in interfaces.items():
        if iface.get("description") == description or str(iface.get("description", "")).startswith(
                description + " "):
            return port, iface
    return None


def _ready(daemon: Daemon, network: str, container: str) -> None:
    wait_until(lambda: _iface(daemon, network, container), 20, 0.05, f"FAUCET port of {container}")


def _metric_lines(daemon: Daemon, name: str) -> list[str]:
    url = f"http://127.0.0.1:{daemon.instance.faucet_prom_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return [line for line in text.splitlines() if line.startswith(name)]


def _faucet_tables(daemon: Daemon, dp_name: str) -> set[str]:
    tables = set()
    for line in _metric_lines(daemon, "faucet_config_table_names{"):
        if f'dp_name="{dp_name}"' in line:
            tables.add(line.split('table_name="')[1].split('"')[0])
    return tables


def _bridge_of_port(ifname: str) -> str | None:
    result = run(["ovs-vsctl", "port-to-br", ifname], check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def test_add_ports_share_l2_and_denyall_cuts_off(dovesnap: Daemon, hosts: list[NetnsHost],
                                                 docker: Docker) -> None:
    allowed, denied, _ = hosts
    net = docker.network(
        "ovs.bridge.dpid=0x7e3101",
        f"ovs.bridge.add_ports={allowed.host_ifname}/7/allowall,{denied.host_ifname}//denyall",
    ).args
    c = docker.run_container(net)
    _ready(dovesnap, net, c)
    port, iface = _iface(dovesnap, net, f"Physical interface {allowed.host_ifname}") or (0, {})
    assert port == 7 and iface["acls_in"] == ["allowall"] and iface["native_vlan"] == 100
    assert run(["ovs-vsctl", "get", "Interface", allowed.host_ifname, "ofport"]).stdout.strip() == "7"
    denied_port, denied_iface = _iface(dovesnap, net, f"Physical interface {denied.host_ifname}") or (0, {})
    assert denied_port not in (0, 7) and denied_iface["acls_in"] == ["denyall"]
    _give_address(allowed, _address_in(dovesnap, net, 5))
    _give_address(denied, _address_in(dovesnap, net, 6))
    assert wait_until(lambda: docker.ping(c, allowed.ip), 20, 0.2, "container to add_port host")
    assert allowed.ping(docker.ip(c))
    assert not docker.ping(c, denied.ip, count=3)
    assert not denied.ping(docker.ip(c), count=2)
    status = _status(dovesnap, net)["DynamicNetworkStates"]["ExternalPorts"]
    assert {allowed.host_ifname, denied.host_ifname} <= set(status)
    docker.remove_container(c)
    docker.remove_network(net)
    # The interfaces are the operator's: detached, not deleted.
    assert _bridge_of_port(allowed.host_ifname) is None
    assert run(["ip", "link", "show", allowed.host_ifname], check=False).returncode == 0


def test_missing_add_port_fails_create_and_leaves_nothing(dovesnap: Daemon, hosts: list[NetnsHost],
                                                          docker: Docker) -> None:
    before_bridges = run(["ovs-vsctl", "list-br"]).stdout
    before_yaml = dovesnap.faucet_yaml.read_bytes()
    result = docker.network("ovs.bridge.dpid=0x7e3102",
                            f"ovs.bridge.add_ports={hosts[0].host_ifname},dsnosuch3if", check=False)
    assert result.returncode != 0 and "dsnosuch3if" in result.stderr
    assert run(["ovs-vsctl", "list-br"]).stdout == before_bridges
    assert dovesnap.faucet_yaml.read_bytes() == before_yaml
    assert _bridge_of_port(hosts[0].host_ifname) is None


def test_vlan_coprocessor_and_egress_settings_reach_faucet(dovesnap: Daemon, hosts: list[NetnsHost],
                                                           docker: Docker) -> None:
    trunk, copro, _ = hosts
    net = docker.network(
        "ovs.bridge.dpid=0x7e3103", "ovs.bridge.vlan=310", "ovs.bridge.vlan_out_acl=allowall",
        f"ovs.bridge.add_ports={trunk.host_ifname}/10//311",
        f"ovs.bridge.add_copro_ports={copro.host_ifname}/11",
    ).args
    a, b = docker.run_container(net), docker.run_container(net)
    _ready(dovesnap, net, a)
    _ready(dovesnap, net, b)
    dp = dovesnap.dp(net) or {}
    assert dp["egress_pipeline"] is True
    assert dp["interfaces"][10]["native_vlan"] == 311
    assert dp["interfaces"][11]["coprocessor"] == {"strategy": "vlan_vid"}
    assert "native_vlan" not in dp["interfaces"][11]
    config = dovesnap.faucet_config()
    # The VLAN names dovesnap's copy of the operator's ACL (plan/egress.py says why).
    assert config["vlans"]["dovesnap-vlan310"] == {"vid": 310,
                                                   "acl_out": "dovesnap-egress-allowall"}
    assert config["acls"]["dovesnap-egress-allowall"] == config["acls"]["allowall"]
    # FAUCET took it: its pipeline for this DP has the egress and coprocessor tables.
    assert wait_until(lambda: {"egress", "copro"} <= _faucet_tables(dovesnap, net), 20, 0.2,
                      "FAUCET egress and copro tables")
    assert [line.split()[-1] for line in _metric_lines(dovesnap, "faucet_config_load_error")] == ["0.0"]
    assert wait_until(lambda: docker.ping(a, docker.ip(b)), 20, 0.2, "allowall egress passes")


def test_denyall_vlan_output_acl_stops_traffic(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3104", "ovs.bridge.vlan=312",
                         "ovs.bridge.vlan_out_acl=denyall").args
    a, b = docker.run_container(net), docker.run_container(net)
    _ready(dovesnap, net, a)
    _ready(dovesnap, net, b)
    wait_until(lambda: "egress" in _faucet_tables(dovesnap, net), 20, 0.2, "FAUCET egress table")
    assert not docker.ping(a, docker.ip(b), count=3)
    for name in (a, b):
        docker.remove_container(name)
    docker.remove_network(net)
    assert "dovesnap-vlan312" not in (dovesnap.faucet_config().get("vlans") or {})
    assert "dovesnap-egress-denyall" not in dovesnap.faucet_config()["acls"]


def test_hand_added_ports_come_and_go(dovesnap: Daemon, hosts: list[NetnsHost],
                                      docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3105").args
    c = docker.run_container(net)
    _ready(dovesnap, net, c)
    bridge = _status(dovesnap, net)["BridgeName"]
    for index, host in enumerate(hosts):
        _give_address(host, _address_in(dovesnap, net, 10 + index))
    joins, leaves, first_pings = [], [], []
    for host in hosts:
        description = f"Physical interface {host.host_ifname}"
        run(["ip", "link", "set", host.host_ifname, "up"])
        run(["ovs-vsctl", "add-port", bridge, host.host_ifname])
        joins.append(elapsed_until(lambda d=description: _iface(dovesnap, net, d), 2))
        port, iface = _iface(dovesnap, net, description) or (0, {})
        assert iface["native_vlan"] == 100 and port > 0
        first_pings.append(elapsed_until(lambda h=host: docker.ping(c, h.ip), 20, 0.1))
        run(["ovs-vsctl", "del-port", bridge, host.host_ifname])
        leaves.append(elapsed_until(lambda d=description: _iface(dovesnap, net, d) is None, 2))
        assert not docker.ping(c, host.ip, count=2)
    # dovesnap's own ports were never taken for hand-added ones.
    interfaces = (dovesnap.dp(net) or {})["interfaces"]
    assert not [i for i in interfaces.values() if "odsve" in str(i.get("description"))]
    assert _iface(dovesnap, net, c) is not None
    print(f"hand-added port in faucet.yaml after: median {statistics.median(joins) * 1000:.0f} ms, "
          f"max {max(joins) * 1000:.0f} ms; gone after: median {statistics.median(leaves) * 1000:.0f}"
          f" ms, max {max(leaves) * 1000:.0f} ms; first ping through FAUCET after "
          f"{statistics.median(first_pings) * 1000:.0f} ms more")


def _own_network(docker: Docker, third: int, *options: str, internal: bool = True) -> str:
    """A network on a subnet of this run's own range (10.<run*10+1>.<third>.0/24)."""
    name = unique("net")
    argv = [DOCKER, "network", "create", "-d", docker.driver,
            "--subnet", f"10.{INSTANCE * 10 + 1}.{third}.0/24"]
    if internal:
        argv.append("--internal")
    for option in options:
        argv += ["-o", option]
    run([*argv, name])
    docker.networks.append(name)
    return name


def _link_mac(ifname: str) -> str:
    return Path(f"/sys/class/net/{ifname}/address").read_text().strip()


def test_ten_preallocated_ports_after_three_add_ports(dovesnap: Daemon, hosts: list[NetnsHost],
                                                      docker: Docker) -> None:
    a, b, c = (h.host_ifname for h in hosts)
    net = docker.network("ovs.bridge.dpid=0x7e3106", "ovs.bridge.preallocate_ports=10",
                         f"ovs.bridge.add_ports={a}/1//20,{b}/2//30,{c}/3//40").args
    dp = wait_until(lambda: dovesnap.dp(net), 20, what="the network's DP")
    preallocated = sorted(p for p, i in dp["interfaces"].items()
                          if i.get("description") == "preallocated port")
    assert preallocated == list(range(4, 14))  # ten, as the Go original: 4..13
    first = docker.run_container(net)
    _ready(dovesnap, net, first)
    port, _ = _iface(dovesnap, net, first) or (0, {})
    assert port == 4


def test_hand_added_port_named_ods_joins_the_dp(dovesnap: Daemon, docker: Docker) -> None:
    net = docker.network("ovs.bridge.dpid=0x7e3107").args
    _ready(dovesnap, net, docker.run_container(net))
    bridge = _status(dovesnap, net)["BridgeName"]
    name, peer = f"odshand{INSTANCE % 10}{secrets.token_hex(3)}", f"dsq{secrets.token_hex(4)}"
    description = f"Physical interface {name}"
    with veth_pairs((name, peer)):
        run(["ovs-vsctl", "add-port", bridge, name])
        try:
            wait_until(lambda: _iface(dovesnap, net, description), 5, what=f"{name} in the DP")
            port, iface = _iface(dovesnap, net, description) or (0, {})
            assert iface["native_vlan"] == 100 and port > 0
            external = _status(dovesnap, net)["DynamicNetworkStates"]["ExternalPorts"][name]
            assert external == {"Name": name, "OFPort": port, "MacAddress": _link_mac(name)}
        finally:
            run(["ovs-vsctl", "--if-exists", "del-port", bridge, name])
        wait_until(lambda: _iface(dovesnap, net, description) is None, 5, what=f"{name} gone")


def test_status_json_as_the_go_graph_tool_reads_it(dovesnap: Daemon, hosts: list[NetnsHost],
                                                   docker: Docker) -> None:
    outside = hosts[0].host_ifname
    net = _own_network(docker, 8, "ovs.bridge.dpid=0x7e3108", "ovs.bridge.mode=nat",
                       f"ovs.bridge.add_ports={outside}/9")
    _ready(dovesnap, net, docker.run_container(net))
    report = dovesnap.status()
    check_go_graph_can_read(report)
    mine = _status(dovesnap, net)
    bridge, externals = mine["BridgeName"], mine["DynamicNetworkStates"]["ExternalPorts"]
    # The NAT gateway, as the Go original lists it (the Go graph tool draws NAT from it).
    assert externals[bridge] == {"Name": bridge, "OFPort": OFP_LOCAL, "MacAddress": _link_mac(bridge)}
    assert externals[outside] == {"Name": outside, "OFPort": 9, "MacAddress": _link_mac(outside)}
