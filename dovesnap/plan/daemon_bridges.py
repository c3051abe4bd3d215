"""The bridges the daemon itself owns (mirror, stacking, loopback) and the patches to them, as data.

Their names carry ``<engine>``: six hex digits derived from the Docker engine id, so that two
hosts in one FAUCET fabric never pick the same names or datapath ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dovesnap.model.names import EXT_DRIVER, EXT_ROLE, patch_name
from dovesnap.model.network import DEFAULT_MTU
from dovesnap.plan.bridge import BridgePlan

MIRROR_BRIDGE_PREFIX = "odsmir"
STACK_BRIDGE_PREFIX = "dovesnap"
LOOPBACK_BRIDGE_PREFIX = "odslb"
STACK_DPID_PREFIX = "0E0F00"
MIRROR_DPID_PREFIX = "0E0F01"
LOOPBACK_DPID_PREFIX = "0E0F02"

ROLE_MIRROR_BRIDGE = "mirror-bridge"
ROLE_STACK_BRIDGE = "stack-bridge"
ROLE_LOOPBACK_BRIDGE = "loopback-bridge"
ROLE_MIRROR_PATCH = "mirror-patch"
ROLE_STACK_PATCH = "stack-patch"
ROLE_LOOPBACK_PATCH = "loopback-patch"
ROLE_UPLINK = "uplink"

# The OpenFlow port of a network bridge's stack link: the highest port OVS lets one request,
# far away from container, preallocated and add_ports numbers.
NETWORK_STACK_OFPORT = 0xFEFF

_LEGACY_KEY_GROUP = re.compile(r"^[0-9a-z]{1,4}$")


def short_engine_id(docker_id: str) -> str | None:
    """Six upper-case hex digits from Docker's engine id, or None if it holds none.

    Older engines report a key id (``AQAD:QG3L:...``): its first group read as base 36, as
    the Go original did. Newer engines report a UUID: its first six hex digits.
    """
    text = docker_id.strip().lower()
    first = text.split(":")[0]
    if ":" in text and _LEGACY_KEY_GROUP.match(first):
        return f"{int(first, 36):06X}"
    return short_host_id(text)


def short_host_id(text: str) -> str | None:
    """Six upper-case hex digits from a host id such as /etc/machine-id or OVS's system-id."""
    digits = re.sub(r"[^0-9a-f]", "", text.strip().lower())
    return digits[:6].upper() if len(digits) >= 6 else None


def mirror_bridge_name(engine: str) -> str:
    return MIRROR_BRIDGE_PREFIX + engine


def stack_bridge_name(engine: str) -> str:
    """Also the FAUCET DP name of the stacking bridge."""
    return STACK_BRIDGE_PREFIX + engine


def loopback_bridge_name(engine: str) -> str:
    return LOOPBACK_BRIDGE_PREFIX + engine


def stack_dpid(engine: str) -> int:
    return int(STACK_DPID_PREFIX + engine, 16)


def mirror_dpid(engine: str) -> int:
    return int(MIRROR_DPID_PREFIX + engine, 16)


def loopback_dpid(engine: str) -> int:
    return int(LOOPBACK_DPID_PREFIX + engine, 16)


def daemon_bridge_plan(
    name: str,
    dpid: int,
    role: str,
    userspace: bool,
    driver_name: str,
    controllers: tuple[str, ...] = (),
) -> BridgePlan:
    """A daemon bridge: fail-mode secure; FAUCET's only when controllers are given."""
    return BridgePlan(
        name=name,
        datapath_type="netdev" if userspace else "system",
        datapath_id=f"{dpid:016x}",
        controllers=controllers,
        mtu=DEFAULT_MTU,
        hwaddr=None,
        external_ids=((EXT_DRIVER, driver_name), (EXT_ROLE, role)),
    )


def patch_end(local_bridge: str, remote_bridge: str) -> str:
    """The veth end on ``local_bridge`` of the patch to ``remote_bridge`` (15 chars at most)."""
    return patch_name(f"{local_bridge}>{remote_bridge}")


@dataclass(frozen=True)
class PatchLink:
    """A veth pair joining two bridges, with the OpenFlow port each end got."""

    local_bridge: str
    local_end: str
    local_port: int
    remote_bridge: str
    remote_end: str
    remote_port: int

    def status(self) -> dict[str, object]:
        """The Go original's ``OtherBridgePorts`` entry for this link."""
        return {
            "Name": self.local_end,
            "PeerName": self.remote_end,
            "OFPort": self.local_port,
            "PeerOFPort": self.remote_port,
            "PeerBridgeName": self.remote_bridge,
        }
