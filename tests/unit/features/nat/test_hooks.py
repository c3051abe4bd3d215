"""The iptables adapter on a stateful fake of both iptables flavours, and the NAT feature on the
driver with fakes: gateway addresses, rules added once, removed with their owner, nothing left on
failure."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.api.handlers import join
from dovesnap.config import host_port
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.errors import BackendError, ConflictError, DovesnapError
from dovesnap.features.nat.hooks import NatHooks
from dovesnap.features.nat.plan import PortMapping, network_rules, publish_rules
from dovesnap.model.network import NetworkSpec, parse_network
from dovesnap.plan.firewall import Rule
from tests.unit.factories import make_driver
from tests.unit.fake_xtables import FakeXtables
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, FakeSysctl, eventually
from tests.unit.scenario import EP, NET, NET2, dps, make_net

IPV4 = [{"Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}]
IPV6 = [{"Pool": "fd00:9::/64", "Gateway": "fd00:9::1/64"}]
IPV4_2 = [{"Pool": "10.8.0.0/24", "Gateway": "10.8.0.1/24"}]
PORTMAP = {"com.docker.network.portmap": [
    {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080},
    {"Proto": 17, "IP": "", "Port": 53, "HostIP": "192.0.2.1", "HostPort": 5353},
]}
RULE = Rule("filter", "FORWARD", ("-i", "br0", "-m", "comment", "--comment", "dovesnap:abc", "-j", "ACCEPT"))
OTHER = Rule("filter", "FORWARD", ("-i", "br1", "-m", "comment", "--comment", "dovesnap:abd", "-j", "ACCEPT"))


class FakeConntrack:
    """Tracked connections as (source, destination) pairs."""

    def __init__(self, *flows: tuple[str, str]) -> None:
        self.flows = set(flows)

    def forget(self, network: str) -> int:
        net = ipaddress.ip_network(network, strict=False)
        doomed = {f for f in self.flows if any(ipaddress.ip_address(a) in net for a in f)}
        self.flows -= doomed
        return len(doomed)


# --- the adapter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("docker_in", "alternative", "expected"),
    [
        (("nft",), "legacy", "nft"),
        (("legacy",), "nft", "legacy"),
        ((), "legacy", "legacy"),
        (("nft", "legacy"), "nft", "nft"),
    ],
)
def test_rules_go_where_docker_keeps_its_chains(
    tmp_path: Path, docker_in: tuple[str, ...], alternative: str, expected: str
) -> None:
    xt = FakeXtables(tmp_path, alternative, docker_in)
    assert xt.iptables().ensure([RULE]) == expected
    other = "legacy" if expected == "nft" else "nft"
    assert len(xt.tagged(expected)) == 1 and xt.tagged(other) == []


def test_ensure_adds_each_rule_once(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path)
    ipt = xt.iptables()
    for _ in range(3):
        ipt.ensure([RULE, OTHER, RULE])
    assert len(xt.tagged("nft")) == 2


def test_remove_owned_finds_rules_in_every_flavour(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path, docker_in=("nft",))
    ipt = xt.iptables()
    ipt.ensure([RULE, OTHER])
    # The host switched: Docker restarted on legacy, and the network was re-applied there too.
    xt.rules["nft"]["nat"].pop("DOCKER")
    xt.rules["legacy"]["nat"]["DOCKER"] = []
    endpoint_rule = Rule("nat", "OUTPUT", ("-m", "comment", "--comment", "dovesnap:abc:ep1",
                                           "-j", "ACCEPT"))
    assert ipt.ensure([RULE, endpoint_rule]) == "legacy"
    assert len(ipt.owned("dovesnap:abc")) == 3
    assert ipt.remove_owned("dovesnap:abc") == 3
    assert ipt.owned("dovesnap:abc") == []
    assert [spec for _, _, spec in xt.tagged("nft")] == [OTHER.spec]  # another network's rule stays
    assert ("-j", "DOCKER-USER") in xt.rules["nft"]["filter"]["FORWARD"]  # Docker's too


def test_legacy_tables_are_not_loaded_by_looking(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path, docker_in=("nft",), legacy_loaded=False)
    ipt = xt.iptables()
    ipt.ensure([RULE])
    ipt.remove_owned("dovesnap:abc")
    assert xt.names_file.read_text() == ""


def test_a_refused_rule_is_an_error_that_says_why(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path)
    xt.refuse.add("conntrack")
    rules = network_rules(parse_spec("nat"))
    with pytest.raises(BackendError, match="conntrack"):
        xt.iptables().ensure(rules)


def parse_spec(mode: str) -> NetworkSpec:
    return parse_network(NET, {"ovs.bridge.dpid": "0x1", "ovs.bridge.mode": mode}, IPV4, (),
                         ("tcp:127.0.0.1:6653",))


def test_listing_round_trips_through_delete(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path)
    ipt = xt.iptables()
    rules = publish_rules(parse_spec("nat"), EP[0], "10.9.0.5/24",
                          [PortMapping("tcp", 80, 8080, 8080)])
    ipt.ensure(rules)
    assert sorted(ipt.owned("dovesnap:" + NET[:12]), key=repr) == sorted(rules, key=repr)


# --- the feature on the driver -----------------------------------------------------------------


@pytest.fixture
def xtables(tmp_path: Path) -> FakeXtables:
    return FakeXtables(tmp_path)


@pytest.fixture
def sysctl() -> FakeSysctl:
    return FakeSysctl()


@pytest.fixture
def host_ports() -> list[BoundSocket]:
    """The host's bound sockets, as /proc/net would show them; tests add some."""
    return []


