"""Names of the things dovesnap makes, derived from Docker ids (so they survive restarts)."""

from __future__ import annotations

import hashlib
import re

HOST_VETH_PREFIX = "odsve"
CONTAINER_VETH_PREFIX = "ethc"
PATCH_PREFIX = "ods"
LOCAL_OFPORT = 0xFFFFFFFE

# The names dovesnap accepts, one pattern each; ``\Z``, not ``$``, so no trailing newline slips by.
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-@]{1,15}\Z")
IFNAME_HINT = "use 1-15 letters, digits, . _ - or @"
# A FAUCET DP's name; a network's DP is named after the Docker network, so this is that name too.
DP_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}\Z")
ACL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}\Z")

# external_ids keys on OVS rows, so OVS itself remembers what dovesnap made.
EXT_DRIVER = "dovesnap-driver"
EXT_NETWORK_ID = "dovesnap-network-id"
EXT_NETWORK_NAME = "dovesnap-network-name"
EXT_SPEC = "dovesnap-spec"
EXT_ENDPOINT_ID = "dovesnap-endpoint-id"
EXT_ROLE = "dovesnap-role"
EXT_ENDPOINT_OPTIONS = "dovesnap-endpoint-options"  # a port's Docker endpoint options (JSON)
EXT_OPERATOR_POLICY = "dovesnap-operator-policy"  # what `dovesnap acl set`/`mirror` set (JSON)


def host_veth(endpoint_id: str) -> str:
    return HOST_VETH_PREFIX + endpoint_id[:5]


def container_veth(endpoint_id: str) -> str:
    return CONTAINER_VETH_PREFIX + endpoint_id[:5]


def patch_name(bridge_name: str) -> str:
    """Name of a patch veth end for a bridge: ``ods`` + a short hash, 15 characters at most."""
    digest = hashlib.sha256(bridge_name.encode()).hexdigest()
    return PATCH_PREFIX + digest[:12]


def container_description(name: str, container_id: str) -> str:
    return f"{name.lstrip('/')} {container_id[:5]}"
