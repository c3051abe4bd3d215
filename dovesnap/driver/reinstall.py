"""Put a port FAUCET has configured but installed no flows for back into FAUCET.

A container's port loads with ``opstatus_reconf: false`` (``plan/faucet_dp.py``): FAUCET installs
its flows when it loads the port if it has seen the port's link up, and then ignores the link.
When the link-up reaches FAUCET a moment after the config does (a port number just freed and
taken again, a busy host), or not at all (FAUCET drops port events while a new switch is still
connecting, when a network's first container joins), the port stays configured but without
flows. The link is bounced (so FAUCET hears it is up), and the port taken out of the config and
put back, which makes FAUCET add it again, now with the link up. If even that brings no flows,
the bridge reconnects to its controllers: FAUCET then cold-starts the DP and installs every
configured port (a moment without forwarding for the whole network, so only as a last resort).
"""

from __future__ import annotations

import logging

from dovesnap.blocking import run_blocking
from dovesnap.driver.settings import DriverParts
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import DovesnapError

log = logging.getLogger(__name__)


async def reinstall_port(drv: DriverParts, net: Network, ep: Endpoint, timeout: float) -> bool:
    """Out, FAUCET loads that, back in: True once the port's flows are in the switch."""
    if net.endpoints.get(ep.endpoint_id) is not ep or ep.fail_closed:
        return False
    log.warning("port %d on %s has no flows though FAUCET has it: putting it back",
                ep.ofport, net.name)
    try:
        await run_blocking(drv.netlink.bounce, ep.host_ifname)
    except DovesnapError as err:
        log.debug("cannot bounce %s: %s", ep.host_ifname, err)
    ep.withheld = True
    try:
        await drv.dp_sync.request(net)
        await drv.faucet_loaded(timeout / 2)
    finally:
        ep.withheld = False
    await drv.dp_sync.request(net)
    if await drv.port_forwarding(net.bridge, ep.ofport, True, timeout / 4):
        return True
    log.warning("port %d on %s still has no flows: reconnecting %s to its controllers",
                ep.ofport, net.name, net.bridge)
    await drv.bridges.reconnect(net)
    return await drv.port_forwarding(net.bridge, ep.ofport, True, timeout / 4)
