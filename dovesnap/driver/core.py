"""The Driver: Docker's libnetwork calls, each from request to OVS port and FAUCET DP.

Create checks the request (``admission``), builds the bridge (``bridges``) and runs the features'
hooks; Join finds the container (``attach``) and writes the DP (``dp_sync``). One lock per
network serialises port allocation; one lock for network creation keeps dpids unique. Blocking
adapter calls run in worker threads (``run_blocking``) so the event loop keeps answering Docker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from dovesnap.adapters.docker_api import DockerBackend
from dovesnap.adapters.faucet_store import FaucetStore
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.admission import check_faucet_config, check_other_networks
from dovesnap.driver.attach import attach_container
from dovesnap.driver.bridges import Bridges, endpoint_port_ids
from dovesnap.driver.dp_sync import DpSync
from dovesnap.driver.hooks import Hooks, Notify
from dovesnap.driver.join_policy import hold_join
from dovesnap.driver.settings import DriverSettings as DriverSettings  # also imported from here
from dovesnap.driver.state import Endpoint, Network, oper_info
from dovesnap.driver.veths import make_veth
from dovesnap.errors import ConflictError, DovesnapError, NotFoundError
from dovesnap.model.names import EXT_NETWORK_NAME
from dovesnap.model.network import NetworkSpec, parse_network
from dovesnap.model.port_policy import checked_endpoint_options, policy_external_ids
from dovesnap.plan.ports import lowest_free_ofport

log = logging.getLogger(__name__)


def _ignore(kind: str, /, **fields: Any) -> None:
    """The default ``notify``: report nothing."""


async def _loaded(timeout: float) -> bool:
    """The default ``faucet_loaded``: nothing to ask."""
    return True


async def _forwarding(bridge: str, ofport: int, forwarding: bool, timeout: float) -> bool:
    """The default ``port_forwarding``: nothing to ask."""
    return True


class Driver:
    def __init__(
        self,
        settings: DriverSettings,
        ovs: OvsBackend,
        netlink: NetlinkBackend,
        docker: DockerBackend,
        faucet: FaucetStore,
        hooks: Sequence[Hooks] = (),
    ) -> None:
        self.settings = settings
        self.hooks: list[Hooks] = list(hooks)
        self.dp_sync = DpSync(faucet, self.hooks)  # shares the hook list
        self.bridges = Bridges(ovs, netlink, settings.driver_name)
        self.ovs = ovs
        self.netlink = netlink
        self.docker = docker
        self.faucet = faucet
        self.networks: dict[str, Network] = {}
        self._create_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned_userspace = False
        # Set by the daemon: events; "does the switch forward (or drop) this port" and "does
        # FAUCET run the file as it is" (within a timeout), for Join to wait on.
        self.notify: Notify = _ignore
        self.port_forwarding: Callable[[str, int, bool, float], Awaitable[bool]] = _forwarding
        self.faucet_loaded: Callable[[float], Awaitable[bool]] = _loaded

    def attach_hooks(self, hooks: Sequence[Hooks]) -> None:
        """Plug in the features, built after the driver; they run in this order."""
        self.hooks.extend(hooks)  # in place: the DP writer shares the list

    # -- helpers -----------------------------------------------------------------------------

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
        await self.dp_sync.close()

    # -- FAUCET ------------------------------------------------------------------------------

    async def sync_dp(self, net: Network) -> None:
        """Write the network's DP as its state says; fail containers closed if FAUCET refuses.
        Need not hold ``net.lock``: the state is read when this is called."""
        await self.dp_sync.sync(net)

    # -- networks ----------------------------------------------------------------------------

    async def create_network(
        self,
        network_id: str,
        options: Mapping[str, Any],
        ipv4_data: Any,
        ipv6_data: Any,
        internal: bool,
        name: str | None = None,  # known when rebuilding a network from Docker's record
    ) -> None:
        spec = parse_network(
            network_id, options, ipv4_data, ipv6_data,
            self.settings.default_controllers, internal,
        )
        async with self._create_lock:
            if network_id in self.networks:
                return
            check_other_networks(spec, self.networks.values())
            config = await run_blocking(self.faucet.read)
            operator_dp = check_faucet_config(spec, config, self.networks.values(), name)
            for port in spec.add_ports + spec.add_copro_ports:
                if not await run_blocking(self.netlink.link_exists, port.ifname):
                    raise ConflictError(
                        f"interface {port.ifname} (from add_ports) does not exist",
                        "create it first or fix the name",
                    )
            net = Network(spec, self._userspace_for(spec), operator_dp=operator_dp)
            # Refuse options FAUCET would refuse before anything is built.
            inputs = net.dp_inputs()
            await self.faucet.check(self.dp_sync.edit(net, replace(inputs, name=name or inputs.name)))
            try:
                await self.bridges.build(net)  # connected to FAUCET once it has the DP
            except DovesnapError:
                await run_blocking(self.ovs.delete_bridge, net.bridge)
                raise
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
        await run_blocking(self.ovs.delete_bridge, net.bridge)

    async def _resolve_name(self, net: Network) -> None:
        delay = 0.01
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.name_timeout
        while net.name is None and loop.time() < deadline:
            try:
                name = await run_blocking(self.docker.network_name, net.network_id)
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
            await run_blocking(self.ovs.set_bridge_external_ids, net.bridge, {EXT_NETWORK_NAME: name})
            for hook in self.hooks:
                await hook.network_named(net)
            await self.sync_dp(net)
            await self.bridges.connect(net)

    async def delete_network(self, network_id: str) -> None:
        net = self.networks.get(network_id)
        if net is None:
            return
        async with net.lock:
            for ep in list(net.endpoints.values()):
                await self._remove_endpoint(net, ep)
            await self.dp_sync.remove(net, self.networks.values())
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
        address_ipv6: str | None = None,
    ) -> str:
        """Make the veth and OVS port; return the container side's MAC."""
        net = self.network(network_id)
        if net.dp_refused:  # no DP, no FAUCET: a container here would have no network at all
            raise ConflictError(
                (net.error or "this network has no FAUCET DP").removeprefix("dovesnap: "))
        kept = checked_endpoint_options(options or {}, net.name)  # a bad --driver-opt refuses
        async with net.lock:
            if endpoint_id in net.endpoints:
                return net.endpoints[endpoint_id].mac
            used = [p.ofport for p in await run_blocking(self.ovs.ports, net.bridge) if p.ofport]
            reserved = [p.ofport for p in net.spec.add_ports + net.spec.add_copro_ports if p.ofport]
            reserved.append(net.spec.lbport)
            reserved.extend(net.operator_dp.ports() if net.operator_dp else ())
            used.extend(ep.ofport for ep in net.endpoints.values())
            used.extend(self.dp_sync.unremoved_ports(net))
            ofport = lowest_free_ofport(used, reserved)
            host, peer = await make_veth(
                self.netlink, endpoint_id, net.spec.mtu, mac, self._veth_names())
            try:
                if net.userspace:
                    await run_blocking(self.netlink.tx_checksum_off, peer)
                # The link is up when FAUCET loads the port (see plan/faucet_dp.py); until
                # Docker moves the container's end into the container, the host has no IPv6
                # address on it that a container could reach.
                await run_blocking(self.netlink.disable_ipv6, peer)
                await run_blocking(self.netlink.set_up, peer)
                actual_mac = mac or await run_blocking(self.netlink.link_mac, peer) or ""
                ofport = await run_blocking(
                    self.ovs.add_port, net.bridge, host, ofport,
                    endpoint_port_ids(network_id, endpoint_id, policy_external_ids(kept)),
                )
            except DovesnapError:
                await run_blocking(self.ovs.delete_port, net.bridge, host)
                await run_blocking(self.netlink.delete_link, host)
                raise
            ep = Endpoint(endpoint_id, network_id, host, peer, ofport, actual_mac, address,
                          address_ipv6, awaiting_join=True)
            ep.options = dict(options or {})
            net.endpoints[endpoint_id] = ep
            try:
                for hook in self.hooks:
                    await hook.endpoint_created(net, ep, ep.options)
            except BaseException:  # any failure: leave nothing half-built
                await self._remove_endpoint(net, ep)
                raise
            return actual_mac

    def _veth_names(self) -> set[str]:
        """Interface names of every endpoint dovesnap knows, on every network."""
        return {name for net in self.networks.values() for ep in net.endpoints.values()
                for name in (ep.host_ifname, ep.container_ifname)}

    async def join(self, network_id: str, endpoint_id: str, sandbox_key: str) -> Endpoint:
        """Docker's Join: the port is settled (its policy, or closed) and FAUCET runs it before
        this returns, where Docker allows it (``join_policy.py``); the container is found and
        its labels applied in the background."""
        log.debug("join %s", endpoint_id[:12])
        net = self.network(network_id)
        ep = net.endpoints.get(endpoint_id)
        if ep is None:
            raise NotFoundError(f"endpoint {endpoint_id[:12]} is unknown", "restart the container")
        ep.sandbox_key = sandbox_key
        ep.joined = True
        if ep.attach_task is None or ep.attach_task.done():
            ep.attach_task = self._spawn(self._attach_container(net, ep))
        try:
            await hold_join(self, net, ep)  # keeps a placeholder until the policy is settled
        finally:
            ep.awaiting_join = False
        return ep

    async def _attach_container(self, net: Network, ep: Endpoint) -> None:
        """After Join: find the container, apply its labels, put its FAUCET interface in place."""
        await attach_container(self, net, ep)

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
            ep.known_policy = None
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
        await run_blocking(self.ovs.delete_port, net.bridge, ep.host_ifname)
        await run_blocking(self.netlink.delete_link, ep.host_ifname)
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

    # -- after a restart or a repair ---------------------------------------------------------

    async def adopt(self, net: Network) -> None:
        """Take on a network restored from OVS after a restart: register it, let the features
        re-apply their host state, then find its name and its containers' labels again."""
        self.networks[net.network_id] = net
        # After a reboot (or an OVS restart) OVS makes the bridge's LOCAL interface again, down.
        try:
            await run_blocking(self.netlink.set_up, net.bridge, net.spec.mtu)
        except DovesnapError as err:
            log.error("cannot bring bridge %s up: %s", net.bridge, err.message)
        await self.rerun_restored(net, "restoring")
        self.after_restore(net)

    async def rerun_restored(self, net: Network, doing: str) -> None:
        """The features' ``restored`` hooks; a failing one is logged and the rest go on."""
        for hook in self.hooks:
            try:
                await hook.restored(net)
            except DovesnapError as err:
                log.error("%s: %s %s: %s", hook.name, doing, net.bridge, err.message)

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
        return oper_info(net, ep)
