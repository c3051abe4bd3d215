"""After Join: which container the endpoint belongs to, its labels, its MAC prefix.

Docker's Join names no container, so the driver asks Docker which container has the endpoint,
woken at once by Docker's connect event (``Endpoint.hinted``) and polling as a fallback. While
Docker does not say, the port is failed closed, reported, and Docker asked again.
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
from dovesnap.errors import BackendError, DovesnapError, LabelError
from dovesnap.model.labels import apply_mac_prefix, parse_labels

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
                container = await run_blocking(docker.container_by_id, ep.container_hint)
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


def read_labels(ep: Endpoint, container: ContainerInfo, network_name: str | None) -> None:
    """Set ``ep.labels`` from the container's labels; bad labels fail the port closed."""
    try:
        ep.labels = parse_labels(container.labels, network_name)
    except LabelError as err:
        ep.fail_closed = err.what
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
        read_labels(ep, container, net.name)
        if ep.labels and ep.labels.mac_prefix and ep.sandbox_key:
            await set_mac_prefix(drv.netlink, ep)
        for hook in drv.hooks:
            try:
                await hook.endpoint_attached(net, ep)
            except DovesnapError as err:
                ep.fail_closed = f"{hook.name}: {err.what}"
                log.error("container %s fails closed: %s", container.name, ep.fail_closed)
        await drv.sync_dp(net)
    log.info("container %s on %s at port %d", container.name, net.name, ep.ofport)
