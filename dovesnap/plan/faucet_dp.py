"""Build a network's FAUCET DP as plain data, and put it into (or take it out of) a config.

Nothing here reads or writes files: the adapter ``adapters/faucet_config.py`` does that, after
FAUCET's own parser has accepted the result.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from dovesnap.errors import OptionError
from dovesnap.model.names import LOCAL_OFPORT
from dovesnap.model.network import NetworkSpec
from dovesnap.model.options import OPTION_PREFIX
from dovesnap.plan.config_copy import shallow_copy
from dovesnap.plan.egress import egress_acl_name, sync_egress_copies
from dovesnap.plan.ports import preallocated_ports

HARDWARE = "Open vSwitch"
PREALLOCATED_DESCRIPTION = "preallocated port"
MIRROR_DESCRIPTION = "dovesnap mirror port"


@dataclass(frozen=True)
class ContainerPort:
    """A container's port as FAUCET should see it."""

    ofport: int
    description: str
    acls: tuple[str, ...] = ()
    mirror: bool = False
    # When set the container is cut off: it gets no FAUCET interface, so FAUCET drops its traffic.
    fail_closed: str | None = None
    # False while the container's labels are not known yet.
    labels_known: bool = True
    # Created by Docker but not joined yet: its link cannot carry a container's traffic, so a
    # preallocated port there keeps its placeholder until Join decides (driver/join_policy.py).
    awaiting_join: bool = False


@dataclass(frozen=True)
class ExternalPort:
    """A host interface attached to the bridge (add_ports, add_copro_ports or added by hand)."""

    ofport: int
    ifname: str
    acl: str | None = None
    vlan: int | None = None
    coprocessor: bool = False
    # The interface's MAC, for the status JSON only: not part of the DP, nor of equality.
    mac: str = field(default="", compare=False)


@dataclass(frozen=True)
class DpInputs:
    """All that decides a network's DP."""

    spec: NetworkSpec
    name: str
    containers: tuple[ContainerPort, ...] = ()
    externals: tuple[ExternalPort, ...] = ()
    mirror_port: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    # ACLs put before the own ACLs of every container and preallocated port (a feature's rules
    # no label can skip); a port with no ACL of its own gets ``guard_open_acls`` instead: the
    # same rules, then allow the rest.
    guard_acls: tuple[str, ...] = ()
    guard_open_acls: tuple[str, ...] = ()
    # Ports of an operator's pre-seeded DP's own interfaces: never preallocated.
    reserved_ports: frozenset[int] = frozenset()
    # How many placeholder ports the DP has (the preallocated ones and the spares kept ready,
    # features/spare_ports); None: the network's ``preallocate_ports``.
    placeholders: int | None = None


def _acl_list(acls: Iterable[str]) -> list[str]:
    return list(acls)


def _guarded(inputs: DpInputs, acls: tuple[str, ...]) -> tuple[str, ...]:
    """A container or preallocated port's ``acls_in``, the guard's first."""
    if not inputs.guard_acls:
        return acls
    return (*inputs.guard_acls, *acls) if acls else inputs.guard_open_acls


def placeholder_skips(inputs: DpInputs) -> set[int]:
    """Port numbers no placeholder gets: placed add_ports (and add_copro_ports), the mirror
    port, an operator's pre-seeded interfaces."""
    spec = inputs.spec
    requested = {p.ifname for p in spec.add_ports + spec.add_copro_ports}
    placed = {e.ofport for e in inputs.externals if e.ifname in requested}
    return {*placed, spec.lbport, *inputs.reserved_ports}


def preallocated_range(inputs: DpInputs) -> list[int]:
    """The N placeholder port numbers (N: ``placeholders``, else ``preallocate_ports``): the
    lowest ones left once add_ports are placed, never the mirror port. Containers take them
    lowest first."""
    count = inputs.spec.preallocate_ports if inputs.placeholders is None else inputs.placeholders
    return preallocated_ports(count, (), placeholder_skips(inputs))


