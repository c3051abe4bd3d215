"""What changed between two FAUCET configs, and the smallest config that validates the change.

Edits copy on write (``faucet_dp.put_dp``), so a DP or section that did not change is the same
object in both configs and is skipped without being compared. FAUCET's parser checks one DP
against another only for stacking and tunnels (and duplicate dp_ids, checked here), so when
neither is in use a change is validated with just the DPs it touched and the shared sections
they may name (ACLs, meters, VLANs). Within a DP whose own settings did not change and whose
ports name no other port (no mirroring, stacking or LACP), only the ports added or changed are
validated. The cost follows the change, not the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DPS = "dps"
# Sections a DP may name, copied whole into a partial candidate.
SHARED = ("acls", "meters", "vlans")
# Keys under which FAUCET links one DP to another.
CROSS_DP_KEYS = frozenset({"stack", "tunnel"})
INCLUDES = ("include", "include-optional")
# Port settings that concern that port alone; a port with any other key (mirror, stack, lacp,
# coprocessor ...) may tie ports together, and its DP is then validated whole.
LONE_PORT_KEYS = frozenset({
    "description", "name", "number", "enabled", "native_vlan", "tagged_vlans", "acls_in",
    "acl_in", "opstatus_reconf", "output_only", "max_hosts", "permanent_learn", "unicast_flood",
    "hairpin", "hairpin_unicast", "loop_protect", "loop_protect_external",
    "restricted_bcast_arpnd",
})


def _same(a: Any, b: Any) -> bool:
    return a is b or a == b


def _mapping(value: Any) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Change:
    """DPs added or changed, DPs removed, and top-level sections (other than dps) changed."""

    dps: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dps or self.removed or self.sections)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> Change:
    if old is new:
        return Change()
    sections = tuple(
        str(key) for key in dict.fromkeys([*old, *new])
        if key != DPS and not _same(old.get(key), new.get(key))
    )
    old_dps, new_dps = _mapping(old.get(DPS)), _mapping(new.get(DPS))
    if (DPS in old) != (DPS in new) and not old_dps and not new_dps:
        sections += (DPS,)  # "dps:" appeared or went, empty either way
    if old_dps is new_dps:
        return Change(sections=sections)
    changed = tuple(str(k) for k, v in new_dps.items()
                    if k not in old_dps or not _same(old_dps[k], v))
    removed = tuple(str(k) for k in old_dps if k not in new_dps)
    return Change(changed, removed, sections)


def _without_port_descriptions(dp: Any) -> Any:
    interfaces = dp.get("interfaces") if isinstance(dp, Mapping) else None
    if not isinstance(interfaces, Mapping):
        return dp
    bare = {port: {k: v for k, v in iface.items() if k != "description"}
            if isinstance(iface, Mapping) else iface for port, iface in interfaces.items()}
    return {**dp, "interfaces": bare}


def only_port_descriptions(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when ``new`` differs from ``old`` in ports' descriptions and nothing else (which
    changes no flow in FAUCET). Compares only the DPs that changed."""
    change = diff(old, new)
    if not change or change.sections or change.removed:
        return False
    old_dps, new_dps = _mapping(old.get(DPS)), _mapping(new.get(DPS))
    return all(name in old_dps and _without_port_descriptions(old_dps[name])
               == _without_port_descriptions(new_dps[name]) for name in change.dps)


def mentions(value: Any, keys: frozenset[str]) -> bool:
    """Does any mapping inside ``value`` have one of ``keys``?"""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if any(key in keys for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


class CrossDpMemo:
    """``mentions(…, CROSS_DP_KEYS)`` per object, remembered while the object stays in use."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, bool]] = {}

    def __call__(self, value: Any) -> bool:
        hit = self._seen.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        found = mentions(value, CROSS_DP_KEYS)
        self._seen[id(value)] = (value, found)
        return found

    def keep_only(self, values: Iterable[Any]) -> None:
        keep = {id(v) for v in values}
        self._seen = {k: v for k, v in self._seen.items() if k in keep}


def _duplicate_dp_ids(dps: Mapping[Any, Any]) -> bool:
    ids = [_mapping(dp).get("dp_id") for dp in dps.values()]
    ids = [i for i in ids if i is not None]
    return len(ids) != len(set(ids))


def _lone_ports(interfaces: Mapping[Any, Any]) -> bool:
    return all(isinstance(port, Mapping) and LONE_PORT_KEYS.issuperset(port)
               for port in interfaces.values())


def changed_ports(old_dp: Any, new_dp: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``new_dp`` with only the ports added or changed since ``old_dp`` (no ports: nothing to
    validate), when that is enough to validate it; else ``new_dp`` whole."""
    if not isinstance(old_dp, Mapping):
        return new_dp
    old_ports, new_ports = _mapping(old_dp.get("interfaces")), _mapping(new_dp.get("interfaces"))
    settings = [key for key in dict.fromkeys([*old_dp, *new_dp]) if key != "interfaces"]
    if any(not _same(old_dp.get(key), new_dp.get(key)) for key in settings):
        return new_dp
    if not (_lone_ports(old_ports) and _lone_ports(new_ports)):
        return new_dp
    ports = {key: port for key, port in new_ports.items()
             if key not in old_ports or not _same(old_ports[key], port)}
    if not ports:
        return None
    return {**new_dp, "interfaces": ports}


def partial_candidate(old: Mapping[str, Any], new: Mapping[str, Any],
                      memo: CrossDpMemo | None = None) -> Mapping[str, Any] | None:
    """The config to validate ``new`` with, given that ``old`` was valid: just the changed DPs
    and the shared sections ({} when no DP changed), or None when only the whole file will do."""
    memo = memo or CrossDpMemo()
    change = diff(old, new)
    if change.sections or any(key in new or key in old for key in INCLUDES):
        return None
    if _mapping(new.get("routers")):
        return None  # FAUCET refuses a router no DP in the candidate uses
    new_dps = _mapping(new.get(DPS))
    if _duplicate_dp_ids(new_dps):
        return None
    if memo(_mapping(new.get("acls"))) or any(memo(dp) for dp in new_dps.values()):
        return None
    old_dps = _mapping(old.get(DPS))
    parts = {name: changed_ports(old_dps.get(name), new_dps[name]) for name in change.dps}
    dps = {name: part for name, part in parts.items() if part is not None}
    if not dps:
        return {}
    candidate: dict[str, Any] = {key: new[key] for key in SHARED if key in new}
    candidate[DPS] = dps
    return candidate

