"""OpenFlow port numbers: the lowest free one, or the one asked for when it is free."""

from __future__ import annotations

import pytest

from dovesnap.plan.ports import choose_ofport, lowest_free_ofport, preallocated_ports


@pytest.mark.parametrize(
    ("used", "reserved", "start", "expected"),
    [
        ([], [], 1, 1),
        ([1, 2, 3], [], 1, 4),
        ([1, 3], [], 1, 2),
        ([1], [2, 99], 1, 3),
        ([2], [], 2, 3),
        ([], [], 10, 10),
    ],
)
def test_lowest_free_ofport(used: list[int], reserved: list[int], start: int, expected: int) -> None:
    assert lowest_free_ofport(used, reserved, start) == expected


def test_lowest_free_ofport_when_full() -> None:
    with pytest.raises(ValueError):
        lowest_free_ofport(range(1, 65280))


@pytest.mark.parametrize(
    ("requested", "used", "reserved", "expected"),
    [
        (None, [1], [], 2),
        (7, [1], [], 7),
        (7, [7], [], 1),
        (7, [], [7], 1),
        (1, [1, 2], [3], 4),
    ],
)
def test_choose_ofport(requested: int | None, used: list[int], reserved: list[int], expected: int) -> None:
    assert choose_ofport(requested, used, reserved) == expected


@pytest.mark.parametrize(
    ("count", "taken", "reserved", "expected"),
    [
        (0, [], [], []),
        (3, [], [], [1, 2, 3]),
        (10, [1, 2, 3], [99], list(range(4, 14))),
        (3, [2], [3], [1, 4, 5]),
        (2, [], range(1, 65280), []),  # nothing left: as many as there are
    ],
)
def test_preallocated_ports(count: int, taken: list[int], reserved: list[int],
                            expected: list[int]) -> None:
    assert preallocated_ports(count, taken, reserved) == expected
