"""After Join: which container the endpoint belongs to, its labels, its MAC prefix.

Docker's Join names no container, so the driver asks Docker which container has the endpoint,
woken at once by Docker's connect event (``Endpoint.hinted``) and polling as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dovesnap.adapters.docker_api import ContainerInfo, DockerBackend
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.blocking import run_blocking
from dovesnap.driver.state import Endpoint
from dovesnap.errors import BackendError, LabelError, OptionError
from dovesnap.model.labels import apply_mac_prefix
from dovesnap.model.port_policy import effective_labels

log = logging.getLogger(__name__)


async def find_container(
    docker: DockerBackend, network_id: str, ep: Endpoint, timeout: float
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
            delay = min(delay * 2, 0.25)
    return container


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
