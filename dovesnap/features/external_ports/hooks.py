"""Host interfaces on network bridges: ``add_ports``, ``add_copro_ports`` and ports added by hand.

``add_ports``/``add_copro_ports`` are attached when the network is created (at the OpenFlow port
asked for if free) and marked in OVS with a ``dovesnap-role`` external id, so a restart finds them.
Ports someone adds with ``ovs-vsctl add-port`` are noticed from OVSDB change notifications: the
IDL thread pokes a debounced reconcile on the event loop, which puts them into the network's
FAUCET DP as ``Physical interface NAME`` on the network VLAN and takes them out when they go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.debounce import Debounced
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.driver.state import Network
from dovesnap.errors import BackendError, ConflictError, DovesnapError
from dovesnap.features.external_ports.plan import (
    as_external,
    attach_plan,
    attached_requests,
    hand_added,
    role_of,
)
from dovesnap.model.names import EXT_NETWORK_ID, EXT_ROLE
from dovesnap.plan.faucet_dp import ExternalPort
from dovesnap.plan.ports import preallocated_ports

log = logging.getLogger(__name__)

EXTRA_KEY = "hand_added"
RECONCILE_DELAY = 0.05
WATCHED_TABLES = ("Port", "Interface")


class DpWriter(Protocol):
    async def sync_dp(self, net: Network) -> None: ...


class ExternalPortsHooks(Hooks):
    name = "external_ports"

    def __init__(
        self,
        ovs: OvsBackend,
        netlink: NetlinkBackend,
        writer: DpWriter,
        changes: OvsChanges | None = None,
        delay: float = RECONCILE_DELAY,
    ) -> None:
        self.ovs = ovs
        self.netlink = netlink
        self._writer = writer
        self._delay = delay
        self._networks: dict[str, Network] = {}  # bridge name -> network
        self._reconciler: Debounced | None = None
        self._awaiting_ofport = False
        if changes is not None:
            changes.subscribe(self._ovs_changed)

    async def _with_macs(self, ports: dict[str, ExternalPort]) -> dict[str, ExternalPort]:
        """The same ports with their interfaces' MACs (for the status JSON)."""
        result = {}
        for name, port in ports.items():
            if not port.mac:
                mac = await run_blocking(self.netlink.link_mac, port.ifname)
                port = dataclasses.replace(port, mac=mac or "")
            result[name] = port
        return result

    # -- add_ports / add_copro_ports ---------------------------------------------------------

    async def _check_free(self, net: Network) -> None:
        """Refuse an interface that is already a port of some bridge."""
        wanted = {p.ifname for p in net.spec.add_ports + net.spec.add_copro_ports}
        if not wanted:
            return
        for bridge in await run_blocking(self.ovs.bridges):
            if bridge.name == net.bridge:
                continue
            for port in await run_blocking(self.ovs.ports, bridge.name):
                if port.name in wanted:
                    raise ConflictError(
                        f"interface {port.name} (from add_ports) is already on OVS bridge {bridge.name}",
                        "remove it there first (ovs-vsctl del-port) or pick another interface",
                    )

    async def _attach_requested(self, net: Network) -> None:
        requests = net.spec.add_ports + net.spec.add_copro_ports
        if not requests:
            return
        ports = await run_blocking(self.ovs.ports, net.bridge)
        present = attached_requests(ports, requests)
        used = [p.ofport for p in ports if p.ofport and p.name not in present]
        missing = [r for r in requests if r.ifname not in present]
        attached: list[str] = []
        try:
            # Ports without a requested number stay out of the preallocated range (kept for
            # containers, e.g. so a DHCP server's port never takes a container's place).
            asked = [r.ofport for r in requests if r.ofport]
            reserved = [net.spec.lbport,
                        *preallocated_ports(net.spec.preallocate_ports, asked, [net.spec.lbport])]
            for request, ofport in attach_plan(missing, used, reserved):
                ids = {EXT_NETWORK_ID: net.network_id, EXT_ROLE: role_of(request)}
                got = await run_blocking(self.ovs.add_port, net.bridge, request.ifname, ofport, ids)
                attached.append(request.ifname)
                await run_blocking(self.netlink.set_up, request.ifname, None)
                present[request.ifname] = as_external(request, got)
                if got != ofport:
                    log.info("%s got OpenFlow port %d (asked for %d)", request.ifname, got, ofport)
        except DovesnapError:
            for ifname in attached:
                await run_blocking(self.ovs.delete_port, net.bridge, ifname)
            raise
        net.externals.update(await self._with_macs(present))

    async def _detach_requested(self, net: Network) -> None:
        for request in net.spec.add_ports + net.spec.add_copro_ports:
            try:
                await run_blocking(self.ovs.delete_port, net.bridge, request.ifname)
            except BackendError as err:
                log.warning("cannot detach %s from %s: %s", request.ifname, net.bridge, err.what)
            net.externals.pop(request.ifname, None)

    async def network_created(self, net: Network) -> None:
        await self._check_free(net)
        await self._attach_requested(net)
        self._watch(net)

    async def restored(self, net: Network) -> None:
        try:
            await self._attach_requested(net)
        except DovesnapError as err:
            net.error = f"add_ports: {err.what}"
            log.error("network %s: %s", net.name or net.network_id[:12], net.error)
        self._watch(net)

    async def network_deleted(self, net: Network) -> None:
        self._networks.pop(net.bridge, None)
        await self._detach_requested(net)
        for name in net.extras.pop(EXTRA_KEY, {}):
            net.externals.pop(name, None)

    def status(self, net: Network) -> Mapping[str, Any]:
        hand = net.extras.get(EXTRA_KEY) or {}
        return {"HandAddedPorts": sorted(hand)} if hand else {}

    # -- ports added by hand -----------------------------------------------------------------

    def _watch(self, net: Network) -> None:
        self._networks[net.bridge] = net
        if self._reconciler is None:
            self._reconciler = Debounced(self.reconcile_all, self._delay, asyncio.get_running_loop())
        self._reconciler.trigger()

    def _ovs_changed(self, event: str, table: str, name: str) -> None:
        """IDL thread: poke the reconcile; interface updates only while an ofport is awaited."""
        if table not in WATCHED_TABLES or self._reconciler is None:
            return
        if event == "update" and table == "Interface" and not self._awaiting_ofport:
            return  # statistics and link state: not about which ports exist
        self._reconciler.trigger_threadsafe()

    async def reconcile_all(self) -> None:
        self._awaiting_ofport = False
        for net in list(self._networks.values()):
            try:
                await self.reconcile(net)
            except DovesnapError as err:
                log.debug("bridge %s not reconciled: %s", net.bridge, err.what)

    async def _hand_added_now(self, net: Network) -> dict[str, ExternalPort]:
        ports = await run_blocking(self.ovs.ports, net.bridge)
        if any(p.ofport is None for p in ports):
            self._awaiting_ofport = True
        return hand_added(ports, net.bridge)

    async def reconcile(self, net: Network) -> None:
        """Make the network's FAUCET ports match the ports someone added to its bridge by hand."""
        found = await self._hand_added_now(net)
        if found == net.extras.get(EXTRA_KEY, {}):
            return
        async with net.lock:
            if self._networks.get(net.bridge) is not net:
                return  # deleted meanwhile
            found = await self._hand_added_now(net)
            known: dict[str, ExternalPort] = net.extras.get(EXTRA_KEY, {})
            if found == known:
                return
            # Ports seen before keep the MAC read then; new ones have theirs read now.
            found = await self._with_macs({
                name: known[name] if known.get(name) == port else port
                for name, port in found.items()
            })
            for name in set(known) - set(found):
                net.externals.pop(name, None)
                log.info("hand-added port %s left bridge %s", name, net.bridge)
            for name, port in found.items():
                if known.get(name) != port:
                    log.info("hand-added port %s joins bridge %s at OpenFlow port %d",
                             name, net.bridge, port.ofport)
            net.externals.update(found)
            net.extras[EXTRA_KEY] = found
            await self._writer.sync_dp(net)
