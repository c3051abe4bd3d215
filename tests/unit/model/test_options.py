"""Value parsers and name patterns shared by options, flags and labels (model/options.py, model/names.py)."""

from __future__ import annotations

import re

import pytest

from dovesnap.errors import FlagError, OptionError
from dovesnap.model.fabric_flags import parse_stack_mirror_interface, parse_stacking_interfaces
from dovesnap.model.names import ACL_NAME_RE, DP_NAME_RE, IFNAME_RE
from dovesnap.model.options import parse_ifname, split_items


@pytest.mark.parametrize("pattern", [IFNAME_RE, DP_NAME_RE, ACL_NAME_RE])
def test_name_patterns_refuse_a_trailing_newline(pattern: re.Pattern[str]) -> None:
    assert pattern.match("eth0")
    assert not pattern.match("eth0\n")


def test_flags_and_options_refuse_a_trailing_newline() -> None:
    with pytest.raises(OptionError):
        parse_ifname("ovs.bridge.name", "eth0\n")
    with pytest.raises(FlagError, match="not a FAUCET DP name"):
        parse_stack_mirror_interface("sw1\n:88")
    with pytest.raises(FlagError, match="not a FAUCET DP name"):
        parse_stacking_interfaces("sw1\n:1:eth1")


@pytest.mark.parametrize(("value", "sep", "expected"), [
    ("", ",", []), (" a, ,b ,", ",", ["a", "b"]), ("n1:a,b / n2:c/", "/", ["n1:a,b", "n2:c"]),
])
def test_split_items(value: str, sep: str, expected: list[str]) -> None:
    assert split_items(value, sep) == expected