@pytest.fixture
async def nat_driver(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, xtables: FakeXtables, sysctl: FakeSysctl,
    host_ports: list[BoundSocket],
) -> AsyncIterator[Driver]:
    hooks = [NatHooks(netlink, xtables.iptables(), sysctl, host_sockets=lambda: list(host_ports))]
    drv = make_driver(settings, ovs, netlink, docker, store, hooks)
    yield drv
    await drv.close()


@pytest.mark.parametrize(("mode", "masquerade"), [("nat", True), ("routed", False)])
async def test_gateway_on_local_port_and_rules(
    nat_driver: Driver, docker: FakeDocker, netlink: FakeNetlink, xtables: FakeXtables,
    mode: str, masquerade: bool,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode=mode)
    bridge = nat_driver.networks[NET].bridge
    assert netlink.links[bridge].addresses == {("10.9.0.1", 24)}
    rules = xtables.tagged("nft", "dovesnap:" + NET[:12])
    assert any("MASQUERADE" in spec for _, _, spec in rules) is masquerade
    assert dps(nat_driver.faucet)["net1"]["interfaces"][0xFFFFFFFE]["opstatus_reconf"] is False
    await nat_driver.delete_network(NET)
    assert xtables.tagged("nft") == [] and xtables.tagged("legacy") == []


async def test_dual_stack_gets_both_gateways(
    nat_driver: Driver, docker: FakeDocker, netlink: FakeNetlink,
) -> None:
    docker.add_network(NET, "net1")
    await nat_driver.create_network(NET, {"ovs.bridge.dpid": "0x10", "ovs.bridge.mode": "nat"},
                                    IPV4, IPV6, True)
    bridge = nat_driver.networks[NET].bridge
    assert netlink.links[bridge].addresses == {("10.9.0.1", 24), ("fd00:9::1", 64)}


async def test_flat_network_has_no_rules(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables, netlink: FakeNetlink,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4)
    assert xtables.tagged("nft") == []
    assert netlink.links[nat_driver.networks[NET].bridge].addresses == set()


async def test_published_ports_follow_the_endpoint(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables, sysctl: FakeSysctl,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="nat", userspace="true")
    await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    ep_tag = f"dovesnap:{NET[:12]}:{EP[0][:12]}"
    dnat = [spec for _, chain, spec in xtables.tagged("nft", ep_tag) if "DNAT" in spec]
    assert len(dnat) == 4  # tcp: PREROUTING + OUTPUT; udp on 192.0.2.1: PREROUTING + OUTPUT
    assert any("10.9.0.5:80" in spec for spec in dnat) and any("10.9.0.5:53" in spec for spec in dnat)
    host = nat_driver.networks[NET].endpoints[EP[0]].host_ifname
    assert sysctl.values[("ipv4", host, "arp_ignore")] == "8"  # userspace: veth kept quiet
    await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)  # Docker retries
    assert len([s for _, _, s in xtables.tagged("nft", ep_tag) if "DNAT" in s]) == 4
    await nat_driver.leave(NET, EP[0])
    await nat_driver.delete_endpoint(NET, EP[0])
    assert xtables.tagged("nft", ep_tag) == []
    assert xtables.tagged("nft", "dovesnap:" + NET[:12])  # the network's own rules stay


