"""IPv6 with real packets: dual-stack nat (NAT66), routed IPv6, published ports over IPv6, IPv6
ACLs (with and without neighbour discovery), and SLAAC on a DHCP network.

The outside world is a namespace host on a veth whose addresses are in this run's own ULA
prefix (fd42:<instance>::/32, never the machine's fd00::/64) and which has no route back to the
container subnets: only masqueraded traffic can get an answer from it.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.netns_hosts import NetnsHost, elapsed_until, netns_host, tcp_reply
from tests.integration.rig import DOCKER, DRIVER, INSTANCE, Daemon, Docker, run, unique, wait_until

pytestmark = pytest.mark.integration

# Host ports the published-port test takes: its own per run, as another run may publish at the
# same time and a taken port is refused.
WEB_PORT = 8080 + 100 * INSTANCE

PEER_PORT = 7006
V4 = (INSTANCE * 10) % 250  # this run's IPv4 networks: 10.V4.N.0/24
HOST_SIDE, FAR_SIDE = f"fd42:{INSTANCE}:ff::1", f"fd42:{INSTANCE}:ff::2"
ND_TYPES = (133, 134, 135, 136)  # router and neighbour solicitation and advertisement
ACLS: dict[str, Any] = {
    "v6cut": [
        {"rule": {"dl_type": 0x86DD, "actions": {"allow": 0}}},
        {"rule": {"actions": {"allow": 1}}},
    ],
    "v6ndonly": [
        *({"rule": {"dl_type": 0x86DD, "ip_proto": 58, "icmpv6_type": t, "actions": {"allow": 1}}}
          for t in ND_TYPES),
        {"rule": {"dl_type": 0x86DD, "actions": {"allow": 0}}},
        {"rule": {"actions": {"allow": 1}}},
    ],
}


def subnets(n: int) -> tuple[str, str]:
    return f"10.{V4}.{n}.0/24", f"fd42:{INSTANCE}:{n}::/64"


def first_host(subnet: str) -> str:
    return str(next(ipaddress.ip_network(subnet).hosts()))


def dual_stack(docker: Docker, n: int, mode: str, *options: str, internal: bool = True,
               v4: bool = True) -> str:
    name = unique("v6")
    v4_subnet, v6_subnet = subnets(n)
    argv = [DOCKER, "network", "create", "-d", DRIVER, "--ipv6", "--subnet", v6_subnet]
    if v4:
        argv += ["--subnet", v4_subnet]
    if internal:
        argv.append("--internal")
    for option in (f"ovs.bridge.mode={mode}", f"ovs.bridge.dpid={0x7E6000 + n:#x}", *options):
        argv += ["-o", option]
    created = run([*argv, name], check=False)
    assert created.returncode == 0, created.stderr
    docker.networks.append(name)
    return name


def net_status(daemon: Daemon, network: str) -> tuple[str, dict[str, Any]]:
    for net_id, value in daemon.status().items():
        if value["NetworkName"] == network:
            return net_id, value
    raise AssertionError(f"network {network} not in status")


def container_status(daemon: Daemon, network: str, container: str) -> dict[str, Any]:
    for value in net_status(daemon, network)[1]["DynamicNetworkStates"]["Containers"].values():
        if value["Name"] == container:
            return dict(value)
    return {}


def ready(daemon: Daemon, network: str, container: str) -> None:
    def has_port() -> bool:
        interfaces = (daemon.dp(network) or {}).get("interfaces") or {}
        return any(str(i.get("description", "")).startswith(container + " ")
                   for i in interfaces.values())

    wait_until(has_port, 30, 0.05, f"FAUCET port of {container}")


def ipv6_of(container: str) -> str:
    out = run([DOCKER, "inspect", "-f",
               "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}} {{end}}", container])
    return out.stdout.split()[0]


def ping6(docker: Docker, container: str, address: str, count: int = 1) -> bool:
    return docker.exec(container, "ping", "-6", "-c", str(count), "-W", "1", address).returncode == 0


def rules(flavour: str, tag: str, family: int = 6) -> list[str]:
    command = f"{'ip6tables' if family == 6 else 'iptables'}-{flavour}-save"
    names = Path("/proc/net/ip6_tables_names" if family == 6 else "/proc/net/ip_tables_names")
    if flavour == "legacy" and (not names.exists() or "nat" not in names.read_text().split()):
        return []  # listing would load the legacy modules; nothing can be there
    text = run([command], check=False).stdout
    return [line for line in text.splitlines() if tag in line and line.startswith("-A ")]


def all_rules(net_id: str) -> list[str]:
    tag = "dovesnap:" + net_id[:12]
    return [r for flavour in ("nft", "legacy") for family in (4, 6) for r in rules(flavour, tag, family)]


FORWARDING = Path("/proc/sys/net/ipv6/conf/all/forwarding")


@pytest.fixture(scope="module", autouse=True)
def host_ipv6_forwarding() -> Iterator[None]:
    """dovesnap turns IPv6 forwarding on for IPv6 gateways (as Docker does, for good); the tests
    put the host's setting back as they found it."""
    before = FORWARDING.read_text()
    try:
        yield
    finally:
        FORWARDING.write_text(before)


