"""Before Join returns: the policy of a container Docker has not named yet, and FAUCET running it.

Docker's Join names no container, and the container starts right after Join returns, so a port
written only once the container is known (its labels read) misses the first packets: that is the
first ping lost to an ARP retry. But Docker's container list answers during Join (it never waits
for the starting container's lock) and shows every container that may be starting on the
network, with its labels. When all of them would get the same port policy on this network (the
common case: nobody uses labels), that is this container's policy whichever it is, and its port
is written with it before Join returns. When they disagree, or the sandbox already has a process
in it (``docker network connect`` to a running container), the policy is unknown: the port is
written closed (a preallocated port's placeholder settings are taken away too) and opens once
the container's own labels are read. Either way Join waits, bounded, until FAUCET runs the
written config, so the port forwards (or stays closed) as soon as its link comes up. A container
that takes a placeholder over as it is (its port differs only in description: ``takes_over_as_is``
in ``plan/faucet_dp.py``) waits for its port's flows alone: FAUCET runs them already, and the new
name goes out later with the next write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.blocking import run_blocking
from dovesnap.driver.reinstall import reinstall_port
from dovesnap.driver.settings import DriverParts
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import LabelError, OptionError
from dovesnap.model.labels import ContainerLabels
from dovesnap.model.names import container_description
from dovesnap.model.port_policy import PortSettings, effective_labels
from dovesnap.plan.faucet_dp import preallocated_range, takes_over_as_is

log = logging.getLogger(__name__)

FIRST_WAIT = 1.5  # seconds for a new port's flows before it is put back into FAUCET


def agreed_policy(candidates: Sequence[ContainerInfo], network_name: str,
                  options: Mapping[str, str] | None = None,
                  operator: PortSettings | None = None) -> ContainerLabels | None:
    """The port policy (ACLs, mirroring) every candidate would get on the network (its labels,
    with the endpoint's options and the operator's settings over them), or None when there are
    none, they differ, or one's labels are malformed (it would fail closed)."""
    policies = set()
    for container in candidates:
        try:
            labels = effective_labels(container.labels, options or {},
                                      operator or PortSettings(), network_name)
        except (LabelError, OptionError):
            return None
        policies.add(ContainerLabels(labels.acls, labels.mirror))
    return policies.pop() if len(policies) == 1 else None


def pending_description(candidates: Sequence[ContainerInfo], endpoint_id: str) -> str:
    """The port's description until the container is known (only the description changes
    then, which FAUCET applies without touching the port's flows)."""
    if len(candidates) == 1:
        return container_description(candidates[0].name, candidates[0].id)
    return f"starting container {endpoint_id[:12]}"


async def known_policy(drv: DriverParts, net: Network, ep: Endpoint) -> tuple[ContainerLabels | None, str]:
    """The endpoint's policy if Docker's list settles it now, and the description to use."""
    if net.name is None or not ep.sandbox_key:
        return None, ""
    if await run_blocking(drv.netlink.netns_in_use, ep.sandbox_key):
        # A running container being connected: its settings do not show it yet.
        log.debug("policy of endpoint %s unknown at Join: its sandbox is in use",
                  ep.endpoint_id[:12])
        return None, ""
    candidates = await run_blocking(drv.docker.starting_containers, net.network_id, net.name)
    policy = agreed_policy(candidates, net.name, ep.kept_options, ep.operator)
    if policy is None:
        log.debug("policy of endpoint %s unknown at Join: %d starting (%s)", ep.endpoint_id[:12],
                  len(candidates), ", ".join(c.name for c in candidates))
    return policy, pending_description(candidates, ep.endpoint_id) if policy else ""


async def _forwards(drv: DriverParts, net: Network, ep: Endpoint, deadline: float) -> bool:
    """True once the port has its flows, by ``deadline`` (event-loop time). Most ports forward
    within a fraction of a second; one whose link-up FAUCET saw only after loading it never
    will, unless it is put back (reinstall.py)."""
    loop = asyncio.get_running_loop()
    first = max(0.0, min(FIRST_WAIT, deadline - loop.time()))
    done = await drv.port_forwarding(net.bridge, ep.ofport, True, first)
    if not done and deadline - loop.time() > 0:
        done = await reinstall_port(drv, net, ep, deadline - loop.time())
    return done


async def _written_and_run(drv: DriverParts, net: Network, ep: Endpoint, open_port: bool,
                           placeholder: bool, deadline: float) -> tuple[bool, float]:
    """The port written, FAUCET running it, and the switch forwarding for it (or, closed where
    a placeholder was, not), by ``deadline`` (event-loop time); and when the write was done."""
    loop = asyncio.get_running_loop()
    written = deadline
    try:
        await asyncio.wait_for(drv.dp_sync.request(net), max(0.0, deadline - loop.time()))
        written = loop.time()
        # A placeholder's own flows are there: FAUCET must have swapped them first.
        if placeholder and not await drv.faucet_loaded(max(0.0, deadline - loop.time())):
            return False, written
        if open_port:
            return await _forwards(drv, net, ep, deadline), written
        if placeholder:
            return await drv.port_forwarding(net.bridge, ep.ofport, False,
                                             max(0.0, deadline - loop.time())), written
        return True, written
    except TimeoutError:
        return False, written


async def hold_join(drv: DriverParts, net: Network, ep: Endpoint) -> None:
    """Settle the endpoint's port (known policy, or closed) and wait for FAUCET to run it, for
    at most ``join_hold`` seconds; never fails the Join."""
    budget = drv.settings.join_hold
    if budget <= 0 or net.name is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    try:
        policy, description = await asyncio.wait_for(known_policy(drv, net, ep), budget)
    except Exception as err:  # Docker busy or gone: the port stays closed until attach
        log.debug("policy of endpoint %s not known at Join: %s", ep.endpoint_id[:12], err)
        policy, description = None, ""
    if ep.container is None and not ep.fail_closed:
        ep.known_policy, ep.pending_description = policy, description
    # Until here a write made meanwhile kept the port's placeholder (its link carries nothing
    # before Join returns); from here it has its policy, or is closed.
    ep.awaiting_join = False
    open_port = policy is not None and ep.container is None and not ep.fail_closed
    # A closed port needs waiting for only when FAUCET had it open: a placeholder.
    inputs = drv.dp_sync.inputs(net)
    placeholder = ep.ofport in preallocated_range(inputs)
    began = loop.time()
    if open_port and takes_over_as_is(inputs, ep.ofport):
        # Its placeholder's settings are the port's: only the description is new, and it goes
        # out later (adapters/faucet_config.py). Nothing to wait for but the port's flows.
        drv.dp_sync.request_soon(net)
        done = await _forwards(drv, net, ep, deadline)
        log.debug("Join of %s: policy %.3fs, placeholder taken over, switch %.3fs",
                  ep.endpoint_id[:12], began - (deadline - budget), loop.time() - began)
    else:
        done, written = await _written_and_run(drv, net, ep, open_port, placeholder, deadline)
        log.debug("Join of %s: policy %.3fs, written %.3fs, switch %.3fs", ep.endpoint_id[:12],
                  began - (deadline - budget), written - began, loop.time() - written)
    if not done:
        log.info("Join of %s returns before FAUCET confirmed its port (%.1fs)",
                 ep.endpoint_id[:12], budget)
