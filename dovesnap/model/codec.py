"""Rebuild a NetworkSpec from the JSON that OVS keeps in the bridge's external_ids."""

from __future__ import annotations

import json
from typing import Any

from dovesnap.errors import BackendError
from dovesnap.model.network import IPv4Data, NetworkSpec
from dovesnap.model.options import PerNetworkValue, PortRequest


def _per_net(raw: Any) -> PerNetworkValue:
    return PerNetworkValue(
        tuple(raw.get("default", ())),
        tuple((net, tuple(values)) for net, values in raw.get("by_network", ())),
    )


def spec_from_json(text: str) -> NetworkSpec:
    try:
        raw = json.loads(text)
        raw["controllers"] = tuple(raw["controllers"])
        for key in ("nat_acl", "default_acl", "vlan_out_acl"):
            raw[key] = _per_net(raw[key])
        for key in ("add_ports", "add_copro_ports"):
            raw[key] = tuple(PortRequest(**p) for p in raw[key])
        raw["ipv4"] = tuple(IPv4Data(**d) for d in raw["ipv4"])
        raw["raw_options"] = tuple(tuple(kv) for kv in raw["raw_options"])
        return NetworkSpec(**raw)
    except (ValueError, KeyError, TypeError) as err:
        raise BackendError(f"cannot read a network kept in OVS: {err}") from None
