"""Interface names and descriptions: short enough for the kernel, stable, distinct."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dovesnap.model.names import container_description, container_veth, host_veth, patch_name


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
