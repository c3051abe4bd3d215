"""Interface names and descriptions: short enough for the kernel, stable, distinct."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovesnap.model.names import (
    container_description,
    container_veth,
    host_veth,
    is_own_link_name,
    is_own_port_name,
    patch_name,
)


@given(st.text(alphabet="0123456789abcdef", min_size=5, max_size=64))
def test_veth_names_fit_ifnamsiz(endpoint_id: str) -> None:
    assert host_veth(endpoint_id) == "odsve" + endpoint_id[:5]
    assert container_veth(endpoint_id) == "ethc" + endpoint_id[:5]
    assert len(host_veth(endpoint_id)) <= 15
    assert len(container_veth(endpoint_id)) <= 15


@given(st.text(min_size=1, max_size=40))
def test_patch_name_is_short_and_stable(bridge: str) -> None:
    name = patch_name(bridge)
    assert name.startswith("ods") and len(name) <= 15
    assert patch_name(bridge) == name


def test_patch_names_differ_between_bridges() -> None:
    assert patch_name("odsbr12345") != patch_name("odsbr12346")


@pytest.mark.parametrize(
    ("name", "cid", "expected"),
    [("/web", "0123456789", "web 01234"), ("db", "abcdefabcdef", "db abcde")],
)
def test_container_description(name: str, cid: str, expected: str) -> None:
    assert container_description(name, cid) == expected


@given(st.text(alphabet="0123456789abcdef", min_size=5, max_size=64), st.text(min_size=1))
def test_own_names_are_exactly_the_names_dovesnap_gives(endpoint_id: str, bridge: str) -> None:
    assert is_own_port_name(host_veth(endpoint_id)) and is_own_port_name(patch_name(bridge))
    assert is_own_link_name(container_veth(endpoint_id)) and is_own_link_name(patch_name(bridge))
    assert not is_own_port_name(container_veth(endpoint_id))  # never on a bridge


@pytest.mark.parametrize("name", ["odshand1", "ods", "odsve1234", "odsve123456", "odsveABCDE",
                                  "ods0123456789abc", "ethc0", "ethcabcdefg", "eth0", "odsbr12345"])
def test_other_names_are_not_dovesnaps(name: str) -> None:
    assert not is_own_link_name(name)