@pytest.fixture
def outside() -> Iterator[NetnsHost]:
    with netns_host(f"{FAR_SIDE}/64", f"{HOST_SIDE}/64") as host:
        host.serve_peer_address(PEER_PORT)
        yield host


def test_dual_stack_nat_masquerades_ipv6(dovesnap: Daemon, outside: NetnsHost,
                                         docker: Docker) -> None:
    net = dual_stack(docker, 1, "nat", "ovs.bridge.nat_acl=allowall")
    c = docker.run_container(net)
    net_id, status = net_status(dovesnap, net)
    gateway6 = first_host(subnets(1)[1])
    assert (status["GatewayIPv6"], status["SubnetIPv6"]) == (gateway6, subnets(1)[1])
    ready(dovesnap, net, c)
    assert f"default via {gateway6}" in docker.exec(c, "ip", "-6", "route").stdout
    assert wait_until(lambda: ping6(docker, c, gateway6), 20, 0.2, "IPv6 gateway")
    # The outside host has no route back: it answers only the host's own address.
    reply = docker.exec(c, "nc", "-w", "3", FAR_SIDE, str(PEER_PORT)).stdout
    assert reply.strip() == f"peer {HOST_SIDE}"
    assert ping6(docker, c, FAR_SIDE)
    assert FORWARDING.read_text().strip() == "1"
    assert container_status(dovesnap, net, c)["HostIPv6"] == ipv6_of(c)
    # The IPv6 gateway comes back when someone deletes it, usable at once (no DAD).
    bridge = status["BridgeName"]
    run(["ip", "-6", "addr", "del", f"{gateway6}/64", "dev", bridge])
    took = elapsed_until(
        lambda: f"inet6 {gateway6}/64" in run(["ip", "-6", "addr", "show", bridge]).stdout, 5)
    print(f"IPv6 gateway address restored after {took * 1000:.0f} ms")
    assert ping6(docker, c, FAR_SIDE)
    tag = "dovesnap:" + net_id[:12]
    assert any("MASQUERADE" in r and subnets(1)[1] in r for r in rules("nft", tag))
    assert rules("legacy", tag) == []  # with Docker's IPv4 rules, in nft on this host
    docker.remove_container(c)
    docker.remove_network(net)
    assert all_rules(net_id) == []


