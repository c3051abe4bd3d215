"""Confirm that FAUCET applied what dovesnap wrote, and say so when it did not.

After every DP write (``DpSync.on_synced``) and every ``interval`` seconds, FAUCET's own
Prometheus page (which config it loaded, its load error, DP and port status), its exception log
and each bridge's flow table are read, and every container port gets a state
(``port_states.py``): ``ok`` only when its flows are installed. A network whose DP FAUCET does
not run gets ``faucet_error`` with FAUCET's reason. Changes are published as events.

``wait_flows`` lets Join wait until the switch forwards a new port (or drops a closed one), and
``wait_loaded`` until FAUCET runs the file as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from dovesnap.adapters.faucet_metrics import FaucetState, parse_faucet_state
from dovesnap.adapters.openflow import FlowReader
from dovesnap.blocking import run_blocking
from dovesnap.driver.hooks import Notify
from dovesnap.driver.port_states import FaucetView, network_problem, port_verdict
from dovesnap.driver.state import PORT_NOT_APPLIED, PORT_OK, Endpoint, Network
from dovesnap.errors import DovesnapError

log = logging.getLogger(__name__)

PORT_NOT_APPLIED_EVENT = "port_not_applied"
PORT_APPLIED_EVENT = "port_applied"
FAUCET_ERROR_EVENT = "faucet_error"
FAUCET_RECOVERED_EVENT = "faucet_recovered"


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class FaucetHealth:
    def __init__(
        self,
        networks: Callable[[], Mapping[str, Network]],
        config_path: Path | None,
        metrics: Callable[[], str] | None,
        flows: FlowReader,
        crashes: Callable[[], tuple[int, str]] | None = None,
        publish: Notify | None = None,
        interval: float = 10.0,
        grace: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        startup_grace: float = 30.0,
        reinstall: Callable[[Network, Endpoint], Coroutine[Any, Any, bool]] | None = None,
        announce: Callable[[str, int], None] | None = None,
    ) -> None:
        self._networks = networks
        self.config_path = config_path
        self._metrics = metrics
        self._flows = flows
        self._crashes = crashes
        self._publish = publish
        self.interval = interval
        self.grace = grace
        self._clock = clock
        self._changed_at: dict[str, float] = {}
        # FAUCET starts with dovesnap (seconds on a busy host): nothing is final before this.
        self._quiet_until = clock() + startup_grace
        self._told: dict[str, str] = {}  # endpoint id -> the not-applied reason last published
        self._reinstall = reinstall
        self._reinstalled: dict[str, float] = {}  # endpoint id -> when it was last put back
        # FAUCET sets a port's status (its port_status metric, which monitoring counts) only
        # from a port-status message; a port whose link came up before FAUCET loaded it never
        # gets one. ``announce`` has the switch send one (at most every ``interval``).
        self._announce = announce
        self._announced: dict[str, float] = {}  # endpoint id -> when it was last announced
        self._tasks: set[asyncio.Task[bool]] = set()
        self._crash_size: int | None = None
        self._crash = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.checks = 0

    # -- what FAUCET says ---------------------------------------------------------------------

    def _read_state(self) -> FaucetState | None:
        if self._metrics is None:
            return None
        try:
            return parse_faucet_state(self._metrics())
        except OSError as err:
            log.debug("FAUCET's metrics do not answer: %s", err)
            return None

    async def view(self) -> FaucetView:
        path = self.config_path
        digest = await run_blocking(_file_hash, path) if path is not None else ""
        state = await run_blocking(self._read_state)
        return FaucetView(state, str(path or ""), digest, self._crash,
                          askable=self._metrics is not None and path is not None)

    async def wait_loaded(self, timeout: float) -> bool:
        """True once FAUCET runs faucet.yaml as it is now; False after ``timeout`` seconds, or
        at once when FAUCET refused it (True when dovesnap cannot ask FAUCET)."""
        if self._metrics is None or self.config_path is None:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            view = await self.view()
            if view.loaded:
                return True
            if (view.state is not None and view.state.load_error) or loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def wait_flows(self, bridge: str, ofport: int, forwarding: bool, timeout: float) -> bool:
        """True once the bridge has flows for ``ofport`` (``forwarding``) or none (not), False
        after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                has = await run_blocking(self._flows.port_has_flows, bridge, ofport)
            except (DovesnapError, OSError) as err:
                log.debug("cannot read the flows of port %d of %s: %s", ofport, bridge, err)
                has = None
            if has is not None and has == forwarding:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.03)

    # -- checking -----------------------------------------------------------------------------

    def changed(self, net: Network) -> None:
        """The network's DP was just written: check it soon, and often until it settles."""
        self._changed_at[net.network_id] = self._clock()
        self._wake.set()

    def _note_crash(self) -> None:
        if self._crashes is None:
            return
        size, error = self._crashes()
        if self._crash_size is not None and size > self._crash_size and error:
            self._crash = error
            log.error("FAUCET logged an error: %s", error)
        self._crash_size = size

    async def _flow_ports(self, bridge: str) -> set[int] | None:
        try:
            return await run_blocking(self._flows.flow_in_ports, bridge)
        except (DovesnapError, OSError) as err:
            log.debug("cannot read the flows of %s: %s", bridge, err)
            return None

    async def check(self) -> bool:
        """One pass over every network; True when every port is settled (ok or not)."""
        self.checks += 1
        await run_blocking(self._note_crash)
        view = await self.view()
        all_settled = True
        healthy = True
        for net in list(self._networks().values()):
            if net.name is None:
                continue
            now = self._clock()
            settled = (now > self._quiet_until
                       and now - self._changed_at.get(net.network_id, 0.0) > self.grace)
            all_settled &= settled
            problem = network_problem(net.name, view)
            self._set_network(net, problem.reason if problem and (problem.final or settled)
                              else None)
            flows = await self._flow_ports(net.bridge) if net.endpoints else set()
            ports_up = view.state.ports_up if view.state else {}
            for ep in list(net.endpoints.values()):
                link_up = ports_up.get((net.name, ep.ofport))
                state, reason = port_verdict(ep, net.error, problem, flows, link_up, settled,
                                             view.crash)
                self._set_port(net, ep, state, reason)
                if (state == PORT_NOT_APPLIED and flows is not None and problem is None
                        and not net.error and ep.container is not None):
                    self._put_back(net, ep)  # FAUCET has the port, but missed its link-up
                elif (link_up is None and view.state is not None and flows is not None
                        and ep.ofport in flows and ep.container is not None):
                    await self._announce_port(net, ep)  # running, but FAUCET shows no status
                healthy &= state == PORT_OK
            healthy &= problem is None and net.error is None
        if healthy and view.loaded:
            self._crash = ""  # FAUCET runs everything: an old error is history
        return all_settled

    async def _announce_port(self, net: Network, ep: Endpoint) -> None:
        now = self._clock()
        if self._announce is None or now - self._announced.get(ep.endpoint_id, -1e9) < self.interval:
            return
        self._announced[ep.endpoint_id] = now
        try:
            await run_blocking(self._announce, net.bridge, ep.ofport)
        except (DovesnapError, OSError) as err:
            log.debug("cannot announce port %d of %s: %s", ep.ofport, net.bridge, err)

    def _put_back(self, net: Network, ep: Endpoint) -> None:
        """Have the port put back into FAUCET, at most once a minute."""
        now = self._clock()
        if self._reinstall is None or now - self._reinstalled.get(ep.endpoint_id, -1e9) < 60:
            return
        self._reinstalled[ep.endpoint_id] = now
        task: asyncio.Task[bool] = asyncio.get_running_loop().create_task(
            self._reinstall(net, ep))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, kind: str, **fields: Any) -> None:
        if self._publish is not None:
            self._publish(kind, **fields)

    def _set_network(self, net: Network, reason: str | None) -> None:
        if reason == net.faucet_error:
            return
        before, net.faucet_error = net.faucet_error, reason
        fields = {"network": net.name or "", "bridge": net.bridge, "dpid": net.spec.dpid_hex}
        if reason:
            log.error("network %s: %s", net.name, reason)
            self._emit(FAUCET_ERROR_EVENT, **fields, reason=reason)
        elif before:
            log.info("network %s: FAUCET runs its DP again", net.name)
            self._emit(FAUCET_RECOVERED_EVENT, **fields)

    def _set_port(self, net: Network, ep: Endpoint, state: str, reason: str) -> None:
        before = ep.state
        ep.state, ep.state_reason = state, reason
        if state == before and state != PORT_NOT_APPLIED:
            return
        fields = {"network": net.name or "", "bridge": net.bridge, "endpoint_id": ep.endpoint_id,
                  "container": ep.container.name if ep.container else "", "port": ep.ofport}
        if state == PORT_NOT_APPLIED and self._told.get(ep.endpoint_id) != reason:
            log.error("port %d on %s: %s", ep.ofport, net.name, reason)
            self._emit(PORT_NOT_APPLIED_EVENT, **fields, reason=reason)
            self._told[ep.endpoint_id] = reason
        elif state == PORT_OK and self._told.pop(ep.endpoint_id, None) is not None:
            self._emit(PORT_APPLIED_EVENT, **fields)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                settled = await self.check()
            except Exception:  # keep watching
                log.exception("checking FAUCET failed")
                settled = True
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval if settled else 1.0)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
