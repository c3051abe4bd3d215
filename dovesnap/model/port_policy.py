"""A port's policy from every source: labels, Docker endpoint options, the operator's commands.

Container labels are the initial policy of every port of a container. Two more sources speak for
one attachment only, and win over the labels, the later over the earlier:

1. Docker's endpoint options: ``docker network connect --driver-opt dovesnap.faucet.portacl=ACL
   NET C``, ``docker run --network name=NET,driver-opt=...`` and compose's per-network
   ``driver_opts`` take the label keys (``portacl``, ``mirror``, ``mac_prefix``). Docker hands them
   to CreateEndpoint again each time the container starts.
2. The operator's commands on a running container (``dovesnap acl set``, ``dovesnap mirror``):
   ACL and mirroring, for as long as this attachment lasts.

A source says something or nothing about each setting (None). The endpoint options and the
operator's settings are kept in the port's OVS external_ids, so a restarted dovesnap has them
again. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dovesnap.errors import OptionError
from dovesnap.model.labels import (
    LABEL_MAC_PREFIX,
    LABEL_MIRROR,
    LABEL_PORTACL,
    ContainerLabels,
    mac_prefix_bytes,
    parse_labels,
)
from dovesnap.model.names import EXT_ENDPOINT_OPTIONS, EXT_OPERATOR_POLICY
from dovesnap.model.options import parse_acl_name, parse_bool, parse_ifname, parse_per_network

IFNAME_OPTION = "com.docker.network.endpoint.ifname"  # Docker 28+: the container's interface name
POLICY_OPTIONS = (LABEL_PORTACL, LABEL_MIRROR, LABEL_MAC_PREFIX)
KEPT_OPTIONS = (*POLICY_OPTIONS, IFNAME_OPTION)
_EXAMPLES = {LABEL_PORTACL: "allowall", LABEL_MIRROR: "true", LABEL_MAC_PREFIX: "0e:99"}


@dataclass(frozen=True)
class PortSettings:
    """What one source asks of a port; None where it says nothing."""

    acls: tuple[str, ...] | None = None
    mirror: bool | None = None
    mac_prefix: bytes | None = None

    @property
    def empty(self) -> bool:
        return self.acls is None and self.mirror is None and self.mac_prefix is None

    def as_dict(self) -> dict[str, Any]:
        """The operator's part as JSON data (ACLs and mirroring; what it says only)."""
        found: dict[str, Any] = {}
        if self.acls is not None:
            found["acls"] = list(self.acls)
        if self.mirror is not None:
            found["mirror"] = self.mirror
        return found

    def over(self, base: ContainerLabels) -> ContainerLabels:
        """``base`` with what this source says put over it."""
        return ContainerLabels(
            acls=base.acls if self.acls is None else self.acls,
            mirror=base.mirror if self.mirror is None else self.mirror,
            mac_prefix=base.mac_prefix if self.mac_prefix is None else self.mac_prefix,
        )

    def changed(self, acls: tuple[str, ...] | None = None, mirror: bool | None = None,
                clear: tuple[str, ...] = ()) -> PortSettings:
        """The operator's settings after a command: set what is given, forget what is cleared."""
        return PortSettings(
            acls=None if "acls" in clear else (self.acls if acls is None else acls),
            mirror=None if "mirror" in clear else (self.mirror if mirror is None else mirror),
            mac_prefix=self.mac_prefix,
        )


def kept_options(options: Mapping[str, Any]) -> dict[str, str]:
    """The CreateEndpoint options dovesnap keeps: its own keys and the interface name.

    Docker sends ``--driver-opt`` values as strings; anything else under these keys is refused.
    """
    kept = {}
    for key in KEPT_OPTIONS:
        if key not in options:
            continue
        value = options[key]
        if not isinstance(value, str):
            raise OptionError(key, f"{str(value)[:80]!r} is not a string", f"use {key}=VALUE")
        kept[key] = value
    return kept


def checked_endpoint_options(options: Mapping[str, Any], network_name: str | None) -> dict[str, str]:
    """The options to keep from a CreateEndpoint; OptionError when one is malformed (Docker then
    refuses the attachment with dovesnap's message)."""
    kept = kept_options(options)
    parse_endpoint_options(kept, network_name)
    return kept


def parse_endpoint_options(options: Mapping[str, str], network_name: str | None) -> PortSettings:
    """The settings in an endpoint's kept options, for its network; OptionError if malformed.

    Values take the labels' forms, per-network ones too (``NET:ACL/NET2:ACL2``).
    """
    acls: tuple[str, ...] | None = None
    mirror: bool | None = None
    prefix: bytes | None = None
    for key in POLICY_OPTIONS:
        if key in options and not options[key].strip():
            raise OptionError(key, "has no value", f"give one, e.g. {key}={_EXAMPLES[key]}")
    if LABEL_PORTACL in options:
        per_net = parse_per_network(LABEL_PORTACL, options[LABEL_PORTACL], parse_acl_name)
        acls = per_net.for_network(network_name) or None  # another network's only: says nothing
    if LABEL_MIRROR in options:
        chosen = parse_per_network(LABEL_MIRROR, options[LABEL_MIRROR], _check_bool)
        words = chosen.for_network(network_name)
        mirror = parse_bool(LABEL_MIRROR, words[0]) if words else None
    if LABEL_MAC_PREFIX in options:
        try:
            prefix = mac_prefix_bytes(options[LABEL_MAC_PREFIX])
        except ValueError as err:
            raise OptionError(LABEL_MAC_PREFIX, str(err)) from None
    if IFNAME_OPTION in options:
        parse_ifname(IFNAME_OPTION, options[IFNAME_OPTION])
    return PortSettings(acls, mirror, prefix)


def _check_bool(option: str, value: str) -> str:
    parse_bool(option, value)
    return value


def effective_labels(labels: Mapping[str, str], options: Mapping[str, str],
                     operator: PortSettings, network_name: str | None) -> ContainerLabels:
    """What a port gets: the labels, the endpoint options over them, the operator's over those.

    Raises LabelError (a bad label) or OptionError (a bad endpoint option); either way the
    caller keeps the port closed and shows why.
    """
    merged = parse_labels(labels, network_name)
    merged = parse_endpoint_options(options, network_name).over(merged)
    return operator.over(merged)


# -- kept in the port's OVS external_ids ---------------------------------------------------------


def policy_external_ids(options: Mapping[str, str],
                        operator: PortSettings = PortSettings()) -> dict[str, str]:
    """The port's external_ids entries that remember its endpoint options and operator settings."""
    ids = {}
    if options:
        ids[EXT_ENDPOINT_OPTIONS] = json.dumps(dict(options), sort_keys=True)
    if operator.as_dict():
        ids[EXT_OPERATOR_POLICY] = json.dumps(operator.as_dict(), sort_keys=True)
    return ids


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def policy_from_external_ids(ids: Mapping[str, str]) -> tuple[dict[str, str], PortSettings]:
    """Read back :func:`policy_external_ids`; what cannot be read is treated as not there."""
    options = {str(k): v for k, v in _json_object(ids.get(EXT_ENDPOINT_OPTIONS)).items()
               if k in KEPT_OPTIONS and isinstance(v, str)}
    recorded = _json_object(ids.get(EXT_OPERATOR_POLICY))
    acls, mirror = recorded.get("acls"), recorded.get("mirror")
    operator = PortSettings(
        acls=tuple(str(a) for a in acls) if isinstance(acls, list) else None,
        mirror=mirror if isinstance(mirror, bool) else None,
    )
    return options, operator
