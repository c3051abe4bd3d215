"""After Join: which container the endpoint belongs to, its labels, its MAC prefix.

Docker's Join names no container, so the driver asks Docker which container has the endpoint,
woken at once by Docker's connect event (``Endpoint.hinted``) and polling as a fallback. The
event only says that *some* container joined the network: which one owns this endpoint is read
from the network's own record (which lists it at once, unlike container listings), never taken
from the event. While Docker does not say, the port is failed closed, reported, and Docker
asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dovesnap.adapters.docker_api import ContainerInfo, DockerBackend
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.settings import DriverParts
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import BackendError, DovesnapError, LabelError, OptionError
from dovesnap.model.labels import apply_mac_prefix
from dovesnap.model.port_policy import effective_labels

log = logging.getLogger(__name__)


async def find_container(
    docker: DockerBackend, network_id: str, ep: Endpoint, timeout: float, max_delay: float = 0.25
) -> ContainerInfo | None:
    """The endpoint's container, or None if Docker does not name it within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    container = None
    while container is None and loop.time() < deadline:
        try:
            if ep.container_hint:
                container = await _owner(docker, network_id, ep)
            if container is None:
                container = await run_blocking(
                    docker.container_for_endpoint, network_id, ep.endpoint_id
                )
        except Exception as err:
            log.debug("container lookup failed: %s", err)
        if container is None:
            # Woken at once by Docker's connect event; polling is the fallback.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ep.hinted.wait(), delay)
            delay = min(delay * 2, max_delay)
    return container


async def _owner(docker: DockerBackend, network_id: str, ep: Endpoint) -> ContainerInfo | None:
    """The container that Docker's network record says has the endpoint, if it says so yet."""
    owners = await run_blocking(docker.network_endpoints, network_id) or {}
    owner = owners.get(ep.endpoint_id)
    if owner is None:
        return None
    if owner != ep.container_hint:
        log.warning("a connect event named container %s for network %s, but endpoint %s is "
                    "container %s's", (ep.container_hint or "")[:12], network_id[:12],
                    ep.endpoint_id[:12], owner[:12])
    return await run_blocking(docker.container_by_id, owner)


def learn_addresses(ep: Endpoint, container: ContainerInfo) -> None:
    """Take the endpoint's addresses from Docker when dovesnap has none (after a restart, an
    endpoint restored from OVS has none until Docker names them)."""
    ipv4, ipv6 = container.addresses.get(ep.endpoint_id, ("", ""))
    ep.address = ep.address or ipv4 or None
    ep.address_ipv6 = ep.address_ipv6 or ipv6 or None


def read_labels(ep: Endpoint, container: ContainerInfo, network_name: str | None) -> None:
    """Set ``ep.labels`` from the container's labels with the endpoint's options and the
    operator's settings merged over them; a malformed one fails the port closed."""
    try:
        ep.labels = effective_labels(container.labels, ep.kept_options, ep.operator, network_name)
    except (LabelError, OptionError) as err:
        ep.fail_closed = ep.policy_refusal = err.what
        log.error("container %s fails closed: %s", container.name, err.what)


async def set_mac_prefix(netlink: NetlinkBackend, ep: Endpoint) -> None:
    """Give the container's interface the MAC its ``mac_prefix`` label asks for."""
    assert ep.labels is not None and ep.sandbox_key is not None
    new_mac = apply_mac_prefix(ep.mac, ep.labels.mac_prefix)
    for _ in range(50):  # Docker moves the veth into the namespace just after Join returns
        try:
            await run_blocking(
                netlink.set_peer_mac_in_netns, ep.host_ifname, ep.sandbox_key, new_mac
            )
            ep.mac = new_mac
            return
        except (BackendError, OSError) as err:
            last = err
            await asyncio.sleep(0.1)
    ep.fail_closed = f"cannot apply mac_prefix: {last}"


async def find_or_fail_closed(drv: DriverParts, net: Network, ep: Endpoint) -> ContainerInfo | None:
    """The endpoint's container; while Docker does not name it, its port is failed closed
    and reported, and Docker is asked again until it does (or the endpoint goes)."""
    timeout = drv.settings.attach_timeout
    container = await find_container(drv.docker, net.network_id, ep, timeout)
    if container is not None:
        return container
    reason = (f"Docker did not say which container has endpoint {ep.endpoint_id[:12]} "
              f"within {timeout:.0f}s; dovesnap keeps asking")
    log.error("endpoint %s fails closed: %s", ep.endpoint_id[:12], reason)
    async with net.lock:
        ep.fail_closed, ep.known_policy = reason, None
        await drv.sync_dp(net)
    drv.notify("port_fail_closed", network=net.name or "", bridge=net.bridge,
               endpoint_id=ep.endpoint_id, port=ep.ofport, reason=reason)
    container = await find_container(drv.docker, net.network_id, ep, float("inf"), 5.0)
    if ep.fail_closed == reason:
        ep.fail_closed = None  # its labels decide now
    return container


async def attach_container(drv: DriverParts, net: Network, ep: Endpoint) -> None:
    """Find the container, apply its labels and the features, write its FAUCET interface."""
    container = await find_or_fail_closed(drv, net, ep)
    if container is None:
        return
    log.debug("endpoint %s is container %s", ep.endpoint_id[:12], container.name)
    if net.name is None:
        await asyncio.wait_for(net.named.wait(), drv.settings.name_timeout)
    async with net.lock:
        if ep.endpoint_id not in net.endpoints:
            return
        ep.container = container
        learn_addresses(ep, container)
        read_labels(ep, container, net.name)
        if ep.labels and ep.labels.mac_prefix and ep.sandbox_key:
            await set_mac_prefix(drv.netlink, ep)
        for hook in drv.hooks:
            try:
                await hook.endpoint_attached(net, ep)
            except DovesnapError as err:
                ep.fail_closed = f"{hook.name}: {err.what}"
                log.error("container %s fails closed: %s", container.name, ep.fail_closed)
    # Outside the lock: joins arriving together then share one FAUCET write (dp_sync).
    await drv.sync_dp(net)
    log.info("container %s on %s at port %d", container.name, net.name, ep.ofport)
