"""Names of the things dovesnap makes, derived from Docker ids (so they survive restarts)."""

from __future__ import annotations

import hashlib
import re

HOST_VETH_PREFIX = "odsve"
STAND_IN_PREFIX = "odssp"  # a spare port's stand-in while FAUCET loads it (features/spare_ports)
STAND_IN_PEER_PREFIX = "odssq"
CONTAINER_VETH_PREFIX = "ethc"
PATCH_PREFIX = "ods"
LOCAL_OFPORT = 0xFFFFFFFE

# The names dovesnap accepts, one pattern each; ``\Z``, not ``$``, so no trailing newline slips by.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-@]{1,15}\Z")
IFNAME_HINT = "use 1-15 letters, digits, . _ - or @"
# A FAUCET DP's name; a network's DP is named after the Docker network, so this is that name too.
DP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}\Z")
ACL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}\Z")
# ACLs dovesnap writes itself (stack links, mirror tunnels, the DHCP guard) are named so; no
# label or option may pick one (in any case), or a container could take a stack port's rules.
RESERVED_ACL_PREFIX = "dovesnap-"
RESERVED_ACL_HINT = "ACL names starting with dovesnap- are dovesnap's own; use one of yours"


def is_reserved_acl(name: str) -> bool:
    return name.lower().startswith(RESERVED_ACL_PREFIX)

# external_ids keys on OVS rows, so OVS itself remembers what dovesnap made.
EXT_DRIVER = "dovesnap-driver"
EXT_NETWORK_ID = "dovesnap-network-id"
EXT_NETWORK_NAME = "dovesnap-network-name"
EXT_SPEC = "dovesnap-spec"
EXT_ENDPOINT_ID = "dovesnap-endpoint-id"
EXT_ROLE = "dovesnap-role"
EXT_OPERATOR_DP = "dovesnap-operator-dp"  # the operator's pre-seeded DP, as it was
EXT_ENDPOINT_OPTIONS = "dovesnap-endpoint-options"  # a port's Docker endpoint options (JSON)
EXT_OPERATOR_POLICY = "dovesnap-operator-policy"  # what `dovesnap acl set`/`mirror` set (JSON)


# A container's veth pair is named after its endpoint id: the prefixes + the same first 5 hex
# digits, or more (up to the kernel's 15 characters) when a shorter pair is taken.
VETH_ID_CHARS = 5
VETH_ID_CHARS_MAX = 15 - len(HOST_VETH_PREFIX)
STAND_IN_RE = re.compile(rf"^(?:{STAND_IN_PREFIX}|{STAND_IN_PEER_PREFIX})[0-9a-f]{{8}}\Z")
HOST_VETH_RE = re.compile(rf"^{HOST_VETH_PREFIX}[0-9a-f]{{{VETH_ID_CHARS},{VETH_ID_CHARS_MAX}}}\Z")
CONTAINER_VETH_RE = re.compile(
    rf"^{CONTAINER_VETH_PREFIX}[0-9a-f]{{{VETH_ID_CHARS},{VETH_ID_CHARS_MAX}}}\Z")
PATCH_HASH_CHARS = 12
PATCH_RE = re.compile(rf"^{PATCH_PREFIX}[0-9a-f]{{{PATCH_HASH_CHARS}}}\Z")


def host_veth(endpoint_id: str, chars: int = VETH_ID_CHARS) -> str:
    return HOST_VETH_PREFIX + endpoint_id[:chars]


def container_veth(endpoint_id: str, chars: int = VETH_ID_CHARS) -> str:
    return CONTAINER_VETH_PREFIX + endpoint_id[:chars]


def veth_pair_names(endpoint_id: str) -> list[tuple[str, str]]:
    """(host side, container side) names to try for an endpoint's veth, shortest first."""
    longest = min(VETH_ID_CHARS_MAX, len(endpoint_id))
    return [(host_veth(endpoint_id, n), container_veth(endpoint_id, n))
            for n in range(VETH_ID_CHARS, longest + 1)]


def container_veth_of(host_ifname: str) -> str:
    """The container side's name of the veth whose host side is ``host_ifname``."""
    return CONTAINER_VETH_PREFIX + host_ifname.removeprefix(HOST_VETH_PREFIX)


def patch_name(bridge_name: str) -> str:
    """Name of a patch veth end for a bridge: ``ods`` + a short hash, 15 characters at most."""
    digest = hashlib.sha256(bridge_name.encode()).hexdigest()
    return PATCH_PREFIX + digest[:PATCH_HASH_CHARS]


def container_description(name: str, container_id: str) -> str:
    return f"{name.lstrip('/')} {container_id[:5]}"


def is_own_port_name(name: str) -> bool:
    """A name only dovesnap gives a port of a bridge: a container's host veth or a patch end."""
    return bool(HOST_VETH_RE.match(name) or PATCH_RE.match(name))


def is_own_link_name(name: str) -> bool:
    """A name only dovesnap gives a host interface: either veth end, or a patch end."""
    return is_own_port_name(name) or bool(CONTAINER_VETH_RE.match(name))