def interfaces(inputs: DpInputs) -> dict[int, dict[str, Any]]:
    """The DP's ``interfaces`` section, keyed by OpenFlow port number."""
    spec, name = inputs.spec, inputs.name
    vlan = spec.vlan  # FAUCET finds a VLAN entry by its vid too
    default_acls = spec.default_acl.for_network(name)
    result: dict[int, dict[str, Any]] = {}
    # A container's port never keeps a preallocated port's settings: until its policy is known
    # (``labels_known``) it has no interface at all, so FAUCET drops its traffic. When the
    # policy is known at Join and equals the placeholder's, only the description changes: the
    # placeholder is written like a container's port (``opstatus_reconf: false``, so FAUCET
    # has its flows in place before any link is up), the container forwards at once on them,
    # and the new description waits to go out with the next change (adapters/faucet_config.py):
    # taking a preallocated port over costs no FAUCET reload.
    occupied = {c.ofport for c in inputs.containers if not c.awaiting_join}
    occupied |= {e.ofport for e in inputs.externals}
    for port in preallocated_range(inputs):
        if port in occupied:
            continue
        iface: dict[str, Any] = {
            "description": PREALLOCATED_DESCRIPTION,
            "native_vlan": vlan,
            "opstatus_reconf": False,
        }
        if _guarded(inputs, default_acls):
            iface["acls_in"] = _acl_list(_guarded(inputs, default_acls))
        result[port] = iface
    for container in sorted(inputs.containers, key=lambda c: c.ofport):
        if container.fail_closed:
            continue
        if not container.labels_known:
            continue
        # FAUCET installs the port's flows when it loads the port (its link is up then: the
        # driver brings the container's end up at CreateEndpoint) and keeps them while Docker
        # moves that end into the container and brings it up again: the container's first
        # packet finds them. With FAUCET's default it would wait for that last link-up, which
        # comes a moment before the container's process starts, and lose the race.
        iface = {"description": container.description, "native_vlan": vlan,
                 "opstatus_reconf": False}
        acls = _guarded(inputs, container.acls or default_acls)
        if acls:
            iface["acls_in"] = _acl_list(acls)
        result[container.ofport] = iface
    for ext in sorted(inputs.externals, key=lambda e: e.ofport):
        iface = {"description": f"Physical interface {ext.ifname}"}
        if ext.coprocessor:
            iface["coprocessor"] = {"strategy": "vlan_vid"}
        else:
            iface["native_vlan"] = ext.vlan or vlan
        acls = (ext.acl,) if ext.acl else ()
        if acls:
            iface["acls_in"] = _acl_list(acls)
        result[ext.ofport] = iface
    if spec.mode in ("nat", "routed"):
        iface = {
            "description": "gateway",
            "native_vlan": vlan,
            "opstatus_reconf": False,
        }
        nat_acls = spec.nat_acl.for_network(name)
        if nat_acls:
            iface["acls_in"] = _acl_list(nat_acls)
        result[LOCAL_OFPORT] = iface
    mirrored = [
        c.ofport
        for c in inputs.containers
        if c.mirror and c.labels_known and not c.fail_closed and c.ofport in result
    ]
    if spec.lbport not in result:
        # Always there: FAUCET refuses a DP without interfaces, and a DP whose ports all change
        # at once (placeholder out, first container in) is cold-started with a forced switch
        # reconnection, which can lose a second container's port-up. The output-only mirror
        # port is harmless when nothing is patched to it, and is where mirrored traffic leaves
        # when something is.
        mirror_iface: dict[str, Any] = {
            "description": MIRROR_DESCRIPTION,
            "output_only": True,
        }
        if mirrored and inputs.mirror_port:
            mirror_iface["mirror"] = sorted(mirrored)
        result[spec.lbport] = mirror_iface
    return result


def takes_over_as_is(inputs: DpInputs, ofport: int) -> bool:
    """True when the container on ``ofport`` keeps its placeholder's FAUCET settings: the DP
    differs from the one with the placeholder only in that port's description, so FAUCET
    forwards for it on what it runs already."""
    if ofport not in preallocated_range(inputs):
        return False
    placeholder = replace(inputs, containers=tuple(
        c for c in inputs.containers if c.ofport != ofport))
    now, before = interfaces(inputs), interfaces(placeholder)
    if ofport not in now or ofport not in before:
        return False
    now[ofport] = {k: v for k, v in now[ofport].items() if k != "description"}
    before[ofport] = {k: v for k, v in before[ofport].items() if k != "description"}
    return now == before


def build_dp(inputs: DpInputs) -> dict[str, Any]:
    """A FAUCET ``dps`` entry for the network."""
    spec = inputs.spec
    dp: dict[str, Any] = {"dp_id": spec.dpid, "hardware": HARDWARE}
    if spec.vlan_out_acl.for_network(inputs.name):
        dp["egress_pipeline"] = True
    dp.update(inputs.extra)
    dp["interfaces"] = interfaces(inputs)
    return dp


def egress_vlan_name(spec: NetworkSpec) -> str:
    """The VLAN entry for a VID with an output ACL. FAUCET allows one entry per VID in a config,
    so networks sharing a VID share it (and must agree on the ACL: the driver checks)."""
    return f"dovesnap-vlan{spec.vlan}"


