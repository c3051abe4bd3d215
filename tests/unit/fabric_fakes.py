"""A stateful OpenFlow switch stand-in and a tiny table-0 evaluator for the daemon's bridges.

Tests ask "where does a packet entering port N go, with which VLAN?" instead of comparing rule
text, so they keep passing however the rules are written as long as the behaviour holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dovesnap.plan.mirror import Flow


def forward(flows: Sequence[Flow], in_port: int, vlan: int | None = None) -> list[tuple[int, int | None]]:
    """``[(out port, VLAN)]`` for a packet entering ``in_port``; empty when dropped."""
    matching = [f for f in flows if f.in_port in (None, in_port)]
    if not matching:
        return []
    top = max(f.priority for f in matching)
    best = [f for f in matching if f.priority == top]
    assert len(best) == 1, f"ambiguous rules for in_port {in_port}: {best}"
    flow = best[0]
    vid = flow.set_vlan if flow.set_vlan is not None else vlan
    out: list[tuple[int, int | None]] = []
    if flow.hairpin:
        out.append((in_port, vid))
    if flow.output is not None:
        out.append((flow.output, vid))
    return out


class FakeOpenFlow:
    """Keeps each bridge's table 0, as ``replace_flows`` leaves it."""

    def __init__(self) -> None:
        self.tables: dict[str, tuple[Flow, ...]] = {}
        self.fail: set[str] = set()

    def replace_flows(self, bridge: str, flows: Sequence[Flow]) -> None:
        from dovesnap.errors import BackendError

        if bridge in self.fail:
            raise BackendError(f"ovs-ofctl could not set the rules of bridge {bridge}: injected")
        self.tables[bridge] = tuple(flows)


class FakeMetrics:
    """FAUCET's Prometheus page: the stack states a test sets; every DP counts as reloaded as
    often as ``reloads()`` says FAUCET was; and for each DP of the config FAUCET runs
    (``loaded()``, None: it runs none yet), whether its switch is connected (unless named in
    ``disconnected``) and whether its pipeline has a port ACL table (some port has ``acls_in``,
    as FAUCET decides it)."""

    def __init__(self, reloads: Callable[[], int] = lambda: 0,
                 loaded: Callable[[], Mapping[str, Any] | None] = lambda: None) -> None:
        self.states: dict[tuple[str, int], int] = {}
        self.reads = 0
        self.reloads = reloads
        self.loaded = loaded
        self.disconnected: set[str] = set()

    def __call__(self) -> str:
        self.reads += 1
        if not self.states:
            raise OSError("connection refused")
        lines = ["# HELP port_stack_state state of stacking on a port",
                 "# TYPE port_stack_state gauge"]
        for (dp, port), state in sorted(self.states.items()):
            lines.append(
                f'port_stack_state{{dp_id="0x1",dp_name="{dp}",port="{port}",'
                f'port_description="x"}} {float(state)}'
            )
        for dp in sorted({dp for dp, _ in self.states}):
            lines.append(f'faucet_config_reload_warm_total{{dp_id="0x1",dp_name="{dp}"}} '
                         f"{float(self.reloads())}")
        lines.append(f"faucet_config_reload_requests_total {float(self.reloads())}")
        for dp, body in ((self.loaded() or {}).get("dps") or {}).items():
            interfaces = (body or {}).get("interfaces") or {}
            port_acl = any("acls_in" in (iface or {}) for iface in interfaces.values())
            labels = f'dp_id="0x1",dp_name="{dp}"'
            lines.append(f"dp_status{{{labels}}} {0.0 if dp in self.disconnected else 1.0}")
            if port_acl:
                lines.append(f'faucet_config_table_names{{{labels},table_name="port_acl",'
                             f'next_tables="vlan"}} 0.0')
            lines.append(f'faucet_config_table_names{{{labels},table_name="vlan",'
                         f'next_tables="eth_src"}} {1.0 if port_acl else 0.0}')
        return "\n".join(lines) + "\n"