def test_routed_ipv6_is_forwarded_unchanged(dovesnap: Daemon, outside: NetnsHost,
                                            docker: Docker) -> None:
    net = dual_stack(docker, 2, "routed", v4=True)
    c = docker.run_container(net)
    net_id, _ = net_status(dovesnap, net)
    ready(dovesnap, net, c)
    assert wait_until(lambda: ping6(docker, c, first_host(subnets(2)[1])), 20, 0.2, "gateway")
    before = outside.rx_packets()
    assert not ping6(docker, c, FAR_SIDE, count=2)  # no route back: no answer...
    assert outside.rx_packets() - before >= 2  # ...but the pings got there, not masqueraded
    # An upstream router that knows the route: the outside host sees the container itself.
    outside.exec("ip", "-6", "route", "add", subnets(2)[1], "via", HOST_SIDE, check=True)
    reply = docker.exec(c, "nc", "-w", "3", FAR_SIDE, str(PEER_PORT)).stdout
    assert reply.strip() == f"peer {ipv6_of(c)}"
    assert not any("MASQUERADE" in r for r in all_rules(net_id))
    docker.remove_container(c)
    docker.remove_network(net)
    assert all_rules(net_id) == []


def test_published_ports_over_ipv6(dovesnap: Daemon, outside: NetnsHost, docker: Docker) -> None:
    # Docker hands port mappings only to endpoints on non-internal networks.
    net = dual_stack(docker, 3, "nat", internal=False)
    server = docker.run_container(net, "-p", f"{WEB_PORT}:80",
                                  "-p", f"[{HOST_SIDE}]:{WEB_PORT + 1}:80",
                                  "-p", f"[::1]:{WEB_PORT + 2}:80")
    client = docker.run_container(net)
    net_id, status = net_status(dovesnap, net)
    gateway4, gateway6 = status["Gateway"], status["GatewayIPv6"]
    ready(dovesnap, net, server)
    ready(dovesnap, net, client)
    docker.exec(server, "nc", "-ll", "-p", "80", "-e", "echo", "hi", check=True, detach=True)
    # From the host over IPv6: to the gateway and to another host address; IPv4 too.
    assert wait_until(lambda: tcp_reply(gateway6, WEB_PORT) == "hi\n", 20, 0.2, "hi via [gateway]")
    assert tcp_reply(HOST_SIDE, WEB_PORT) == "hi\n"
    assert tcp_reply(gateway4, WEB_PORT) == "hi\n"
    # From another host, to this host's IPv6 address.
    assert outside.exec("busybox", "nc", "-w", "3", HOST_SIDE, str(WEB_PORT)).stdout == "hi\n"
    # An IPv6 host address in -p is honoured: WEB_PORT + 1 is published there only.
    assert tcp_reply(HOST_SIDE, WEB_PORT + 1) == "hi\n"
    assert outside.exec("busybox", "nc", "-w", "3", HOST_SIDE, str(WEB_PORT + 1)).stdout == "hi\n"
    assert tcp_reply(gateway6, WEB_PORT + 1, timeout=1) == ""
    # [::1] cannot be DNATed (Linux never routes ::1 off the host): skipped, and the log says so.
    assert tcp_reply("::1", WEB_PORT + 2, timeout=1) == ""
    assert "Linux never routes ::1" in dovesnap.log_tail(400)
    # A container on the network reaches the published port through the IPv6 gateway.
    assert docker.exec(client, "nc", "-w", "3", gateway6, str(WEB_PORT)).stdout == "hi\n"
    published = status["PublishedPorts"][next(
        ep for ep, c in status["DynamicNetworkStates"]["Containers"].items() if c["Name"] == server)]
    assert {f"0.0.0.0:{WEB_PORT}->80/tcp", f"[::]:{WEB_PORT}->80/tcp",
            f"[{HOST_SIDE}]:{WEB_PORT + 1}->80/tcp"} == set(published)
    docker.remove_container(server)
    assert not [r for r in all_rules(net_id) if "DNAT" in r]
    assert tcp_reply(gateway6, WEB_PORT, timeout=1) == ""
    docker.remove_container(client)
    docker.remove_network(net)
    assert all_rules(net_id) == []


