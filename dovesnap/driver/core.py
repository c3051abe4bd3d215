"""Orchestration: libnetwork requests -> model -> plan -> adapters.

One lock per network serialises port allocation; one lock for network creation keeps dpids unique.
Blocking adapter calls run in worker threads so the event loop keeps answering Docker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dovesnap.adapters.docker_api import DockerBackend
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.driver.dp_sync import DpSync
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import (
    BackendError,
    ConflictError,
    DovesnapError,
    LabelError,
    NotFoundError,
)
from dovesnap.model.labels import apply_mac_prefix, parse_labels
from dovesnap.model.names import (
    EXT_ENDPOINT_ID,
    EXT_NETWORK_ID,
    EXT_NETWORK_NAME,
    container_veth,
    host_veth,
)
from dovesnap.model.network import NetworkSpec, parse_network
from dovesnap.plan.bridge import plan_bridge
from dovesnap.plan.faucet_dp import (
    DpInputs,
    build_vlans,
    check_acls_exist,
    dp_names_with_id,
    egress_vlan_name,
    remove_dp,
)
from dovesnap.plan.ports import lowest_free_ofport

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DriverSettings:
    default_controllers: tuple[str, ...]
    kernel_datapath: bool = True
    attach_timeout: float = 60.0
    name_timeout: float = 60.0
    driver_name: str = "dovesnap"


class Driver:
    def __init__(
        self,
        settings: DriverSettings,
        ovs: OvsBackend,
        netlink: NetlinkBackend,
        docker: DockerBackend,
        faucet: FaucetConfigStore,
        hooks: Sequence[Hooks] = (),
    ) -> None:
        self.settings = settings
        self.hooks: list[Hooks] = list(hooks)
        self.dp_sync = DpSync(faucet, self.hooks)  # shares the hook list
        self.ovs = ovs
        self.netlink = netlink
        self.docker = docker
        self.faucet = faucet
        self.networks: dict[str, Network] = {}
        self._create_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned_userspace = False

    # -- helpers -----------------------------------------------------------------------------

    async def _io(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(func, *args)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def network(self, network_id: str) -> Network:
        net = self.networks.get(network_id)
        if net is None:
            raise NotFoundError(
                f"network {network_id[:12]} is not a dovesnap network known to this daemon",
                "recreate it with docker network create -d dovesnap",
            )
        return net

    def _userspace_for(self, spec: NetworkSpec) -> bool:
        if spec.userspace:
            return True
        if not self.settings.kernel_datapath:
            if not self._warned_userspace:
                log.warning(
                    "no openvswitch kernel datapath on this host: using the userspace (netdev) "
                    "datapath for dovesnap bridges"
                )
                self._warned_userspace = True
            return True
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- FAUCET ------------------------------------------------------------------------------

    def _dp_edit(self, net: Network, inputs: DpInputs) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
        return self.dp_sync.edit(net, inputs)

    def _undo_edits(self, net: Network, config: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.dp_sync.undo_edits(net, config)

    async def sync_dp(self, net: Network) -> None:
        """Write the network's DP as its state says; fail containers closed if FAUCET refuses."""
        await self.dp_sync.sync(net)

    # -- networks ----------------------------------------------------------------------------

    async def create_network(
        self,
        network_id: str,
        options: Mapping[str, Any],
        ipv4_data: Any,
        ipv6_data: Any,
        internal: bool,
    ) -> None:
        spec = parse_network(
            network_id, options, ipv4_data, ipv6_data,
            self.settings.default_controllers, internal,
        )
        async with self._create_lock:
            if network_id in self.networks:
                return
            for other in self.networks.values():
                if other.spec.dpid == spec.dpid:
                    raise ConflictError(
                        f"option ovs.bridge.dpid: {spec.dpid_hex} is already used by network "
                        f"{other.name or other.network_id[:12]}",
                        "choose a dpid no other dovesnap network uses",
                    )
                out_acls = (other.spec.vlan_out_acl.default, spec.vlan_out_acl.default)
                if other.spec.vlan == spec.vlan and all(out_acls) and out_acls[0] != out_acls[1]:
                    raise ConflictError(
                        f"option ovs.bridge.vlan_out_acl: VLAN {spec.vlan} already has output ACL "
                        f"{','.join(out_acls[0])} from network {other.name or other.network_id[:12]}",
                        "FAUCET keeps one output ACL per VLAN: use the same ACL or another VLAN",
                    )
                if other.spec.bridge_name == spec.bridge_name:
                    raise ConflictError(
                        f"option ovs.bridge.name: bridge {spec.bridge_name} is already in use"
                    )
            config = await self._io(self.faucet.read)
            clash = dp_names_with_id(config, spec.dpid)
            if clash:
                raise ConflictError(
                    f"option ovs.bridge.dpid: {spec.dpid_hex} is already the dp_id of FAUCET DP "
                    f"{clash[0]}",
                    "choose another dpid",
                )
            check_acls_exist(spec, config)
            for port in spec.add_ports + spec.add_copro_ports:
                if not await self._io(self.netlink.link_exists, port.ifname):
                    raise ConflictError(
                        f"interface {port.ifname} (from add_ports) does not exist",
                        "create it first or fix the name",
                    )
            net = Network(spec, self._userspace_for(spec))
            # Refuse options FAUCET would refuse before anything is built.
            await self.faucet.check(self._dp_edit(net, net.dp_inputs()))
            await self._build_bridge(net)
            try:
                for hook in self.hooks:
                    await hook.network_created(net)
            except BaseException:  # any failure: leave nothing half-built
                await self._undo_network(net)
                raise
            self.networks[network_id] = net
        self._spawn(self._resolve_name(net))

    async def _undo_network(self, net: Network) -> None:
        for hook in reversed(self.hooks):
            try:
                await hook.network_deleted(net)
            except Exception:  # undo as much as possible
                log.exception("undoing %s for network %s failed", hook.name, net.network_id[:12])
        await self._io(self.ovs.delete_bridge, net.bridge)

    async def _build_bridge(self, net: Network) -> None:
        plan = plan_bridge(net.spec, net.userspace, net.name, self.settings.driver_name)
        if net.name is None:
            # Connected to FAUCET only once FAUCET has its DP (set_network_name): a switch that
            # connects first, and ports added during the handshake, can be lost by FAUCET.
            plan = dataclasses.replace(plan, controllers=())
        try:
            await self._io(self.ovs.ensure_bridge, plan)
            await self._io(self.netlink.set_up, plan.name, net.spec.mtu)
        except DovesnapError:
            await self._io(self.ovs.delete_bridge, plan.name)
            raise

    async def _resolve_name(self, net: Network) -> None:
        delay = 0.01
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.name_timeout
        while net.name is None and loop.time() < deadline:
            try:
                name = await self._io(self.docker.network_name, net.network_id)
            except Exception as err:  # Docker may be busy or restarting
                log.debug("network name lookup failed: %s", err)
                name = None
            if name:
                await self.set_network_name(net, name)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        if net.name is None:
            net.error = "Docker never reported this network's name; no FAUCET DP written"
            log.error("network %s: %s", net.network_id[:12], net.error)

    async def set_network_name(self, net: Network, name: str) -> None:
        async with net.lock:
            net.name = name
            net.named.set()
            await self._io(self.ovs.set_bridge_external_ids, net.bridge, {EXT_NETWORK_NAME: name})
            for hook in self.hooks:
                await hook.network_named(net)
            await self.sync_dp(net)
            plan = plan_bridge(net.spec, net.userspace, name, self.settings.driver_name)
            await self._io(self.ovs.ensure_bridge, plan)  # now connect it to its controllers

    async def delete_network(self, network_id: str) -> None:
        net = self.networks.get(network_id)
        if net is None:
            return
        async with net.lock:
            for ep in list(net.endpoints.values()):
                await self._remove_endpoint(net, ep)
            if net.name is not None:
                name = net.name
                shared = any(
                    o is not net and o.spec.vlan == net.spec.vlan and build_vlans(o.dp_inputs())
                    for o in self.networks.values()
                )
                vlan_names = (
                    [egress_vlan_name(net.spec)]
                    if build_vlans(net.dp_inputs()) and not shared
                    else []
                )
                await self.faucet.update(
                    lambda cfg: self._undo_edits(net, remove_dp(cfg, name, vlan_names))
                )
            await self._undo_network(net)
            self.networks.pop(network_id, None)

    # -- endpoints ---------------------------------------------------------------------------

    async def create_endpoint(
        self,
        network_id: str,
        endpoint_id: str,
        mac: str | None,
        address: str | None,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Make the veth and OVS port; return the container side's MAC."""
        net = self.network(network_id)
        host, peer = host_veth(endpoint_id), container_veth(endpoint_id)
        async with net.lock:
            if endpoint_id in net.endpoints:
                return net.endpoints[endpoint_id].mac
            used = [p.ofport for p in await self._io(self.ovs.ports, net.bridge) if p.ofport]
            reserved = [p.ofport for p in net.spec.add_ports + net.spec.add_copro_ports if p.ofport]
            reserved.append(net.spec.lbport)
            used.extend(ep.ofport for ep in net.endpoints.values())
            ofport = lowest_free_ofport(used, reserved)
            try:
                await self._io(self.netlink.create_veth, host, peer, net.spec.mtu, mac)
                if net.userspace:
                    await self._io(self.netlink.tx_checksum_off, peer)
                actual_mac = mac or await self._io(self.netlink.link_mac, peer) or ""
                ofport = await self._io(self.ovs.add_port, net.bridge, host, ofport, {
                    EXT_NETWORK_ID: network_id, EXT_ENDPOINT_ID: endpoint_id,
                })
            except DovesnapError:
                await self._io(self.ovs.delete_port, net.bridge, host)
                await self._io(self.netlink.delete_link, host)
                raise
            ep = Endpoint(endpoint_id, network_id, host, peer, ofport, actual_mac, address)
            ep.options = dict(options or {})
            net.endpoints[endpoint_id] = ep
            try:
                for hook in self.hooks:
                    await hook.endpoint_created(net, ep, ep.options)
            except BaseException:  # any failure: leave nothing half-built
                await self._remove_endpoint(net, ep)
                raise
            return actual_mac

    def join(self, network_id: str, endpoint_id: str, sandbox_key: str) -> Endpoint:
        log.debug("join %s", endpoint_id[:12])
        net = self.network(network_id)
        ep = net.endpoints.get(endpoint_id)
        if ep is None:
            raise NotFoundError(f"endpoint {endpoint_id[:12]} is unknown", "restart the container")
        ep.sandbox_key = sandbox_key
        ep.joined = True
        if ep.attach_task is None or ep.attach_task.done():
            ep.attach_task = self._spawn(self._attach_container(net, ep))
        return ep

    async def _attach_container(self, net: Network, ep: Endpoint) -> None:
        """After Join: find the container, apply its labels, put its FAUCET interface in place."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.attach_timeout
        delay = 0.01
        container = None
        while container is None and loop.time() < deadline:
            try:
                if ep.container_hint:
                    container = await self._io(self.docker.container_by_id, ep.container_hint)
                if container is None:
                    container = await self._io(
                        self.docker.container_for_endpoint, net.network_id, ep.endpoint_id
                    )
            except Exception as err:
                log.debug("container lookup failed: %s", err)
            if container is None:
                # Woken at once by Docker's connect event; polling is the fallback.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ep.hinted.wait(), delay)
                delay = min(delay * 2, 0.25)
        if container is None:
            log.error("no container found for endpoint %s", ep.endpoint_id[:12])
            return
        log.debug("endpoint %s is container %s", ep.endpoint_id[:12], container.name)
        if net.name is None:
            await asyncio.wait_for(net.named.wait(), self.settings.name_timeout)
        async with net.lock:
            if ep.endpoint_id not in net.endpoints:
                return
            ep.container = container
            try:
                ep.labels = parse_labels(container.labels, net.name)
            except LabelError as err:
                ep.fail_closed = err.what
                log.error("container %s fails closed: %s", container.name, err.what)
            if ep.labels and ep.labels.mac_prefix and ep.sandbox_key:
                await self._apply_mac_prefix(ep)
            for hook in self.hooks:
                try:
                    await hook.endpoint_attached(net, ep)
                except DovesnapError as err:
                    ep.fail_closed = f"{hook.name}: {err.what}"
                    log.error("container %s fails closed: %s", container.name, ep.fail_closed)
            await self.sync_dp(net)
        log.info("container %s on %s at port %d", container.name, net.name, ep.ofport)

    async def _apply_mac_prefix(self, ep: Endpoint) -> None:
        assert ep.labels is not None and ep.sandbox_key is not None
        new_mac = apply_mac_prefix(ep.mac, ep.labels.mac_prefix)
        for _ in range(50):  # Docker moves the veth into the namespace just after Join returns
            try:
                await self._io(
                    self.netlink.set_peer_mac_in_netns, ep.host_ifname, ep.sandbox_key, new_mac
                )
                ep.mac = new_mac
                return
            except (BackendError, OSError) as err:
                last = err
                await asyncio.sleep(0.1)
        ep.fail_closed = f"cannot apply mac_prefix: {last}"

    async def leave(self, network_id: str, endpoint_id: str) -> None:
        net = self.network(network_id)
        ep = net.endpoints.get(endpoint_id)
        if ep is None:
            return
        if ep.attach_task is not None:
            ep.attach_task.cancel()
        async with net.lock:
            for hook in reversed(self.hooks):
                try:
                    await hook.endpoint_left(net, ep)
                except Exception:
                    log.exception("%s: leave of %s failed", hook.name, endpoint_id[:12])
            ep.joined = False
            ep.container = None
            ep.labels = None
            ep.fail_closed = None
            await self.sync_dp(net)

    async def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        net = self.networks.get(network_id)
        if net is None:
            return
        async with net.lock:
            ep = net.endpoints.get(endpoint_id)
            if ep is None:
                return
            await self._remove_endpoint(net, ep)
            await self.sync_dp(net)

    async def _remove_endpoint(self, net: Network, ep: Endpoint) -> None:
        if ep.attach_task is not None:
            ep.attach_task.cancel()
        for hook in reversed(self.hooks):
            try:
                await hook.endpoint_deleted(net, ep)
            except Exception:
                log.exception("%s: delete of endpoint %s failed", hook.name, ep.endpoint_id[:12])
        await self._io(self.ovs.delete_port, net.bridge, ep.host_ifname)
        await self._io(self.netlink.delete_link, ep.host_ifname)
        net.endpoints.pop(ep.endpoint_id, None)

    def note_connect(self, network_id: str, container_id: str) -> None:
        """Docker says ``container_id`` joined ``network_id``: if only one endpoint there waits
        for its container, that is it."""
        net = self.networks.get(network_id)
        if net is None:
            return
        waiting = [
            ep for ep in net.endpoints.values()
            if ep.joined and ep.container is None and ep.container_hint is None
        ]
        if len(waiting) == 1:
            waiting[0].container_hint = container_id
            waiting[0].hinted.set()

    def after_restore(self, net: Network) -> None:
        """Start the background work a restored network needs (name, containers' labels)."""
        if net.name is None:
            self._spawn(self._resolve_name(net))
        for ep in net.endpoints.values():
            ep.joined = True
            ep.attach_task = self._spawn(self._attach_container(net, ep))

    def endpoint_info(self, network_id: str, endpoint_id: str) -> dict[str, Any]:
        net = self.network(network_id)
        ep = net.endpoints.get(endpoint_id)
        if ep is None:
            raise NotFoundError(f"endpoint {endpoint_id[:12]} is unknown")
        return {
            "BridgeName": net.bridge,
            "HostInterface": ep.host_ifname,
            "ContainerInterface": ep.container_ifname,
            "OFPort": ep.ofport,
            "MacAddress": ep.mac,
            "Address": ep.address or "",
            "FailClosed": ep.fail_closed or "",
        }