def build_vlans(inputs: DpInputs) -> dict[str, dict[str, Any]]:
    """Top-level ``vlans`` entries the network needs (only for an output ACL, which names
    dovesnap's copy of the operator's ACL: see ``plan/egress.py``)."""
    out_acls = [egress_acl_name(acl) for acl in inputs.spec.vlan_out_acl.for_network(inputs.name)]
    if not out_acls:
        return {}
    return {
        egress_vlan_name(inputs.spec): {
            "vid": inputs.spec.vlan,
            "acl_out": out_acls[0] if len(out_acls) == 1 else out_acls,
        }
    }


Config = MutableMapping[str, Any]


def copy_config(config: Mapping[str, Any]) -> Config:
    """A deep copy of a FAUCET config to edit (an empty one for none)."""
    return copy.deepcopy(cast(Config, config)) if config else {}


def section(parent: MutableMapping[Any, Any], key: str) -> MutableMapping[Any, Any]:
    """``parent[key]``, set to an empty mapping first when it is missing or not a mapping."""
    value = parent.get(key)
    if not isinstance(value, MutableMapping):
        value = {}
        parent[key] = value
    return value


def _edited_section(new: Config, key: str) -> MutableMapping[Any, Any]:
    """``new[key]`` replaced by a copy of itself (so the original config is never changed)."""
    value = new.get(key)
    copied: MutableMapping[Any, Any] = (
        shallow_copy(value) if isinstance(value, Mapping) else {}
    )
    new[key] = copied
    return copied


def put_dp(config: Mapping[str, Any], name: str, dp: Mapping[str, Any],
           vlans: Mapping[str, Any] | None = None) -> Config:
    """A copy of ``config`` with DP ``name`` set to ``dp``; other sections keep their order.

    Copy on write: only the top level and the sections changed are copied, the rest (other DPs,
    the operator's ACLs ...) is shared with ``config``, so the cost does not grow with the file.
    Neither config may be changed in place afterwards (every edit here returns a new one)."""
    new = shallow_copy(config) if config else {}
    _edited_section(new, "dps")[name] = dict(dp)
    if vlans:
        vlan_section = _edited_section(new, "vlans")
        for key, value in vlans.items():
            vlan_section[key] = dict(value)
    return sync_egress_copies(new)


def remove_dp(config: Mapping[str, Any], name: str, vlan_names: Iterable[str] = ()) -> Config:
    """A copy of ``config`` without DP ``name`` (and the named dovesnap VLAN entries);
    copy on write, as ``put_dp``."""
    new = shallow_copy(config) if config else {}
    if isinstance(new.get("dps"), Mapping) and name in new["dps"]:
        _edited_section(new, "dps").pop(name, None)
    vlans = new.get("vlans")
    if isinstance(vlans, Mapping) and any(vlan in vlans for vlan in vlan_names):
        vlan_section = _edited_section(new, "vlans")
        for vlan in vlan_names:
            vlan_section.pop(vlan, None)
    return sync_egress_copies(new)


def dp_names_with_id(config: Mapping[str, Any], dpid: int) -> list[str]:
    dps = config.get("dps") if config else None
    if not isinstance(dps, Mapping):
        return []
    return [str(k) for k, v in dps.items() if isinstance(v, Mapping) and v.get("dp_id") == dpid]


def acl_names(config: Mapping[str, Any]) -> set[str]:
    acls = config.get("acls") if config else None
    return {str(k) for k in acls} if isinstance(acls, Mapping) else set()


def check_acls_exist(spec: NetworkSpec, config: Mapping[str, Any]) -> None:
    """Refuse ACL options naming ACLs faucet.yaml does not define (unless it uses includes)."""
    if config.get("include") or config.get("include-optional"):
        return  # FAUCET's own parser sees the included files when the DP is written
    known = acl_names(config)
    named = {
        "nat_acl": spec.nat_acl, "default_acl": spec.default_acl,
        "vlan_out_acl": spec.vlan_out_acl,
    }
    wanted_by_option = {
        option: set(value.default) | {acl for _, acls in value.by_network for acl in acls}
        for option, value in named.items()
    }
    wanted_by_option["add_ports"] = {p.acl for p in spec.add_ports if p.acl}
    wanted_by_option["add_copro_ports"] = {p.acl for p in spec.add_copro_ports if p.acl}
    for option, wanted in wanted_by_option.items():
        missing = sorted(wanted - known)
        if missing:
            raise OptionError(
                OPTION_PREFIX + option, f"ACL {missing[0]} is not defined in faucet.yaml",
                "add it to faucet.yaml first, or fix the name",
            )
