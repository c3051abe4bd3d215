"""Names of the things dovesnap makes, derived from Docker ids (so they survive restarts)."""

from __future__ import annotations

import hashlib

HOST_VETH_PREFIX = "odsve"
CONTAINER_VETH_PREFIX = "ethc"
PATCH_PREFIX = "ods"
LOCAL_OFPORT = 0xFFFFFFFE

# external_ids keys on OVS rows, so OVS itself remembers what dovesnap made.
EXT_DRIVER = "dovesnap-driver"
EXT_NETWORK_ID = "dovesnap-network-id"
EXT_NETWORK_NAME = "dovesnap-network-name"
EXT_SPEC = "dovesnap-spec"
EXT_ENDPOINT_ID = "dovesnap-endpoint-id"
EXT_ROLE = "dovesnap-role"


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
