"""A network's egress ACL (``vlan_out_acl``) under a name of dovesnap's own (pure).

FAUCET 1.10 gives every ACL one set of table match types. An ACL that is both a port's
``acls_in`` (``default_acl``, ``nat_acl``, a container's ``portacl``) and a VLAN's ``acl_out``
gets the union of the ingress and egress tables' needs, and FAUCET's valve then fails an
assertion ("vlan_vid match in table egress_acl") on every port it adds: the bridge gets no
flows, and FAUCET restarts in a loop, for every network. So the VLAN names a copy,
``dovesnap-egress-<ACL>``, of the operator's rules: the two uses never share an ACL. The copy is
refreshed from the original on every write (the operator's edits reach it) and goes when no
VLAN names it any more.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

from dovesnap.plan.config_copy import shallow_copy

EGRESS_PREFIX = "dovesnap-egress-"


def egress_acl_name(acl: str) -> str:
    """The name of dovesnap's copy of the operator's ACL ``acl``, for a VLAN's ``acl_out``."""
    return EGRESS_PREFIX + acl


def _acl_out_names(vlans: Any) -> set[str]:
    names: set[str] = set()
    if not isinstance(vlans, Mapping):
        return names
    for vlan in vlans.values():
        out = vlan.get("acl_out") if isinstance(vlan, Mapping) else None
        if isinstance(out, str):
            names.add(out)
        elif isinstance(out, list):
            names.update(str(name) for name in out)
    return names


def sync_egress_copies(config: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``config`` (its top level edited in place, and returned) with every copy a VLAN names
    made afresh from the operator's ACL, and every copy no VLAN names removed. A copy whose
    original is gone is left out: FAUCET then refuses the config and says which ACL is missing.

    The ``acls`` section itself is replaced by an edited copy, never changed in place: it may be
    shared with the config this one was copied from."""
    acls = config.get("acls")
    current: Mapping[str, Any] = acls if isinstance(acls, Mapping) else {}
    wanted = {name for name in _acl_out_names(config.get("vlans"))
              if name.startswith(EGRESS_PREFIX)}
    drop = [n for n in current if str(n).startswith(EGRESS_PREFIX) and n not in wanted]
    refresh: dict[str, Any] = {}
    for name in sorted(wanted):
        original = current.get(name[len(EGRESS_PREFIX):])
        if original is None:
            if name in current:
                drop.append(name)
        elif current.get(name) != original:
            refresh[name] = copy.deepcopy(original)
    if not drop and not refresh:
        return config
    edited = shallow_copy(current)
    for name in drop:
        edited.pop(name, None)
    edited.update(refresh)
    config["acls"] = edited
    return config
