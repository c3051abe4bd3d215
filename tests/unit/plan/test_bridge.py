"""The bridge plan: OVS settings and external_ids from a network spec, and the spec's JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest

from dovesnap.model.codec import spec_from_json
from dovesnap.model.names import EXT_DRIVER, EXT_NETWORK_ID, EXT_NETWORK_NAME, EXT_SPEC
from dovesnap.plan.bridge import plan_bridge, spec_to_json
from tests.unit.specs import CTRL, IPV4, spec


@pytest.mark.parametrize(("userspace", "datapath"), [(False, "system"), (True, "netdev")])
def test_plan_bridge(userspace: bool, datapath: str) -> None:
    s = spec(dpid="0xab", mtu="9000", ovs_local_mac="0e:00:00:00:00:01", name="br7")
    plan = plan_bridge(s, userspace, "net7")
    assert plan.name == "br7"
    assert plan.datapath_type == datapath
    assert plan.datapath_id == "00000000000000ab"
    assert plan.controllers == CTRL
    assert plan.mtu == 9000
    assert plan.hwaddr == "0e:00:00:00:00:01"
    ids = dict(plan.external_ids)
    assert ids[EXT_NETWORK_ID] == s.network_id
    assert ids[EXT_NETWORK_NAME] == "net7"
    assert ids[EXT_DRIVER] == "dovesnap"
    assert dict(plan_bridge(s, userspace, "net7", "dovesnap2").external_ids)[EXT_DRIVER] == "dovesnap2"
    assert spec_from_json(ids[EXT_SPEC]) == s


def test_plan_bridge_without_name_has_no_name_id() -> None:
    assert EXT_NETWORK_NAME not in dict(plan_bridge(spec(), False, None).external_ids)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"mode": "nat", "nat_acl": "n1:a,b/n2:c", "default_acl": "d", "vlan_out_acl": "o"},
        {"add_ports": "eth1/5/acl1/200,eth2", "add_copro_ports": "eth3/7/x"},
        {"controller": "tcp:10.0.0.1:1,ssl:[::1]:2", "userspace": "1", "dhcp": "0"},
    ],
)
def test_spec_json_round_trip(options: dict[str, str]) -> None:
    original = spec(IPV4, **options)
    assert spec_from_json(spec_to_json(original)) == original


def test_local_mac_is_pinned_when_the_operator_sets_none() -> None:
    """A bridge rebuilt after del-br keeps its gateway MAC, so containers' ARP entries stay valid."""
    first = plan_bridge(spec(), True, "net").hwaddr
    assert first == plan_bridge(spec(), False, None).hwaddr  # same network: same MAC, always
    assert first is not None and first.startswith("0a:") and len(first.split(":")) == 6
    other = dataclasses.replace(spec(), network_id="f" * 64)
    assert plan_bridge(other, True, "net").hwaddr != first
