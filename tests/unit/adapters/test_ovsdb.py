"""Values as OVSDB returns them, read back into Python."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.adapters.ovsdb import _int_or_none


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ([5], 5), ([], None), (-1, None), ([-1], None), ("7", None), (None, None), (0, 0)],
)
def test_int_or_none(value: Any, expected: int | None) -> None:
    assert _int_or_none(value) == expected
