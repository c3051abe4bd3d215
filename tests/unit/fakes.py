"""Stateful in-memory stand-ins for the adapter protocols (OVS, netlink, Docker, FAUCET reload).

They keep state the way the real systems do, so tests assert on the resulting state ("is port 3
on the bridge?") rather than on which calls were made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dovesnap.adapters.docker_api import ContainerInfo, NetworkInfo
from dovesnap.adapters.ovsdb import OvsBridge, OvsPort
from dovesnap.errors import BackendError, NameTakenError
from dovesnap.plan.bridge import BridgePlan
from dovesnap.plan.ports import choose_ofport

CONTROLLERS = ("tcp:127.0.0.1:6653", "tcp:127.0.0.1:6654")

OPERATOR_YAML = """\
# operator's FAUCET config: dovesnap must keep this comment
acls:
  # allow everything
  allowall:
    - rule:
        actions:
          allow: 1
  denyall:
    - rule:
        actions:
          allow: 0
  mirror_in:   # keep this trailing comment too
    - rule:
        actions:
          allow: 1
"""


# --- sysctl ------------------------------------------------------------------------------------


class FakeSysctl:
    """``/proc/sys/net/{ipv4,ipv6}/conf``: every setting reads "0" until set. A kernel booted
    without IPv6 has none of the ipv6 settings; a host with IPv6 turned off by sysctl reads
    ``disable_ipv6`` as 1 on every interface (``all`` and ``default`` included)."""

    def __init__(self, ipv6: bool = True, ipv6_disabled: bool = False) -> None:
        self.values: dict[tuple[str, str, str], str] = {}
        self.ipv6 = ipv6
        self.ipv6_disabled = ipv6_disabled

    def set_interface(self, family: str, ifname: str, key: str, value: str) -> None:
        if family == "ipv6" and not self.ipv6:
            raise BackendError(f"cannot set net.{family}.conf.{ifname}.{key}: no such file")
        self.values[(family, ifname, key)] = value

    def get_interface(self, family: str, ifname: str, key: str) -> str | None:
        if family == "ipv6" and not self.ipv6:
            return None
        off = (family, key) == ("ipv6", "disable_ipv6") and self.ipv6_disabled
        return self.values.get((family, ifname, key), "1" if off else "0")


# --- netlink -----------------------------------------------------------------------------------


@dataclass
class FakeLink:
    name: str
    mac: str
    mtu: int = 1500
    up: bool = False
    peer: str | None = None
    tx_checksum: bool = True
    ipv6: bool = True
    addresses: set[tuple[str, int]] = field(default_factory=set)


class FakeNetlink:
    """A kernel with links only: veth pairs, MACs, up state, TX checksum offload, addresses."""

    def __init__(self, existing: tuple[str, ...] = ()) -> None:
        self.links: dict[str, FakeLink] = {}
        self.fail_create: set[str] = set()  # host names whose veth creation fails
        self.netns_macs: dict[str, str] = {}  # host veth -> MAC set on its peer inside a netns
        self.busy_netns: set[str] = set()  # namespaces a process lives in (running containers)
        self.bounced: list[str] = []  # links taken down and up again
        self._next_mac = 1
        for name in existing:
            self.add_link(name)

    def _mac(self) -> str:
        value = self._next_mac
        self._next_mac += 1
        return "02:00:00:" + ":".join(f"{b:02x}" for b in value.to_bytes(3, "big"))

    def add_link(self, name: str, mac: str | None = None) -> FakeLink:
        link = FakeLink(name, mac or self._mac())
        self.links[name] = link
        return link

    def create_veth(self, host: str, peer: str, mtu: int, peer_mac: str | None,
                    exist_ok: bool = False) -> None:
        if host in self.fail_create:
            raise BackendError(f"cannot create veth {host}/{peer}: injected failure")
        if host in self.links or peer in self.links:  # the kernel's EEXIST
            if exist_ok and host in self.links:
                return
            raise NameTakenError(f"interface {host} or {peer} already exists")
        self.links[host] = FakeLink(host, self._mac(), mtu, up=True, peer=peer)
        self.links[peer] = FakeLink(peer, peer_mac or self._mac(), mtu, peer=host)

    def delete_link(self, name: str) -> None:
        link = self.links.pop(name, None)
        if link is not None and link.peer is not None:
            self.links.pop(link.peer, None)

    def link_exists(self, name: str) -> bool:
        return name in self.links

    def set_up(self, name: str, mtu: int | None = None) -> None:
        link = self.links.get(name)
        if link is None:
            raise BackendError(f"interface {name} does not exist")
        if mtu:
            link.mtu = mtu
        link.up = True

    def tx_checksum_off(self, name: str) -> None:
        link = self.links.get(name)
        if link is None:
            raise BackendError(f"cannot turn TX checksum offload off on {name}: no such device")
        link.tx_checksum = False

    def link_mac(self, name: str) -> str | None:
        link = self.links.get(name)
        return link.mac if link else None

    def set_peer_mac_in_netns(self, host_ifname: str, netns_path: str, mac: str) -> None:
        link = self.links.get(host_ifname)
        if link is None or link.peer is None:
            raise BackendError(f"{host_ifname} does not exist")
        self.netns_macs[host_ifname] = mac
        peer = self.links.get(link.peer)
        if peer is not None:
            peer.mac = mac

    def ensure_address(self, name: str, address: str, prefixlen: int) -> None:
        link = self.links.get(name)
        if link is None:
            raise BackendError(f"interface {name} does not exist")
        link.addresses.add((address, prefixlen))

    def links_with_prefix(self, prefix: str) -> list[str]:
        return sorted(n for n in self.links if n.startswith(prefix))

    def netns_in_use(self, netns_path: str) -> bool:
        return netns_path in self.busy_netns

    def bounce(self, name: str) -> None:
        if name not in self.links:
            raise BackendError(f"interface {name} does not exist")
        self.bounced.append(name)

    def disable_ipv6(self, name: str) -> None:
        if name not in self.links:
            raise BackendError(f"cannot turn IPv6 off on {name}: no such device")
        self.links[name].ipv6 = False


# --- OVS ---------------------------------------------------------------------------------------


@dataclass
class FakeBridge:
    plan: BridgePlan
    external_ids: dict[str, str]
    ports: dict[str, OvsPort] = field(default_factory=dict)


class FakeOvs:
    """Bridges and ports; ofport_request is honoured when free, else OVS picks the lowest free.

    With ``netlink`` given, a bridge's internal interface appears there, as it does on a host.
    """

    def __init__(self, netlink: FakeNetlink | None = None) -> None:
        self.bridges_by_name: dict[str, FakeBridge] = {}
        self.connects: dict[str, int] = {}  # bridge -> times it connected to its controllers
        self.netlink = netlink

    def ensure_bridge(self, plan: BridgePlan) -> None:
        existing = self.bridges_by_name.get(plan.name)
        if plan.controllers and (existing is None or not existing.plan.controllers):
            self.connects[plan.name] = self.connects.get(plan.name, 0) + 1  # a new connection
        ids = dict(existing.external_ids) if existing else {}
        ids.update(dict(plan.external_ids))
        ports = existing.ports if existing else {}
        self.bridges_by_name[plan.name] = FakeBridge(plan, ids, ports)
        if self.netlink is not None and not self.netlink.link_exists(plan.name):
            self.netlink.add_link(plan.name, plan.hwaddr)

    def delete_bridge(self, name: str) -> None:
        bridge = self.bridges_by_name.pop(name, None)
        if self.netlink is not None and bridge is not None:
            self.netlink.links.pop(name, None)

    def bridges(self) -> list[OvsBridge]:
        return [
            OvsBridge(name, dict(b.external_ids), b.plan.datapath_type)
            for name, b in self.bridges_by_name.items()
        ]

    def _bridge(self, name: str) -> FakeBridge:
        bridge = self.bridges_by_name.get(name)
        if bridge is None:
            raise BackendError(f"OVS has no bridge {name}")
        return bridge

    def set_bridge_external_ids(self, name: str, ids: Mapping[str, str]) -> None:
        self._bridge(name).external_ids.update(ids)

    def add_port(
        self, bridge: str, ifname: str, ofport: int, external_ids: Mapping[str, str]
    ) -> int:
        br = self._bridge(bridge)
        if self.netlink is not None and not self.netlink.link_exists(ifname):
            raise BackendError(f"OVS could not attach {ifname} to {bridge}: no such device")
        current = br.ports.get(ifname)
        if current is not None and current.ofport is not None:
            got = current.ofport
        else:
            used = [p.ofport for p in br.ports.values() if p.ofport is not None]
            got = choose_ofport(ofport, used)
        br.ports[ifname] = OvsPort(ifname, got, dict(external_ids))
        return got

    def set_port_external_ids(self, ifname: str, external_ids: Mapping[str, str]) -> None:
        for br in self.bridges_by_name.values():
            port = br.ports.get(ifname)
            if port is not None:
                br.ports[ifname] = OvsPort(ifname, port.ofport, dict(external_ids), port.type)
                return
        raise BackendError(f"OVS has no port {ifname}")

    def delete_port(self, bridge: str, ifname: str) -> None:
        br = self.bridges_by_name.get(bridge)
        if br is not None:
            br.ports.pop(ifname, None)

    def ports(self, bridge: str) -> list[OvsPort]:
        return list(self._bridge(bridge).ports.values())

    def ofports(self, bridge: str) -> dict[str, int | None]:
        return {p.name: p.ofport for p in self._bridge(bridge).ports.values()}


# --- Docker ------------------------------------------------------------------------------------


class FakeDocker:
    """Networks by id -> name and containers by (network id, endpoint id)."""

    def __init__(self, engine: str = "abcdef123456") -> None:
        self.names: dict[str, str] = {}
        self.containers: dict[tuple[str, str], ContainerInfo] = {}
        self.joining: dict[tuple[str, str], ContainerInfo] = {}
        self.networks: list[NetworkInfo] = []
        self.engine = engine
        # network id -> containers not running yet with the network in their settings
        self.starting: dict[str, list[ContainerInfo]] = {}

    def add_network(self, network_id: str, name: str) -> None:
        self.names[network_id] = name

    def add_container(
        self,
        network_id: str,
        endpoint_id: str,
        container_id: str,
        name: str,
        labels: Mapping[str, str] | None = None,
        addresses: tuple[str, str] | None = None,
    ) -> ContainerInfo:
        """``addresses``: Docker's (IPv4, IPv6) of the endpoint, as ``a.b.c.d/len``, ``x::y/len``."""
        info = ContainerInfo(container_id, name, dict(labels or {}),
                             addresses={endpoint_id: addresses} if addresses else {})
        self.containers[(network_id, endpoint_id)] = info
        return info

    def connecting(
        self,
        network_id: str,
        endpoint_id: str,
        container_id: str,
        name: str,
        labels: Mapping[str, str] | None = None,
    ) -> ContainerInfo:
        """A container just joining: the network lists its endpoint, container lists do not yet
        (Docker's order: network connect event, then the container's summary)."""
        info = ContainerInfo(container_id, name, dict(labels or {}))
        self.joining[(network_id, endpoint_id)] = info
        return info

    def network_name(self, network_id: str) -> str | None:
        return self.names.get(network_id)

    def container_for_endpoint(self, network_id: str, endpoint_id: str) -> ContainerInfo | None:
        return self.containers.get((network_id, endpoint_id))

    def container_by_id(self, container_id: str) -> ContainerInfo | None:
        for info in [*self.containers.values(), *self.joining.values()]:
            if info.id == container_id:
                return info
        return None

    def starting_containers(self, network_id: str, network_name: str) -> list[ContainerInfo]:
        """What Docker's list shows while containers start: those set with ``starting``."""
        return list(self.starting.get(network_id, ()))
    def network_endpoints(self, network_id: str) -> dict[str, str] | None:
        return {ep: info.id for (net, ep), info in [*self.containers.items(), *self.joining.items()]
                if net == network_id}

    def dovesnap_networks(self) -> list[NetworkInfo]:
        return list(self.networks)

    def engine_id(self) -> str:
        return self.engine


# --- FAUCET -------------------------------------------------------------------------------------


class CountingReloader:
    """Stands in for signalling FAUCET: counts reloads."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


# --- waiting for background work -------------------------------------------------------------


async def eventually(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true (the driver finishes some work in background tasks)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
