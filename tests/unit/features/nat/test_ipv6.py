"""The NAT feature with IPv6 on the driver with fakes: an IPv6 gateway, NAT66 and forwarding,
published ports in both families, and hosts without IPv6 (one clear refusal for IPv6 gateways,
IPv4 networks unharmed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.errors import ConflictError
from dovesnap.features.nat.hooks import NatHooks
from dovesnap.status.report import status
from tests.unit.factories import make_driver
from tests.unit.fake_xtables import FakeXtables
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, FakeSysctl, eventually
from tests.unit.scenario import EP, NET, NET2

IPV4 = [{"Pool": "10.9.0.0/24", "Gateway": "10.9.0.1/24"}]
IPV6 = [{"Pool": "fd42:9::/64", "Gateway": "fd42:9::1/64"}]
PORTMAP = {"com.docker.network.portmap": [
    {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080},
]}


def options(mode: str = "nat", dpid: str = "0x10", **more: str) -> dict[str, str]:
    return {"ovs.bridge.dpid": dpid, "ovs.bridge.mode": mode} | {
        "ovs.bridge." + k: v for k, v in more.items()}


class Rig:
    def __init__(self, driver: Driver, xtables: FakeXtables, sysctl: FakeSysctl,
                 netlink: FakeNetlink, ovs: FakeOvs, docker: FakeDocker) -> None:
        self.driver, self.xtables, self.sysctl = driver, xtables, sysctl
        self.netlink, self.ovs, self.docker = netlink, ovs, docker

    async def network(self, ipv4: object, ipv6: object, net_id: str = NET, **opts: str) -> None:
        self.docker.add_network(net_id, "net-" + net_id[:4])
        await self.driver.create_network(net_id, options(**opts), ipv4, ipv6, True)

    def rules6(self, needle: str = "dovesnap:") -> list[tuple[str, str, tuple[str, ...]]]:
        return self.xtables.tagged("nft", needle, family=6)


@pytest.fixture
async def rig(settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
              store: FaucetConfigStore, tmp_path: Path, request: pytest.FixtureRequest,
              ) -> AsyncIterator[Rig]:
    sysctl = getattr(request, "param", None) or FakeSysctl()
    xtables = FakeXtables(tmp_path)
    drv = make_driver(settings, ovs, netlink, docker, store,
                      [NatHooks(netlink, xtables.iptables(), sysctl, host_sockets=list)])
    yield Rig(drv, xtables, sysctl, netlink, ovs, docker)
    await drv.close()


async def test_dual_stack_nat_masquerades_both_families(rig: Rig) -> None:
    await rig.network(IPV4, IPV6)
    bridge = rig.driver.networks[NET].bridge
    assert rig.netlink.links[bridge].addresses == {("10.9.0.1", 24), ("fd42:9::1", 64)}
    masquerade6 = [spec for _, chain, spec in rig.rules6() if chain == "POSTROUTING"]
    assert masquerade6 and masquerade6[0][:2] == ("-s", "fd42:9::/64")
    assert any("MASQUERADE" in spec for _, _, spec in rig.xtables.tagged("nft"))
    # IPv6 is forwarded, as Docker turns it on for its own IPv6 networks.
    assert rig.sysctl.get_interface("ipv6", "all", "forwarding") == "1"
    await rig.driver.delete_network(NET)
    assert rig.rules6() == [] and rig.xtables.tagged("nft") == []


async def test_routed_ipv6_forwards_without_masquerade(rig: Rig) -> None:
    await rig.network([], IPV6, mode="routed")
    chains = [(table, chain) for table, chain, _ in rig.rules6()]
    assert chains == [("filter", "FORWARD"), ("filter", "FORWARD")]
    assert rig.xtables.tagged("nft") == []  # no IPv4 subnet, no IPv4 rules


async def test_published_port_in_both_families(rig: Rig) -> None:
    await rig.network(IPV4, IPV6)
    await rig.driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP, "fd42:9::5/64")
    ep_tag = f"dovesnap:{NET[:12]}:{EP[0][:12]}"
    dnat6 = [spec for _, _, spec in rig.rules6(ep_tag) if "DNAT" in spec]
    assert len(dnat6) == 2 and all("[fd42:9::5]:80" in spec for spec in dnat6)
    assert len([s for _, _, s in rig.xtables.tagged("nft", ep_tag) if "DNAT" in s]) == 2
    report = status(rig.driver.networks, "abc", rig.driver.hooks)[NET]
    assert report["PublishedPorts"][EP[0]] == ["0.0.0.0:8080->80/tcp", "[::]:8080->80/tcp"]
    assert rig.driver.endpoint_info(NET, EP[0])["AddressIPv6"] == "fd42:9::5/64"
    await rig.driver.delete_endpoint(NET, EP[0])
    assert rig.rules6(ep_tag) == []
    assert rig.rules6()  # the network's own stay


@pytest.mark.parametrize("rig", [FakeSysctl(ipv6_disabled=True)], indirect=True)
async def test_ipv6_disabled_host_refuses_ipv6_gateways_only(rig: Rig) -> None:
    with pytest.raises(ConflictError) as refused:
        await rig.network(IPV4, IPV6)
    message = refused.value.message
    assert "IPv6 gateway fd42:9::1" in message and "disable_ipv6" in message
    assert "sysctl -w net.ipv6.conf.all.disable_ipv6=0" in message
    # Nothing is left of the refused network.
    assert rig.ovs.bridges_by_name == {} and NET not in rig.driver.networks
    assert rig.xtables.tagged("nft") == [] and rig.rules6() == []
    assert rig.sysctl.get_interface("ipv6", "all", "forwarding") == "0"  # left as it was
    # IPv4 networks work, with containers (userspace: the veth is kept quiet).
    await rig.network(IPV4, [], net_id=NET2, userspace="true", dpid="0x11")
    await rig.driver.create_endpoint(NET2, EP[1], None, "10.9.0.5/24", PORTMAP)
    assert rig.driver.networks[NET2].endpoints[EP[1]].ofport
    # A flat IPv6 network needs no gateway on the host: it is built.
    await rig.network([], IPV6, net_id="c" * 32, mode="flat", dpid="0x12")


@pytest.mark.parametrize("rig", [FakeSysctl(ipv6=False)], indirect=True)
async def test_kernel_without_ipv6(rig: Rig) -> None:
    with pytest.raises(ConflictError, match=r"ipv6\.disable=1"):
        await rig.network(IPV4, IPV6)
    await rig.network(IPV4, [], net_id=NET2, userspace="true", dpid="0x11")
    await rig.driver.create_endpoint(NET2, EP[1], None, "10.9.0.5/24", PORTMAP)
    host = rig.driver.networks[NET2].endpoints[EP[1]].host_ifname
    assert rig.sysctl.values[("ipv4", host, "arp_ignore")] == "8"


async def test_userspace_veth_keeps_ipv6_off(rig: Rig) -> None:
    await rig.network(IPV4, IPV6, userspace="true")
    await rig.driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", {}, "fd42:9::5/64")
    host = rig.driver.networks[NET].endpoints[EP[0]].host_ifname
    assert rig.sysctl.get_interface("ipv6", host, "disable_ipv6") == "1"


async def test_a_restart_learns_the_addresses_from_docker(
    rig: Rig, settings: DriverSettings, store: FaucetConfigStore,
) -> None:
    from dovesnap.driver.restore import restore_from_ovs

    await rig.network(IPV4, IPV6)
    await rig.driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24", PORTMAP, "fd42:9::5/64")
    rig.docker.add_container(NET, EP[0], "c" * 64, "web", addresses=("10.9.0.5/24", "fd42:9::5/64"))
    await rig.driver.close()
    before = (rig.xtables.tagged("nft"), rig.rules6())
    second = make_driver(settings, rig.ovs, rig.netlink, rig.docker, store,
                         [NatHooks(rig.netlink, rig.xtables.iptables(), rig.sysctl, host_sockets=list)])
    await restore_from_ovs(second)
    ep = second.networks[NET].endpoints[EP[0]]
    await eventually(lambda: ep.attach_task is not None and ep.attach_task.done())
    report = status(second.networks, "abc", second.hooks)[NET]["DynamicNetworkStates"]
    assert (report["Containers"][EP[0]]["HostIP"], report["Containers"][EP[0]]["HostIPv6"]) == (
        "10.9.0.5", "fd42:9::5")
    assert (rig.xtables.tagged("nft"), rig.rules6()) == before  # nothing added twice
    await second.close()
