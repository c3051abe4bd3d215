"""Spare ports: placeholders kept free on a network, so a new container's port is one FAUCET
already runs and its start waits for no FAUCET reload.

A placeholder is written as a container's port is (``plan/faucet_dp.py``): a container whose
policy is the placeholder's takes it over with a description change only, which FAUCET applies
without a reload. ``ovs.bridge.preallocate_ports`` gives a network a fixed number of them; with
``dovesnap serve --spare-ports N`` every network keeps at least N of its placeholders free
(its preallocated ones count). When containers drain them to a quarter of that (or, in a
burst, to half the containers of the last seconds), the pool is refilled in one write, sized by
how many containers came in the last seconds (a burst refills bigger, so it costs a few reloads,
not one per container); after a quiet spell the pool shrinks back to N. Only the background
refill reloads FAUCET, never a container's Join (and its new placeholders get flows through
stand-ins: ``stand_ins.py``).

Pure: counts in, counts out. ``hooks.py`` keeps the counts and has the DP written.
"""

from __future__ import annotations

from dataclasses import replace

from dovesnap.model.options import MAX_OFPORT_REQUEST
from dovesnap.plan.faucet_dp import DpInputs, placeholder_skips, preallocated_range

MAX_SPARE = 64  # free placeholders a network is refilled to at most, whatever the burst
RECENT = 10.0  # seconds: the containers started this recently size a refill
QUIET = 30.0  # seconds without a new container before the pool shrinks back


def occupied(inputs: DpInputs) -> set[int]:
    """Ports a container (joined or not yet) or a host interface holds."""
    return {c.ofport for c in inputs.containers} | {e.ofport for e in inputs.externals}


def free_placeholders(inputs: DpInputs) -> int:
    """Placeholders no container holds."""
    return len(set(preallocated_range(inputs)) - occupied(inputs))


def placeholders_for(inputs: DpInputs, free: int, minimum: int) -> int:
    """The fewest placeholders (at least ``minimum``) of which ``free`` are unoccupied."""
    skip, held = placeholder_skips(inputs), occupied(inputs)
    count = unoccupied = 0
    port = 1
    while (count < minimum or unoccupied < free) and port <= MAX_OFPORT_REQUEST:
        if port not in skip:
            count += 1
            unoccupied += port not in held
        port += 1
    return count


def new_placeholders(inputs: DpInputs, count: int) -> list[int]:
    """The unoccupied port numbers ``count`` placeholders add to the ones in ``inputs``."""
    before = set(preallocated_range(inputs))
    grown = preallocated_range(replace(inputs, placeholders=count))
    held = occupied(inputs)
    return [port for port in grown if port not in before and port not in held]


def low_mark(spare: int, recent: int = 0) -> int:
    """Free placeholders left when a refill starts: room for the containers that come while it
    runs (a quarter of ``spare``; half the recent ones in a burst)."""
    return max(1, spare // 4, recent // 2)


def refill_to(spare: int, recent: int) -> int:
    """Free placeholders a refill leaves: twice the recent containers, at least ``spare``."""
    return min(MAX_SPARE, max(spare, 2 * recent))


def after_take(inputs: DpInputs, current: int, spare: int, recent: int) -> int | None:
    """The new placeholder count when a container took one and too few are left, else None.

    ``current``: the placeholders now; ``recent``: containers started in the last ``RECENT``
    seconds, this one included."""
    if spare <= 0 or free_placeholders(inputs) > low_mark(spare, recent):
        return None
    wanted = placeholders_for(inputs, refill_to(spare, recent), current)
    return wanted if wanted > current else None


def after_quiet(inputs: DpInputs, current: int, spare: int) -> int | None:
    """The placeholder count once the network has been quiet: ``spare`` free, the preallocated
    ones kept; None when it has no more than that."""
    wanted = placeholders_for(inputs, spare, inputs.spec.preallocate_ports)
    return wanted if wanted < current else None


def initial(inputs: DpInputs, spare: int) -> int:
    """The placeholder count of a network created or restored: ``spare`` of them free."""
    return placeholders_for(inputs, spare, inputs.spec.preallocate_ports)
