"""``nat`` and ``routed`` networks: the gateway on the bridge, masquerade, published ports.

The gateway address(es) of Docker's IPAM go on the bridge's LOCAL port, which FAUCET sees as the
``gateway`` interface; a netlink watch puts them back when they disappear. ``nat`` networks
masquerade their subnets and publish ``docker run -p`` ports by DNAT on every host address (or the
one given) and on the gateway; ``routed`` networks only forward. Each family gets the same: IPv4
in iptables, IPv6 in ip6tables (with IPv6 forwarding turned on, as Docker does for its own IPv6
networks). Rules are planned in ``features/nat/plan.py`` and written by ``adapters/iptables.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from dovesnap.adapters.conntrack import ConntrackBackend
from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.adapters.iptables import IptablesBackend
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.sysctl import SysctlBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.debounce import Debounced
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import BackendError, ConflictError, DovesnapError
from dovesnap.features.nat.claims import conflict, published_ports
from dovesnap.features.nat.plan import (
    PortMapping,
    gateway_addresses,
    ipv6_unavailable,
    network_rules,
    parse_port_mappings,
    publish_rules,
    published,
)
from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.model.network import ipv6_gateway_address
from dovesnap.plan.firewall import TAG_PREFIX, endpoint_tag, network_tag

log = logging.getLogger(__name__)

EXTRA_KEY = "nat"
RESTORE_DELAY = 0.1
GATEWAY_MODES = ("nat", "routed")


class Watch(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


WatchFactory = Callable[[Callable[[str | None], None]], Watch]
HostSockets = Callable[[], Sequence[BoundSocket]]


class NatHooks(Hooks):
    name = "nat"

    def __init__(
        self,
        netlink: NetlinkBackend,
        iptables: IptablesBackend,
        sysctl: SysctlBackend,
        watch_factory: WatchFactory | None = None,
        conntrack: ConntrackBackend | None = None,
        *,
        host_sockets: HostSockets,
    ) -> None:
        self.conntrack = conntrack
        self.host_sockets = host_sockets  # the host's bound ports, for -p conflicts
        self._claiming = asyncio.Lock()  # one -p check-and-publish at a time, across networks
        self.netlink = netlink
        self.iptables = iptables
        self.sysctl = sysctl
        self._watch_factory = watch_factory
        self._watch: Watch | None = None
        self._restore: Debounced | None = None
        self._gateways: dict[str, Network] = {}  # bridge name -> network with a gateway

    # -- networks ----------------------------------------------------------------------------

    async def _check_ipv6(self, net: Network) -> None:
        """Refuse an IPv6 gateway the host cannot have, with one message; turn forwarding on."""
        gateway6 = ipv6_gateway_address(net.spec)
        if gateway6 is None or not gateway_addresses(net.spec):
            return
        state = await run_blocking(self.sysctl.get_interface, "ipv6", net.bridge, "disable_ipv6")
        refusal = ipv6_unavailable(state)
        if refusal is not None:
            why, fix = refusal
            raise ConflictError(f"cannot give bridge {net.bridge} its IPv6 gateway {gateway6}: {why}",
                                fix)
        if await run_blocking(self.sysctl.get_interface, "ipv6", "all", "forwarding") != "1":
            await run_blocking(self.sysctl.set_interface, "ipv6", "all", "forwarding", "1")
            log.warning(
                "turned IPv6 forwarding on (net.ipv6.conf.all.forwarding=1) for %s, as Docker does "
                "for IPv6 networks; interfaces with accept_ra=1 now ignore router advertisements "
                "(set accept_ra=2 on an uplink that learns its IPv6 route from them)",
                net.name or net.network_id[:12])

    async def _apply_network(self, net: Network) -> None:
        await self._check_ipv6(net)
        for address, prefix in gateway_addresses(net.spec):
            try:
                await run_blocking(self.netlink.ensure_address, net.bridge, address, prefix)
            except DovesnapError:
                raise
            except Exception as err:  # netlink's own errors: say what failed, undo the network
                raise BackendError(
                    f"cannot put gateway {address}/{prefix} on bridge {net.bridge}: {err}",
                    "check that no other interface holds that address",
                ) from None
        state: dict[str, Any] = net.extras.setdefault(EXTRA_KEY, {})
        if net.spec.mode in GATEWAY_MODES:
            # The gateway's MAC, for the status JSON (the LOCAL port among ExternalPorts).
            mac = net.spec.ovs_local_mac or await run_blocking(self.netlink.link_mac, net.bridge)
            state["local_mac"] = mac or ""
        rules = network_rules(net.spec)
        if rules:
            state["flavour"] = await run_blocking(self.iptables.ensure, rules)
        if gateway_addresses(net.spec):
            self._gateways[net.bridge] = net
            self._start_watch()

    async def _forget_connections(self, network: str | None) -> None:
        if self.conntrack is None or network is None:
            return
        try:
            await run_blocking(self.conntrack.forget, network)
        except Exception as err:  # stale entries are a nuisance, not a reason to fail
            log.warning("cannot clear tracked connections of %s: %s", network, err)

    async def network_created(self, net: Network) -> None:
        if gateway_addresses(net.spec):
            for subnet in net.spec.subnets:  # a start clean of earlier networks
                await self._forget_connections(subnet)
        await self._apply_network(net)

    async def restored(self, net: Network) -> None:
        await self._apply_network(net)

    async def network_deleted(self, net: Network) -> None:
        self._gateways.pop(net.bridge, None)
        await run_blocking(self.iptables.remove_owned, network_tag(net.network_id))
        if gateway_addresses(net.spec):
            for subnet in net.spec.subnets:
                await self._forget_connections(subnet)

    # -- published ports ---------------------------------------------------------------------

    async def _publish(self, net: Network, ep: Endpoint) -> None:
        mappings: tuple[PortMapping, ...] = ep.extras.get(EXTRA_KEY, ())
        rules = publish_rules(net.spec, ep.endpoint_id, ep.address, mappings, ep.address_ipv6)
        if rules:
            await run_blocking(self.iptables.ensure, rules)

    async def _unpublish(self, net: Network, ep: Endpoint) -> None:
        if ep.extras.get(EXTRA_KEY) or net.spec.mode == "nat":
            tag = endpoint_tag(net.network_id, ep.endpoint_id)
            await run_blocking(self.iptables.remove_owned, tag)
            for address in (ep.address, ep.address_ipv6):
                if ep.extras.get(EXTRA_KEY) and address:
                    # A UDP flow would keep its DNAT to this container after it is gone.
                    await self._forget_connections(str(ipaddress.ip_interface(address).ip))

    async def _quiet_host_veth(self, ep: Endpoint) -> None:
        """Keep the host's IP stack off a container's veth, so only the LOCAL port is the gateway.

        On a userspace (netdev) bridge OVS reads the veth through a packet socket and the kernel
        sees the same frames: it would answer the container's ARP for the gateway from the veth
        and route its traffic around FAUCET.
        """
        await run_blocking(self.sysctl.set_interface, "ipv4", ep.host_ifname, "arp_ignore", "8")
        # A kernel without IPv6 (booted with ipv6.disable=1) has no such setting, nor the risk.
        if await run_blocking(self.sysctl.get_interface, "ipv6", ep.host_ifname,
                              "disable_ipv6") not in (None, "1"):
            await run_blocking(self.sysctl.set_interface, "ipv6", ep.host_ifname, "disable_ipv6", "1")

    async def endpoint_created(self, net: Network, ep: Endpoint, options: Mapping[str, Any]) -> None:
        if net.userspace:  # flat networks too: no host address may answer a container
            await self._quiet_host_veth(ep)
        ep.extras[EXTRA_KEY] = parse_port_mappings(options)
        if ep.extras[EXTRA_KEY] and net.spec.mode != "nat":
            log.warning("network %s is %s: published ports only work on nat networks",
                        net.name or net.network_id[:12], net.spec.mode)
        async with self._claiming:
            await self._refuse_taken_ports(net, ep)
            await self._publish(net, ep)

    async def _refuse_taken_ports(self, net: Network, ep: Endpoint) -> None:
        """ConflictError, as Docker's "port is already allocated", for a host port in use."""
        families = {
            mapping: {r.family for r in publish_rules(
                net.spec, ep.endpoint_id, ep.address, (mapping,), ep.address_ipv6)}
            for mapping in ep.extras[EXTRA_KEY]
        }
        if not any(families.values()):
            return
        sockets = await run_blocking(self.host_sockets)
        published = published_ports(await run_blocking(self.iptables.tagged, TAG_PREFIX))
        own = endpoint_tag(net.network_id, ep.endpoint_id)
        for mapping, taken_in in families.items():
            why = conflict(mapping, taken_in, sockets, published, own)
            if why:
                raise ConflictError(why, "publish another host port (-p OTHER:INSIDE), or free it")

    async def endpoint_attached(self, net: Network, ep: Endpoint) -> None:
        await self._publish(net, ep)  # idempotent; puts rules back after a Leave/Join

    async def endpoint_left(self, net: Network, ep: Endpoint) -> None:
        await self._unpublish(net, ep)

    async def endpoint_deleted(self, net: Network, ep: Endpoint) -> None:
        await self._unpublish(net, ep)

    def status(self, net: Network) -> Mapping[str, Any]:
        fields: dict[str, Any] = {}
        if net.spec.mode in GATEWAY_MODES:
            # As the Go original lists it: the bridge's LOCAL port, by the bridge's name.
            local = {"Name": net.bridge, "OFPort": LOCAL_OFPORT,
                     "MacAddress": net.extras.get(EXTRA_KEY, {}).get("local_mac", "")}
            fields["DynamicNetworkStates"] = {"ExternalPorts": {net.bridge: local}}
        ports = {
            ep.endpoint_id: published(net.spec, ep.address, ep.extras.get(EXTRA_KEY, ()),
                                      ep.address_ipv6)
            for ep in net.endpoints.values() if ep.extras.get(EXTRA_KEY)
        }
        if ports:
            fields["PublishedPorts"] = ports
        return fields

    # -- keeping the gateway address ---------------------------------------------------------

    def _start_watch(self) -> None:
        if self._watch is not None or self._watch_factory is None:
            return
        loop = asyncio.get_running_loop()
        self._restore = Debounced(self._restore_gateways, RESTORE_DELAY, loop)
        restore = self._restore

        def changed(ifname: str | None) -> None:
            if ifname is None or ifname in self._gateways:
                restore.trigger_threadsafe()

        try:
            self._watch = self._watch_factory(changed)
            self._watch.start()
        except (OSError, DovesnapError) as err:
            log.warning("cannot watch netlink; gateway addresses are not restored: %s", err)

    async def _restore_gateways(self) -> None:
        for net in list(self._gateways.values()):
            async with net.lock:
                if self._gateways.get(net.bridge) is not net:
                    continue
                if not await run_blocking(self.netlink.link_exists, net.bridge):
                    continue  # deleted: the repair that rebuilds the bridge puts it all back
                try:  # OVS makes the LOCAL interface again (down) when it restarts
                    await run_blocking(self.netlink.set_up, net.bridge, net.spec.mtu)
                except (BackendError, OSError) as err:
                    log.debug("bridge %s not up yet: %s", net.bridge, err)
                for address, prefix in gateway_addresses(net.spec):
                    try:
                        await run_blocking(
                            self.netlink.ensure_address, net.bridge, address, prefix
                        )
                    except (BackendError, OSError) as err:
                        log.debug("gateway %s on %s not restored yet: %s", address, net.bridge, err)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        if self._restore is not None:
            self._restore.cancel()
