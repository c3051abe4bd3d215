"""Interface names and descriptions: short enough for the kernel, stable, distinct."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovesnap.model.names import (
    CONTAINER_VETH_RE,
    HOST_VETH_RE,
    PATCH_RE,
    container_description,
    container_veth,
    container_veth_of,
    host_veth,
    is_own_link_name,
    is_own_port_name,
    patch_name,
    veth_pair_names,
)


@given(st.text(alphabet="0123456789abcdef", min_size=5, max_size=64))
def test_veth_names_fit_ifnamsiz(endpoint_id: str) -> None:
    assert host_veth(endpoint_id) == "odsve" + endpoint_id[:5]
    assert container_veth(endpoint_id) == "ethc" + endpoint_id[:5]
    assert len(host_veth(endpoint_id)) <= 15
    assert len(container_veth(endpoint_id)) <= 15


def test_veth_pairs_grow_a_digit_at_a_time_up_to_ifnamsiz() -> None:
    pairs = veth_pair_names("0123456789abcdef" * 4)
    assert pairs[0] == ("odsve01234", "ethc01234")
    assert pairs[-1] == ("odsve0123456789", "ethc0123456789")
    assert len(pairs) == 6
    for host, peer in pairs:
        assert HOST_VETH_RE.match(host) and CONTAINER_VETH_RE.match(peer)
        assert container_veth_of(host) == peer


@pytest.mark.parametrize("name", ["ethcore0", "odsvethernet", "odsve1234", "odsve0123456789a",
                                  "odsvE12345", "odsve12345\n"])
def test_only_dovesnaps_exact_veth_names_match(name: str) -> None:
    assert not HOST_VETH_RE.match(name) and not CONTAINER_VETH_RE.match(name)


@given(st.text(min_size=1, max_size=40))
def test_patch_name_is_short_and_stable(bridge: str) -> None:
    name = patch_name(bridge)
    assert name.startswith("ods") and len(name) <= 15 and PATCH_RE.match(name)
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


@pytest.mark.parametrize("name", ["odshand1", "ods", "odsve1234", "odsveABCDE",
                                  "ods0123456789abc", "ethc0", "ethcabcdefg", "eth0", "odsbr12345"])
def test_other_names_are_not_dovesnaps(name: str) -> None:
    assert not is_own_link_name(name)