@pytest.fixture
def v6_acls(dovesnap: Daemon) -> Iterator[None]:
    """The operator adds IPv6 ACLs to faucet.yaml, and takes them out afterwards."""
    def write(config: dict[str, Any]) -> None:
        tmp = dovesnap.faucet_yaml.with_suffix(".ipv6-test")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(dovesnap.faucet_yaml)

    config = dovesnap.faucet_config()
    write(config | {"acls": {**(config.get("acls") or {}), **ACLS}})
    try:
        yield
    finally:
        config = dovesnap.faucet_config()
        write(config | {"acls": {k: v for k, v in (config.get("acls") or {}).items()
                                 if k not in ACLS}})


def neighbour(docker: Docker, container: str, address: str) -> str:
    return docker.exec(container, "ip", "-6", "neigh", "show", address).stdout


def test_ipv6_acls_cut_a_container_off_and_can_keep_nd(dovesnap: Daemon, v6_acls: None,
                                                      docker: Docker) -> None:
    net = dual_stack(docker, 4, "nat", "ovs.bridge.default_acl=v6cut", "ovs.bridge.nat_acl=allowall")
    cut = docker.run_container(net)  # the network's default ACL
    nd = docker.run_container(net, "--label", "dovesnap.faucet.portacl=v6ndonly")
    free = docker.run_container(net, "--label", "dovesnap.faucet.portacl=allowall")
    net_id, status = net_status(dovesnap, net)
    gateway4, gateway6 = status["Gateway"], status["GatewayIPv6"]
    for c in (cut, nd, free):
        ready(dovesnap, net, c)
    acls = {str(i.get("description", "")).split()[0]: i.get("acls_in")
            for i in (dovesnap.dp(net) or {})["interfaces"].values() if "description" in i}
    assert (acls[cut], acls[nd], acls[free]) == (["v6cut"], ["v6ndonly"], ["allowall"])
    # The network works over IPv6 for a container whose ACL allows it.
    assert wait_until(lambda: ping6(docker, free, gateway6), 20, 0.2, "IPv6 with allowall")
    for c in (cut, nd):
        assert wait_until(lambda c=c: docker.ping(c, gateway4), 20, 0.2, "IPv4 under an IPv6 ACL")
        assert not ping6(docker, c, gateway6, count=3)
    # Neighbour discovery passed where the ACL allows it, and only there.
    assert "lladdr" in neighbour(docker, nd, gateway6)
    assert "lladdr" not in neighbour(docker, cut, gateway6)
    bridge_neighbours = run(["ip", "-6", "neigh", "show", "dev", status["BridgeName"]]).stdout
    assert ipv6_of(nd) in bridge_neighbours and ipv6_of(cut) not in bridge_neighbours
    for c in (cut, nd, free):
        docker.remove_container(c)
    docker.remove_network(net)
    assert all_rules(net_id) == []