@pytest.mark.parametrize("taken", [
    BoundSocket("tcp", "0.0.0.0", 8080),  # sshd-like, on every address
    BoundSocket("tcp", "::", 8080),  # dual-stack
    BoundSocket("tcp", "192.0.2.9", 8080),  # one of the host's addresses
    BoundSocket("udp", "0.0.0.0", 5353),
    BoundSocket("udp", "192.0.2.1", 5353),
])
async def test_a_host_port_in_use_is_refused_and_nothing_is_left(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables, ovs: FakeOvs,
    host_ports: list[BoundSocket], taken: BoundSocket,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="nat")
    host_ports.append(taken)
    with pytest.raises(ConflictError, match="port is already allocated") as info:
        await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    assert f"{host_port(taken.address, taken.port)}/{taken.proto}" in info.value.message
    assert EP[0] not in nat_driver.networks[NET].endpoints
    assert not [s for _, _, s in xtables.tagged("nft") if "DNAT" in s]
    assert list(ovs.ofports(nat_driver.networks[NET].bridge)) == []


@pytest.mark.parametrize("elsewhere", [
    BoundSocket("tcp", "127.0.0.1", 8080),  # loopback is never published over
    BoundSocket("tcp", "fd00:9::5", 8080),  # IPv6: this network publishes on IPv4 only
    BoundSocket("udp", "0.0.0.0", 8080),  # the other protocol
    BoundSocket("udp", "192.0.2.9", 5353),  # -p 192.0.2.1:5353:53 only takes 192.0.2.1
    BoundSocket("tcp", "0.0.0.0", 8081),
])
async def test_a_port_bound_where_the_rule_does_not_reach_is_no_conflict(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables, host_ports: list[BoundSocket],
    elsewhere: BoundSocket,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="nat")
    host_ports.append(elsewhere)
    await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    assert len([s for _, _, s in xtables.tagged("nft") if "DNAT" in s]) == 4


async def test_a_port_another_container_publishes_is_refused_until_it_goes(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="nat")
    await make_net(nat_driver, docker, NET2, "net2", ipv4=IPV4_2, mode="nat", dpid="0x11")
    await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    one_port = {"com.docker.network.portmap": PORTMAP["com.docker.network.portmap"][:1]}
    with pytest.raises(ConflictError, match="port is already allocated"):
        await nat_driver.create_endpoint(NET2, EP[1], None, "10.8.0.5/24", one_port)
    await nat_driver.delete_endpoint(NET, EP[0])
    await nat_driver.create_endpoint(NET2, EP[1], None, "10.8.0.5/24", one_port)
    assert len([s for _, _, s in xtables.tagged("nft") if "DNAT" in s]) == 2


async def test_ports_published_before_a_restart_still_count(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="nat")
    left = publish_rules(parse_network("c" * 64, {"ovs.bridge.dpid": "0x20", "ovs.bridge.mode": "nat"},
                                       IPV4, [], ("tcp:127.0.0.1:6653",), False),
                         "d" * 64, "10.9.0.9/24", (PortMapping("tcp", 80, 8080, 8090),))
    xtables.iptables().ensure(left)  # a rule in iptables that no endpoint in memory has
    with pytest.raises(ConflictError, match=f"dovesnap:{'c' * 12}:{'d' * 12}"):
        await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)


async def test_routed_network_publishes_nothing(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables,
) -> None:
    await make_net(nat_driver, docker, ipv4=IPV4, mode="routed")
    await nat_driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    assert not [s for _, _, s in xtables.tagged("nft") if "DNAT" in s]


async def test_refused_rule_fails_create_and_leaves_nothing(
    nat_driver: Driver, docker: FakeDocker, xtables: FakeXtables, ovs: FakeOvs,
) -> None:
    xtables.refuse.add("MASQUERADE")
    docker.add_network(NET, "net1")
    with pytest.raises(DovesnapError, match="MASQUERADE"):
        await nat_driver.create_network(
            NET, {"ovs.bridge.dpid": "0x10", "ovs.bridge.mode": "nat"}, IPV4, [], True)
    assert ovs.bridges_by_name == {}
    assert xtables.tagged("nft") == []
    assert NET not in nat_driver.networks


