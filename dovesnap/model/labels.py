"""Container labels (``dovesnap.faucet.*``): parsed for one network, frozen, pure.

A malformed label raises :class:`~dovesnap.errors.LabelError` naming the label; the driver then
fails that container's port closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dovesnap.errors import LabelError, OptionError
from dovesnap.model.names import ACL_NAME_RE, RESERVED_ACL_HINT, is_reserved_acl
from dovesnap.model.options import FALSE_WORDS, TRUE_WORDS, parse_per_network

LABEL_PORTACL = "dovesnap.faucet.portacl"
LABEL_MIRROR = "dovesnap.faucet.mirror"
LABEL_MAC_PREFIX = "dovesnap.faucet.mac_prefix"


@dataclass(frozen=True)
class ContainerLabels:
    """What a container's ``dovesnap.faucet.*`` labels ask for, on one network."""

    acls: tuple[str, ...] = ()
    mirror: bool = False
    mac_prefix: bytes = b""


def _label_bool(label: str, value: str) -> str:
    if value.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
        raise LabelError(label, f"{value[:80]!r} is not true or false")
    return value.strip().lower()


def _label_acl(label: str, value: str) -> str:
    if not ACL_NAME_RE.match(value):
        raise LabelError(label, f"{value[:80]!r} is not an ACL name")
    if is_reserved_acl(value):
        raise LabelError(label, f"ACL {value} is reserved ({RESERVED_ACL_HINT})")
    return value


def mac_prefix_bytes(value: str) -> bytes:
    """``0e:99`` -> its bytes; ValueError saying why not (1 to 5 bytes, not multicast)."""
    text = value.strip().lower()
    parts = text.split(":")
    if not 1 <= len(parts) <= 5 or not all(re.fullmatch(r"[0-9a-f]{2}", p) for p in parts):
        raise ValueError(f"{value[:80]!r} must be 1 to 5 hex bytes like 0e:99")
    prefix = bytes(int(p, 16) for p in parts)
    if prefix[0] & 1:
        raise ValueError(f"{value} would make a multicast MAC")
    return prefix


def parse_mac_prefix(value: str) -> bytes:
    try:
        return mac_prefix_bytes(value)
    except ValueError as err:
        raise LabelError(LABEL_MAC_PREFIX, str(err)) from None


def _for_network(
    label: str, value: str, check: Callable[[str, str], str], network_name: str | None
) -> tuple[str, ...]:
    """A per-network label's values for one network; a malformed one is a LabelError."""
    try:
        per_net = parse_per_network(label, value, check)
    except OptionError as err:
        raise LabelError(label, err.what) from None
    return per_net.for_network(network_name)


def parse_labels(labels: Mapping[str, str], network_name: str | None) -> ContainerLabels:
    """Resolve a container's labels for one network; raises :class:`LabelError` when malformed."""
    acls: tuple[str, ...] = ()
    mirror = False
    prefix = b""
    if LABEL_PORTACL in labels:
        acls = _for_network(LABEL_PORTACL, labels[LABEL_PORTACL], _label_acl, network_name)
    if LABEL_MIRROR in labels:
        chosen = _for_network(LABEL_MIRROR, labels[LABEL_MIRROR], _label_bool, network_name)
        mirror = bool(chosen) and chosen[0] in TRUE_WORDS
    if LABEL_MAC_PREFIX in labels:
        prefix = parse_mac_prefix(labels[LABEL_MAC_PREFIX])
    return ContainerLabels(acls, mirror, prefix)


def apply_mac_prefix(mac: str, prefix: bytes) -> str:
    """Replace the first bytes of ``mac`` with ``prefix``."""
    original = bytes(int(p, 16) for p in mac.split(":"))
    merged = prefix + original[len(prefix):]
    return ":".join(f"{b:02x}" for b in merged)
