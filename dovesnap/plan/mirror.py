"""Standalone OpenFlow rules of the mirror and loopback bridges, as data.

Neither bridge is FAUCET's: dovesnap installs these few rules itself (``adapters/openflow.py``
renders them for ``ovs-ofctl``). Every number in a rule comes from OVS or a validated option,
never from a user's string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# OpenFlow port numbers the mirror bridge asks for its own interfaces.
MIRROR_OUT_OFPORT = 1
MIRROR_IN_OFPORT = 2
FIRST_PATCH_OFPORT = 3

PRIORITY_DEFAULT = 0
PRIORITY_LOOP = 1
PRIORITY_TAP = 2


@dataclass(frozen=True)
class Flow:
    """One rule of table 0. No output and no hairpin means drop."""

    priority: int
    in_port: int | None = None
    set_vlan: int | None = None
    output: int | None = None
    hairpin: bool = False

    def render(self) -> str:
        """``ovs-ofctl`` flow syntax."""
        match = f"priority={self.priority}"
        if self.in_port is not None:
            match += f",in_port={self.in_port}"
        actions: list[str] = []
        if self.set_vlan is not None:
            actions.append(f"mod_vlan_vid:{self.set_vlan}")
        if self.hairpin:
            actions.append("in_port")
        if self.output is not None:
            actions.append(f"output:{self.output}")
        return f"{match},actions={','.join(actions) or 'drop'}"


@dataclass(frozen=True)
class MirrorTap:
    """A network's patch on the mirror bridge and the VLAN its copies are tagged with."""

    ofport: int
    vlan: int


def mirror_bridge_flows(
    out_port: int, taps: Iterable[MirrorTap], river_port: int | None = None
) -> tuple[Flow, ...]:
    """Copies from each network leave on ``out_port`` tagged with its VLAN; the river's
    upstream traffic leaves unchanged; anything else is dropped."""
    flows = [Flow(PRIORITY_DEFAULT)]
    for tap in sorted(taps, key=lambda t: t.ofport):
        flows.append(Flow(PRIORITY_TAP, in_port=tap.ofport, set_vlan=tap.vlan, output=out_port))
    if river_port is not None:
        flows.append(Flow(PRIORITY_TAP, in_port=river_port, output=out_port))
    return tuple(flows)


def loopback_flows() -> tuple[Flow, ...]:
    """Whatever enters the loopback bridge goes back out where it came from."""
    return (Flow(PRIORITY_DEFAULT), Flow(PRIORITY_LOOP, hairpin=True))
