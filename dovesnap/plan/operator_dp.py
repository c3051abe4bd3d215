"""An operator's pre-seeded DP: merged into, never overwritten, and put back as it was.

Operators of the Go original configure a network's DP before they create the network (the
LOCAL port's ACL, ``interface_ranges``, a description ...). When a DP with the network's name
and the network's dp_id is already in faucet.yaml, dovesnap merges into it: it owns the
interfaces it creates and the keys it sets, and keeps every other key as the operator wrote it.
The operator's DP as it was is kept (``OperatorDp``, in the bridge's OVS external_ids) so that
every write starts again from it, and deleting the network puts it back.

Pure: data in, data out. Edits happen on a copy of the config, in place on the DP's own objects,
so the comments and formatting of the operator's keys survive.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dovesnap.errors import DovesnapError
from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.plan.faucet_dp import Config, copy_config, section


def plain(value: Any) -> Any:
    """``value`` as plain Python data (ruamel's round-trip types, hex ints ... made plain)."""
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


@dataclass(frozen=True)
class OperatorDp:
    """The DP an operator wrote before the network was created: its name and its content."""

    name: str
    dp: Mapping[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        """For the bridge's external_ids: YAML keeps integer interface keys integers."""
        return yaml.safe_dump({"name": self.name, "dp": plain(self.dp)}, sort_keys=False)

    @classmethod
    def decode(cls, text: str) -> OperatorDp:
        try:
            data = yaml.safe_load(text)
            name, dp = data["name"], data["dp"]
        except (yaml.YAMLError, TypeError, KeyError) as err:
            raise DovesnapError(f"the operator's DP kept in OVS is unreadable: {err}") from None
        if not isinstance(name, str) or not isinstance(dp, dict):
            raise DovesnapError("the operator's DP kept in OVS is unreadable")
        return cls(name, dp)

    def ports(self) -> frozenset[int]:
        """The OpenFlow ports the operator's own interfaces are on (the LOCAL port aside):
        dovesnap gives them to no container and preallocates none of them."""
        interfaces = self.dp.get("interfaces")
        if not isinstance(interfaces, Mapping):
            return frozenset()
        numbers = (_number(key, iface) for key, iface in interfaces.items())
        return frozenset(n for n in numbers if n is not None and n != LOCAL_OFPORT)


# Descriptions dovesnap gives the interfaces it writes (stacking's and the mirror tunnel's too).
_OWN_DESCRIPTION = re.compile(
    r"^(preallocated port|dovesnap mirror port|dovesnap mirror tunnel|gateway"
    r"|Physical interface \S+|Stack link to \S+|[A-Za-z0-9][A-Za-z0-9_.-]* [0-9a-f]{5})\Z")
_OWN_DP_KEYS = {"dp_id", "hardware", "egress_pipeline", "interfaces"}


def written_by_dovesnap(dp: Mapping[str, Any]) -> bool:
    """Pure: nothing in ``dp`` but what dovesnap writes into a network's DP, so no operator's
    setting is lost by taking it for dovesnap's own (used when a network is rebuilt from
    Docker's record after OVS lost its bridge, and with it the record of a pre-seeded DP)."""
    interfaces = dp.get("interfaces") or {}
    if set(dp) - _OWN_DP_KEYS or not isinstance(interfaces, Mapping):
        return False
    return all(isinstance(iface, Mapping) and _OWN_DESCRIPTION.match(str(iface.get("description")))
               for iface in interfaces.values())


def _number(key: Any, iface: Any) -> int | None:
    """The port number of an interface entry: its ``number``, else its key when that is one."""
    number = iface.get("number", key) if isinstance(iface, Mapping) else key
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def revert(current: MutableMapping[Any, Any], original: Mapping[Any, Any]) -> None:
    """Make ``current`` equal ``original`` in place, keeping the objects (and so the comments)
    of what did not change."""
    for key in [k for k in current if k not in original]:
        del current[key]
    for key, value in original.items():
        if key in current and isinstance(current[key], MutableMapping) and isinstance(value, Mapping):
            revert(current[key], value)
        elif key not in current or current[key] != value:
            current[key] = copy.deepcopy(value)


def _set(target: MutableMapping[Any, Any], key: Any, value: Any) -> None:
    """``target[key] = value``, leaving an equal value (and its formatting, e.g. hex) alone."""
    if key not in target or target[key] != value:
        target[key] = copy.deepcopy(value)


def overlay(current: MutableMapping[Any, Any], ours: Mapping[str, Any]) -> None:
    """Put dovesnap's DP over the operator's: its keys win, interface by interface (so the
    operator's settings of a port dovesnap configures, e.g. the LOCAL port, stay)."""
    for key, value in ours.items():
        if key != "interfaces" or not isinstance(value, Mapping):
            _set(current, key, value)
            continue
        interfaces = section(current, "interfaces")
        by_number = {_number(k, v): k for k, v in interfaces.items()}
        for port, iface in value.items():
            existing_key = by_number.get(port)
            existing = interfaces.get(existing_key) if existing_key is not None else None
            if isinstance(existing, MutableMapping):
                for name, setting in iface.items():
                    _set(existing, name, setting)
            else:
                interfaces[port] = copy.deepcopy(dict(iface))


def merge_dp(config: Mapping[str, Any], name: str, operator: OperatorDp, ours: Mapping[str, Any],
             vlans: Mapping[str, Any] | None = None) -> Config:
    """A copy of ``config`` whose DP ``name`` is the operator's with dovesnap's merged in."""
    new = copy_config(config)
    dps = section(new, "dps")
    current = dps.get(name)
    if not isinstance(current, MutableMapping):
        current = {}
    revert(current, operator.dp)
    overlay(current, ours)
    dps[name] = current
    if vlans:
        vlan_section = section(new, "vlans")
        for key, value in vlans.items():
            vlan_section[key] = dict(value)
    return new


def restore_dp(config: Mapping[str, Any], operator: OperatorDp,
               vlan_names: tuple[str, ...] | list[str] = ()) -> Config:
    """A copy of ``config`` with the operator's DP back as it was (and dovesnap's VLANs out)."""
    new = copy_config(config)
    dps = section(new, "dps")
    current = dps.get(operator.name)
    if isinstance(current, MutableMapping):
        revert(current, operator.dp)
    else:
        dps[operator.name] = copy.deepcopy(dict(operator.dp))
    vlans = new.get("vlans")
    if isinstance(vlans, MutableMapping):
        for vlan in vlan_names:
            vlans.pop(vlan, None)
    return new
