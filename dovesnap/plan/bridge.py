"""The desired OVS bridge for a network, as data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from dovesnap.model.names import (
    EXT_DRIVER,
    EXT_NETWORK_ID,
    EXT_NETWORK_NAME,
    EXT_OPERATOR_DP,
    EXT_SPEC,
)
from dovesnap.model.network import NetworkSpec


@dataclass(frozen=True)
class BridgePlan:
    name: str
    datapath_type: str  # "system" or "netdev"
    datapath_id: str  # 16 hex digits, as OVS wants other_config:datapath-id
    controllers: tuple[str, ...]
    mtu: int
    hwaddr: str | None
    external_ids: tuple[tuple[str, str], ...]


def spec_to_json(spec: NetworkSpec) -> str:
    """What OVS keeps of a network, so Join works after a restart before Docker answers."""
    return json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))


def stable_local_mac(network_id: str) -> str:
    """The MAC of a network's LOCAL port when the operator sets none: fixed by the network id.

    OVS would otherwise pick a random one each time it makes the bridge, so a bridge rebuilt after
    ``ovs-vsctl del-br`` (or OVS losing it) would answer for the gateway from a new MAC, and every
    container would keep sending to the old one until its ARP entry goes stale (~40 s). Locally
    administered, unicast (first byte 0x0a).
    """
    digest = hashlib.sha256(b"dovesnap-local-mac:" + network_id.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x0A, *digest[:5]))


def plan_bridge(
    spec: NetworkSpec, userspace: bool, network_name: str | None, driver_name: str = "dovesnap",
    operator_dp: str | None = None,
) -> BridgePlan:
    """``operator_dp``: the operator's pre-seeded DP as it was (``OperatorDp.encode``), kept in
    OVS for restarts, network delete and cleanup."""
    ext = [
        (EXT_DRIVER, driver_name),
        (EXT_NETWORK_ID, spec.network_id),
        (EXT_SPEC, spec_to_json(spec)),
    ]
    if network_name:
        ext.append((EXT_NETWORK_NAME, network_name))
    if operator_dp:
        ext.append((EXT_OPERATOR_DP, operator_dp))
    return BridgePlan(
        name=spec.bridge_name,
        datapath_type="netdev" if userspace else "system",
        datapath_id=f"{spec.dpid:016x}",
        controllers=spec.controllers,
        mtu=spec.mtu,
        hwaddr=spec.ovs_local_mac or stable_local_mac(spec.network_id),
        external_ids=tuple(ext),
    )