@pytest.fixture
def ipv6_router(tmp_path: Path) -> Iterator[NetnsHost]:
    """The segment's own DHCP server and IPv6 router: dnsmasq in a namespace of the test's."""
    assert shutil.which("dnsmasq"), "install dnsmasq-base (scripts/deps.sh --test)"
    v4_subnet, v6_subnet = subnets(5)
    v4_net = ipaddress.ip_network(v4_subnet)
    with netns_host(f"{first_host(v4_subnet)}/24") as host:
        host.exec("ip", "addr", "add", f"{first_host(v6_subnet)}/64", "dev", host.ns_ifname,
                  "nodad", check=True)
        # Userspace OVS passes frames as they are: the server must send whole checksums.
        host.exec("ethtool", "-K", host.ns_ifname, "tx", "off", check=True)
        log = open(tmp_path / "dnsmasq.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "dnsmasq", "--keep-in-foreground",
             "--log-facility=-", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
             f"--interface={host.ns_ifname}", "--bind-interfaces",
             f"--dhcp-range={v4_net[10]},{v4_net[60]},255.255.255.0,10m",
             f"--dhcp-range={v6_subnet.split('/')[0]},ra-only,64", "--enable-ra",
             f"--ra-param={host.ns_ifname},5,600",
             f"--dhcp-leasefile={tmp_path / 'leases'}", f"--pid-file={tmp_path / 'pid'}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: ":67 " in host.exec("ss", "-lun").stdout, 10, 0.05, "dnsmasq up")
            yield host
        finally:
            proc.kill()
            proc.wait(5)
            log.close()


def test_slaac_address_on_a_dhcp_network(dovesnap: Daemon, ipv6_router: NetnsHost,
                                         docker: Docker) -> None:
    v4_subnet, v6_subnet = subnets(5)
    name = unique("slaac")
    created = run([DOCKER, "network", "create", "-d", DRIVER, "--internal", "--ipam-driver", "null",
                   "-o", "ovs.bridge.dpid=0x7e6005", "-o", "ovs.bridge.dhcp=true",
                   "-o", "ovs.bridge.dhcp_ipv6=slaac",
                   "-o", f"ovs.bridge.add_ports={ipv6_router.host_ifname}", name], check=False)
    assert created.returncode == 0, created.stderr
    docker.networks.append(name)
    c = docker.run_container(name)

    def addresses() -> tuple[str, str] | None:
        entry = container_status(dovesnap, name, c)
        v4, v6 = entry.get("HostIP", ""), entry.get("HostIPv6", "")
        return (v4, v6) if v4 and v6 else None

    started = time.monotonic()
    v4, v6 = wait_until(addresses, 40, 0.2, "an IPv4 lease and a SLAAC address in the status")
    print(f"IPv4 lease and SLAAC address in the status {time.monotonic() - started:.1f} s "
          "after docker run returned")
    assert ipaddress.ip_address(v4) in ipaddress.ip_network(v4_subnet)
    assert ipaddress.ip_address(v6) in ipaddress.ip_network(v6_subnet)
    # The container has that address and a route from the router's advertisements.
    assert f"inet6 {v6}/64" in docker.exec(c, "ip", "-6", "addr", "show", "eth0").stdout
    assert "default via fe80:" in docker.exec(c, "ip", "-6", "route").stdout
    assert ping6(docker, c, first_host(v6_subnet), count=2)
    docker.remove_container(c)
    docker.remove_network(name)


NO_IPV6_PROBE = """
import json, sys
from dovesnap.adapters.netlink import PyRoute2Netlink
from dovesnap.adapters.sysctl import ProcSysctl
from dovesnap.errors import DovesnapError
from dovesnap.features.nat.plan import ipv6_unavailable

ifname = sys.argv[1]
result = {"refusal": ipv6_unavailable(ProcSysctl().get_interface("ipv6", ifname, "disable_ipv6"))}
for address, prefix in (("10.%s.250.1", 24), ("%s", 64)):
    try:
        PyRoute2Netlink().ensure_address(ifname, address, prefix)
        result[address] = "added"
    except Exception as err:
        result[address] = type(err).__name__
print(json.dumps(result))
"""


def test_a_host_without_ipv6_is_told_so(tmp_path: Path) -> None:
    """In a namespace with IPv6 turned off by sysctl (a host without IPv6), the check dovesnap
    makes before building an IPv6 gateway reads the real /proc and refuses, and the kernel would
    indeed refuse the address; IPv4 addresses still go on."""
    v6_gateway = first_host(f"fd42:{INSTANCE}:250::/64")
    probe = NO_IPV6_PROBE % (V4, v6_gateway)
    with netns_host() as host:
        host.exec("sysctl", "-w", "net.ipv6.conf.all.disable_ipv6=1", check=True)
        outcome = host.exec(sys.executable, "-c", probe, host.ns_ifname, check=True).stdout
    result = json.loads(outcome)
    why, fix = result["refusal"]
    assert "IPv6 is disabled" in why and "disable_ipv6=0" in fix and "without --ipv6" in fix
    assert result[f"10.{V4}.250.1"] == "added"
    assert result[v6_gateway] != "added"
