"""``dovesnap status`` as text: one block per network, one row per port (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dovesnap.graph.facts import CONTAINER, NetworkFacts, PortFacts, addresses_of, all_network_facts

HEADERS = ("PORT", "NAME", "MAC", "IP", "ACL", "MIRROR", "STATE")
KIND_NAMES = {"external": "host interface", "copro": "coprocessor"}
# After the ACL or mirror state: set by the operator (dovesnap acl set / mirror), or by a Docker
# endpoint option (--driver-opt) rather than a label or the network's default.
SOURCE_MARKS = {"operator": " (set)", "option": " (driver-opt)"}


def port_state_text(port: PortFacts) -> str:
    """``ok``, or the state in capitals and its reason (``NOT-APPLIED: FAUCET refused ...``)."""
    if port.fail_closed:
        return f"FAIL-CLOSED: {port.fail_closed}"
    if port.state in ("", "ok"):
        return "ok"
    return f"{port.state.upper()}: {port.state_reason}" if port.state_reason else port.state.upper()


def _row(port: PortFacts) -> tuple[str, ...]:
    if port.kind == CONTAINER:
        state = port_state_text(port)
        name = port.name or f"? ({port.endpoint_id[:12]})"
    else:
        state = KIND_NAMES.get(port.kind, port.kind)
        name = port.name
    acls = (",".join(port.acls) or "-") + SOURCE_MARKS.get(port.acl_source, "")
    mirror = ("yes" if port.mirrored else "-") + SOURCE_MARKS.get(port.mirror_source, "")
    return (str(port.ofport), name, port.mac, " ".join(addresses_of(port)), acls, mirror, state)


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1], strict=True)]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    return lines


def _header(net: NetworkFacts) -> str:
    parts = [net.name or "?", f"bridge {net.bridge}", f"dpid {net.dpid}", f"mode {net.mode}",
             f"vlan {net.vlan}"]
    if net.gateways:
        parts.append("gateway " + " ".join(net.gateways))
    if net.default_acls:
        parts.append("default acl " + ",".join(net.default_acls))
    return "  ".join(parts)


def format_status(status: Mapping[str, Any], faucet: Mapping[str, Any] | None = None) -> str:
    """Readable text for a status JSON; ACL and mirror from ``faucet`` when given."""
    facts = all_network_facts(status, faucet)
    if not facts:
        return "no dovesnap networks\n"
    lines: list[str] = []
    for net in facts:
        lines.append(_header(net))
        if net.error:
            lines.append(f"  ERROR: {net.error}")
        if net.ports:
            lines.extend(_table([HEADERS, *(_row(p) for p in net.ports)]))
        else:
            lines.append("  (no containers)")
        lines.append("")
    return "\n".join(lines)
