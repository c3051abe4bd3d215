"""IPv6 by SLAAC on DHCP networks, against a fake of the containers' namespaces that keeps each
interface's IPv6 state (off as Docker leaves it; on once enabled) and addresses, and says on a
socket when they change, as the kernel's netlink does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.driver.state import Endpoint, Network
from dovesnap.features.dhcp.slaac import SlaacWatches
from dovesnap.model.names import container_veth, host_veth
from dovesnap.model.network import parse_network
from tests.unit.fakes import eventually
from tests.unit.features.dhcp.test_hooks import Rig, started

NET = "1" * 64
EP = "2" * 64
SANDBOX = "/run/docker/netns/0123abcd"


class FakeNetns6:
    """Namespaces whose interfaces get a SLAAC address when a router advertises a prefix, if
    IPv6 is on there."""

    def __init__(self) -> None:
        self.sandboxes: dict[str, str] = {}
        self.peers: dict[tuple[str, str], str] = {}
        self.enabled: set[tuple[str, str]] = set()
        self.addresses: dict[tuple[str, str], list[str]] = {}
        self.watchers: dict[str, list[socket.socket]] = {}  # netns -> kernel ends

    def sandbox_key(self, container_id: str) -> str | None:
        return self.sandboxes.get(container_id)

    def peer_ifname(self, host_ifname: str, netns_path: str) -> str | None:
        return self.peers.get((host_ifname, netns_path))

    def enable_ipv6(self, netns_path: str, ifname: str) -> None:
        self.enabled.add((netns_path, ifname))

    def ipv6_addresses(self, netns_path: str, ifname: str) -> list[str]:
        return list(self.addresses.get((netns_path, ifname), []))

    def watch_ipv6(self, netns_path: str) -> socket.socket:
        ours, kernel = socket.socketpair()
        ours.setblocking(False)
        self.watchers.setdefault(netns_path, []).append(kernel)
        return ours

    def router_advertises(self, netns_path: str, ifname: str, address: str | None) -> None:
        """A router advertisement (or its withdrawal): SLAAC on interfaces with IPv6 on."""
        if (netns_path, ifname) not in self.enabled:
            return
        self.addresses[(netns_path, ifname)] = [address] if address else []
        for kernel in self.watchers.get(netns_path, []):
            with contextlib.suppress(OSError):  # dovesnap closed its end
                kernel.send(b"RTM_NEWADDR")

    def close(self) -> None:
        for kernel in [k for ks in self.watchers.values() for k in ks]:
            kernel.close()

    def open_watches(self) -> int:
        count = 0
        for kernel in [k for ks in self.watchers.values() for k in ks]:
            try:
                kernel.send(b"?")
                count += 1
            except OSError:
                continue
        return count


def slaac_network(dhcp_ipv6: str = "slaac") -> Network:
    options = {"ovs.bridge.dpid": "0x7e4021", "ovs.bridge.dhcp": "true",
               "ovs.bridge.dhcp_ipv6": dhcp_ipv6}
    return Network(parse_network(NET, options, [], [], ("tcp:127.0.0.1:6653",), True), False,
                   "slaacnet")


def endpoint(net: Network, sandbox: str | None = SANDBOX) -> Endpoint:
    ep = Endpoint(EP, NET, host_veth(EP), container_veth(EP), 1, "0e:00:00:00:00:01")
    ep.sandbox_key = sandbox
    ep.container = ContainerInfo("c" * 64, "web_1")
    net.endpoints[EP] = ep
    return ep


@pytest.fixture
async def watches() -> AsyncIterator[tuple[SlaacWatches, FakeNetns6, list[dict[str, object]]]]:
    netns = FakeNetns6()
    events: list[dict[str, object]] = []
    slaac = SlaacWatches(netns, 2.0, lambda kind, **f: events.append({"event": kind, **f}))
    yield slaac, netns, events
    slaac.close()
    netns.close()


async def test_ipv6_is_turned_on_and_the_slaac_address_followed(
    watches: tuple[SlaacWatches, FakeNetns6, list[dict[str, object]]],
) -> None:
    slaac, netns, events = watches
    net = slaac_network()
    ep = endpoint(net)
    slaac.start(net, ep)
    netns.router_advertises(SANDBOX, "eth0", "fd42:1::e/64")
    assert ep.address_ipv6 is None  # IPv6 is still off: Docker turned it off, no SLAAC
    netns.peers[(ep.host_ifname, SANDBOX)] = "eth0"  # Docker moved and renamed the veth
    await eventually(lambda: (SANDBOX, "eth0") in netns.enabled)
    netns.router_advertises(SANDBOX, "eth0", "fd42:1::e/64")
    await eventually(lambda: ep.address_ipv6 == "fd42:1::e/64")
    assert events[-1]["event"] == "slaac_address" and events[-1]["container"] == "web_1"
    netns.router_advertises(SANDBOX, "eth0", "fd42:2::e/64")  # renumbered
    await eventually(lambda: ep.address_ipv6 == "fd42:2::e/64")
    netns.router_advertises(SANDBOX, "eth0", None)  # the router withdrew the prefix
    await eventually(lambda: ep.address_ipv6 is None)
    netns.router_advertises(SANDBOX, "eth0", "fd42:2::e/64")
    await eventually(lambda: ep.address_ipv6 == "fd42:2::e/64")
    assert await slaac.stop(EP) is True
    assert ep.address_ipv6 is None and slaac.watches == {}
    assert netns.open_watches() == 0  # the socket in the container's namespace is closed
    assert await slaac.stop(EP) is False  # idempotent


async def test_after_a_restart_the_address_is_found_again(
    watches: tuple[SlaacWatches, FakeNetns6, list[dict[str, object]]],
) -> None:
    slaac, netns, _ = watches
    net = slaac_network()
    ep = endpoint(net, sandbox=None)  # restored from OVS: no Join, Docker names the namespace
    assert ep.container is not None
    netns.sandboxes[ep.container.id] = SANDBOX
    netns.peers[(ep.host_ifname, SANDBOX)] = "eth0"
    netns.enabled.add((SANDBOX, "eth0"))
    netns.addresses[(SANDBOX, "eth0")] = ["fd42:1::e/64"]
    slaac.start(net, ep)
    slaac.start(net, ep)  # a second attach keeps the one watch
    await eventually(lambda: ep.address_ipv6 == "fd42:1::e/64")
    assert len(slaac.watches) == 1 and netns.open_watches() == 1


async def test_dhcp_hooks_follow_ipv6_only_on_slaac_networks(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    netns = FakeNetns6()
    rig.hooks.netns = netns
    rig.hooks.slaac.netns = netns
    await rig.hooks.daemon_started()
    plain, slaac = rig.network(network_id="5" * 64), slaac_network()
    for net, endpoint_id, sandbox in ((plain, "4" * 64, "/run/docker/netns/other"),
                                      (slaac, EP, SANDBOX)):
        ep = rig.endpoint(net, endpoint_id)
        ep.sandbox_key = sandbox
        netns.peers[(ep.host_ifname, sandbox)] = "eth0"
        await rig.hooks.endpoint_attached(net, ep)
    await started(rig, 2)  # udhcpc for both
    await eventually(lambda: (SANDBOX, "eth0") in netns.enabled)
    assert list(rig.hooks.slaac.watches) == [EP]
    netns.router_advertises(SANDBOX, "eth0", "fd42:1::e/64")
    ep = slaac.endpoints[EP]
    await eventually(lambda: ep.address_ipv6 == "fd42:1::e/64")
    assert plain.endpoints["4" * 64].address_ipv6 is None
    assert ("/run/docker/netns/other", "eth0") not in netns.enabled
    await rig.hooks.endpoint_left(slaac, ep)
    assert ep.address_ipv6 is None and rig.hooks.slaac.watches == {}
    await rig.hooks.endpoint_attached(slaac, ep)
    await eventually(lambda: ep.address_ipv6 == "fd42:1::e/64")
    await rig.hooks.network_deleted(slaac)
    assert rig.hooks.slaac.watches == {}
    await rig.hooks.daemon_stopping()
    await asyncio.sleep(0)
    netns.close()