async def test_restore_puts_gateway_back_and_adds_no_duplicates(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, xtables: FakeXtables, sysctl: FakeSysctl,
) -> None:
    from dovesnap.driver.restore import restore_from_ovs

    first = make_driver(settings, ovs, netlink, docker, store,
                        [NatHooks(netlink, xtables.iptables(), sysctl, host_sockets=list)])
    await make_net(first, docker, ipv4=IPV4, mode="nat")
    await first.close()
    before = xtables.tagged("nft")
    bridge = first.networks[NET].bridge
    netlink.links[bridge].addresses.clear()  # a reboot: no address, and the LOCAL port down
    netlink.links[bridge].up = False
    second = make_driver(settings, ovs, netlink, docker, store,
                         [NatHooks(netlink, xtables.iptables(), sysctl, host_sockets=list)])
    await restore_from_ovs(second)
    await asyncio.sleep(0)
    assert netlink.links[bridge].addresses == {("10.9.0.1", 24)}
    assert netlink.links[bridge].up, "the gateway is unreachable while the LOCAL port is down"
    assert xtables.tagged("nft") == before
    await second.close()


async def test_gateway_comes_back_when_it_disappears(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, xtables: FakeXtables, sysctl: FakeSysctl,
) -> None:
    watches: list[FakeWatch] = []

    class FakeWatch:
        def __init__(self, on_change: Callable[[str | None], None]) -> None:
            self.on_change = on_change
            watches.append(self)

        def start(self) -> None: ...
        def close(self) -> None: ...

    hook = NatHooks(netlink, xtables.iptables(), sysctl, FakeWatch, host_sockets=list)
    drv = make_driver(settings, ovs, netlink, docker, store, [hook])
    await make_net(drv, docker, ipv4=IPV4, mode="nat")
    bridge = drv.networks[NET].bridge
    netlink.links[bridge].addresses.clear()
    netlink.links[bridge].up = False  # OVS restarted: it made the LOCAL interface again, down
    await asyncio.to_thread(watches[0].on_change, bridge)  # the netlink thread reports it
    await eventually(lambda: netlink.links[bridge].addresses == {("10.9.0.1", 24)})
    assert netlink.links[bridge].up
    hook.close()
    await drv.close()


async def test_tracked_connections_go_with_network_and_published_container(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, xtables: FakeXtables, sysctl: FakeSysctl,
) -> None:
    stale = ("10.9.0.2", "198.18.0.9")  # left by an earlier network on the same subnet
    conntrack = FakeConntrack(stale, ("172.17.0.2", "198.18.0.9"))
    hook = NatHooks(netlink, xtables.iptables(), sysctl, None, conntrack, host_sockets=list)
    drv = make_driver(settings, ovs, netlink, docker, store, [hook])
    await make_net(drv, docker, ipv4=IPV4, mode="nat")
    assert stale not in conntrack.flows
    await drv.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP)
    conntrack.flows |= {("198.18.0.9", "10.9.0.5"), ("10.9.0.6", "198.18.0.9")}
    await drv.delete_endpoint(NET, EP[0])
    assert conntrack.flows == {("172.17.0.2", "198.18.0.9"), ("10.9.0.6", "198.18.0.9")}
    await drv.delete_network(NET)
    assert conntrack.flows == {("172.17.0.2", "198.18.0.9")}  # other networks' are kept
    await drv.close()


@pytest.mark.parametrize(
    ("ipv4", "ipv6", "expected"),
    [
        (IPV4, IPV6, {"Gateway": "10.9.0.1", "GatewayIPv6": "fd00:9::1"}),
        (IPV4, [], {"Gateway": "10.9.0.1"}),
        ([], IPV6, {"GatewayIPv6": "fd00:9::1"}),  # never an IPv6 address as the IPv4 gateway
    ],
)
async def test_join_gives_each_family_its_gateway(
    nat_driver: Driver, docker: FakeDocker, ipv4: Any, ipv6: Any, expected: dict[str, str],
) -> None:
    docker.add_network(NET, "net1")
    await nat_driver.create_network(NET, {"ovs.bridge.dpid": "0x10", "ovs.bridge.mode": "routed"},
                                    ipv4, ipv6, True)
    await nat_driver.create_endpoint(NET, EP[0], None, None)
    reply = await join(nat_driver, {"NetworkID": NET, "EndpointID": EP[0], "SandboxKey": "/x"})
    assert {k: v for k, v in reply.items() if k.startswith("Gateway")} == expected
