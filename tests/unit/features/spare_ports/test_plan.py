"""How many placeholders a network keeps: refilled in a few big steps under a burst, shrunk
back when quiet, never counting a port a container or host interface holds."""

from __future__ import annotations

from dataclasses import replace

from dovesnap.features.spare_ports.plan import (
    MAX_SPARE,
    after_quiet,
    after_take,
    free_placeholders,
    initial,
    low_mark,
    placeholders_for,
    refill_to,
)
from dovesnap.plan.faucet_dp import (
    PREALLOCATED_DESCRIPTION,
    ContainerPort,
    DpInputs,
    ExternalPort,
    interfaces,
    preallocated_range,
    takes_over_as_is,
)
from tests.unit.specs import spec


def with_ports(inputs: DpInputs, *ports: int) -> DpInputs:
    return replace(inputs, containers=tuple(ContainerPort(p, f"c{p}") for p in ports))


def test_the_pool_skips_the_mirror_port_and_placed_add_ports() -> None:
    s = spec(preallocate_ports="2", add_ports="eth9/3", lbport="5")
    inputs = DpInputs(s, "n1", externals=(ExternalPort(3, "eth9"),))
    assert initial(inputs, 4) == 4
    assert preallocated_range(replace(inputs, placeholders=4)) == [1, 2, 4, 6]
    held = with_ports(replace(inputs, placeholders=4, externals=inputs.externals), 1, 2)
    assert free_placeholders(held) == 2
    assert placeholders_for(held, 4, 0) == 6  # 1, 2 held: 4, 6, 7, 8 free
    assert preallocated_range(replace(held, placeholders=6)) == [1, 2, 4, 6, 7, 8]


def test_preallocated_ports_count_as_spare_and_stay() -> None:
    inputs = DpInputs(spec(preallocate_ports="6"), "n1")
    assert initial(inputs, 4) == 6  # six free already
    assert after_quiet(replace(inputs, placeholders=6), 6, 4) is None  # never below six


def test_a_lone_container_does_not_refill() -> None:
    inputs = replace(with_ports(DpInputs(spec(), "n1"), 1), placeholders=8)
    assert after_take(inputs, 8, 8, recent=1) is None  # seven free, low mark two


def test_a_burst_costs_a_few_refills_each_bigger() -> None:
    """Twenty containers at once on a network keeping eight: three refills, not twenty."""
    base, spare = DpInputs(spec(), "n1"), 8
    count, refills, taken = initial(base, spare), [], []
    for port in range(1, 21):
        taken.append(port)
        inputs = replace(with_ports(base, *taken), placeholders=count)
        grown = after_take(inputs, count, spare, recent=len(taken))
        if grown is not None:
            refills.append((port, grown))
            count = grown
    # The second comes earlier than the first would: half the recent containers are left.
    assert [port for port, _ in refills] == [6, 12]
    assert refills[0][1] == 6 + refill_to(spare, 6)  # twelve free after six taken
    assert refills[1][1] == 12 + refill_to(spare, 12)
    assert free_placeholders(replace(with_ports(base, *taken), placeholders=count)) > 0
    assert len(refills) <= 3


def test_refills_are_bounded_and_the_low_mark_is_a_quarter() -> None:
    assert refill_to(8, 100) == MAX_SPARE
    assert refill_to(8, 1) == 8
    assert low_mark(8) == 2 and low_mark(1) == 1 and low_mark(8, recent=12) == 6
    assert after_take(DpInputs(spec(), "n1", placeholders=0), 0, 0, 50) is None  # off


def test_quiet_shrinks_to_spare_free_above_the_containers() -> None:
    inputs = replace(with_ports(DpInputs(spec(), "n1"), 1, 2, 3), placeholders=40)
    assert after_quiet(inputs, 40, 4) == 7  # three held, four free


def test_a_takeover_as_is_changes_only_the_description() -> None:
    inputs = DpInputs(spec(preallocate_ports="2", default_acl="dflt"), "n1")
    plain = replace(inputs, containers=(ContainerPort(1, "web 12345", acls=("dflt",)),))
    assert interfaces(inputs)[1]["description"] == PREALLOCATED_DESCRIPTION
    assert takes_over_as_is(plain, 1)
    other_acl = replace(inputs, containers=(ContainerPort(1, "web 12345", acls=("deny",)),))
    assert not takes_over_as_is(other_acl, 1)
    mirrored = replace(inputs, containers=(
        ContainerPort(1, "web 12345", acls=("dflt",), mirror=True),), mirror_port=True)
    assert not takes_over_as_is(mirrored, 1)  # the mirror port's list changes too
    beyond = replace(inputs, containers=(ContainerPort(3, "web 12345", acls=("dflt",)),))
    assert not takes_over_as_is(beyond, 3)  # no placeholder there: FAUCET must load the port
    unknown = replace(inputs, containers=(ContainerPort(1, "", labels_known=False),))
    assert not takes_over_as_is(unknown, 1)  # closed: its interface goes
