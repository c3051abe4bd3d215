"""add_ports, coprocessor ports and hand-added ports: the pure choices (tables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from dovesnap.features.external_ports.plan import attach_plan, attached_requests, hand_added
from dovesnap.model.names import EXT_ENDPOINT_ID, EXT_ROLE
from dovesnap.model.network import PortRequest
from dovesnap.plan.faucet_dp import ExternalPort

BR = "odsbra1b2c"


@dataclass(frozen=True)
class Row:
    name: str
    ofport: int | None
    external_ids: Mapping[str, str] = field(default_factory=dict)
    type: str = ""


@pytest.mark.parametrize(
    ("requests", "used", "reserved", "expected"),
    [
        ([PortRequest("a", 7)], [], [99], [7]),
        ([PortRequest("a", 7)], [7], [99], [1]),  # taken: the next free one
        ([PortRequest("a"), PortRequest("b", 1)], [], [], [2, 1]),  # later requests keep theirs
        ([PortRequest("a"), PortRequest("b")], [1, 2], [3], [4, 5]),
        ([PortRequest("a", 99)], [], [99], [99]),  # asked for by name: allowed
        ([PortRequest("a", 5), PortRequest("b", 5)], [], [], [5, 1]),
    ],
)
def test_attach_plan(requests: list[PortRequest], used: list[int], reserved: list[int],
                     expected: list[int]) -> None:
    assert [ofport for _, ofport in attach_plan(requests, used, reserved)] == expected


@pytest.mark.parametrize(
    ("row", "is_hand_added"),
    [
        (Row("eth5", 3), True),
        (Row("tap0", 4, type="internal"), True),
        (Row(BR, 65534, type="internal"), False),  # the LOCAL port
        (Row("odsvea1b2c", 1, {EXT_ENDPOINT_ID: "x"}), False),  # a container
        (Row("eth6", 2, {EXT_ROLE: "add_port"}), False),  # add_ports
        (Row("ods0123456789ab", 5), False),  # a dovesnap patch link
        (Row("patch-x", 6, type="patch"), False),
        (Row("eth7", None), False),  # no OpenFlow number yet
        # Added by hand, whatever the name starts with: only dovesnap's exact names are its own.
        (Row("odshand1", 7), True),
        (Row("odsve12", 8), True),
        (Row("ods0123456789abc", 9), True),
        (Row("odsvea1b2c", 10), False),  # a container veth's name, even without its ids
    ],
)
def test_hand_added(row: Row, is_hand_added: bool) -> None:
    assert (row.name in hand_added([row], BR)) is is_hand_added


def test_attached_requests_need_the_right_role() -> None:
    rows = [Row("eth1", 7, {EXT_ROLE: "add_port"}), Row("eth2", 8, {EXT_ROLE: "add_port"})]
    requests = [PortRequest("eth1", 7, "allowall", 200), PortRequest("eth2", coprocessor=True)]
    assert attached_requests(rows, requests) == {"eth1": ExternalPort(7, "eth1", "allowall", 200)}
