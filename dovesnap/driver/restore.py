"""Rebuild the driver's view after a restart from what OVS remembers.

OVS keeps each network's spec and name in its bridge's external_ids and each endpoint's id in
its port's external_ids, so Docker's Join/Leave work right after start, before Docker answers.
"""

from __future__ import annotations

import logging

from dovesnap.blocking import run_blocking
from dovesnap.driver.core import Driver
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import DovesnapError
from dovesnap.model.codec import spec_from_json
from dovesnap.model.names import (
    EXT_DRIVER,
    EXT_ENDPOINT_ID,
    EXT_NETWORK_ID,
    EXT_NETWORK_NAME,
    EXT_OPERATOR_DP,
    EXT_SPEC,
    container_veth_of,
)
from dovesnap.model.port_policy import policy_from_external_ids
from dovesnap.plan.operator_dp import OperatorDp

log = logging.getLogger(__name__)


async def restore_from_ovs(driver: Driver) -> list[Network]:
    """Load the networks and ports OVS remembers; return the networks restored."""
    restored: list[Network] = []
    for bridge in await run_blocking(driver.ovs.bridges):
        ids = bridge.external_ids
        net_id, spec_json = ids.get(EXT_NETWORK_ID), ids.get(EXT_SPEC)
        if ids.get(EXT_DRIVER, "dovesnap") != driver.settings.driver_name:
            continue  # another dovesnap instance's bridge, or not ours at all
        if not spec_json or not net_id or net_id in driver.networks:
            continue
        try:
            spec = spec_from_json(spec_json)
        except DovesnapError as err:
            log.error("bridge %s: %s", bridge.name, err)
            continue
        net = Network(spec, bridge.datapath_type == "netdev")
        if ids.get(EXT_OPERATOR_DP):
            try:  # the operator's pre-seeded DP as it was, to merge into and put back
                net.operator_dp = OperatorDp.decode(ids[EXT_OPERATOR_DP])
            except DovesnapError as err:
                log.error("bridge %s: %s", bridge.name, err)
        name = ids.get(EXT_NETWORK_NAME)
        if name:
            net.name = name
            net.named.set()
        if net.operator_dp is not None and name and net.operator_dp.name != name:
            # Never given a DP (another DP has its dpid): keep it away from FAUCET, as before.
            net.dp_refused = True
            net.error = (f"dovesnap: option ovs.bridge.dpid: {spec.dpid_hex} is already the "
                         f"dp_id of FAUCET DP {net.operator_dp.name}; remove the network and "
                         "create it with another dpid")
        for port in await run_blocking(driver.ovs.ports, bridge.name):
            ep_id = port.external_ids.get(EXT_ENDPOINT_ID)
            if not ep_id or port.ofport is None:
                continue
            options, operator = policy_from_external_ids(port.external_ids)
            net.endpoints[ep_id] = Endpoint(
                ep_id, net_id, port.name, container_veth_of(port.name), port.ofport, "",
                options=options, operator=operator,
            )
        restored.append(net)
        log.info("restored network %s (%s) from OVS", name or net_id[:12], bridge.name)
        await driver.adopt(net)
    return restored
