"""Network options: parsed, validated, frozen (dovesnap/model/network.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dovesnap.errors import DovesnapError, OptionError
from dovesnap.model.codec import spec_from_json
from dovesnap.model.network import (
    DEFAULT_LBPORT,
    DEFAULT_MTU,
    DEFAULT_VLAN,
    IPv4Data,
    NetworkSpec,
    parse_network,
)
from dovesnap.model.options import PerNetworkValue, PortRequest
from dovesnap.plan.bridge import spec_to_json

NET_ID = "0123456789abcdef"
CTRL = ("tcp:127.0.0.1:6653",)
IPV4 = [{"Pool": "10.1.0.0/24", "Gateway": "10.1.0.1/24"}]


def parse(options: dict[str, str], ipv4: Any = (), internal: bool = False) -> NetworkSpec:
    opts = {"ovs.bridge." + k: v for k, v in options.items()}
    return parse_network(NET_ID, opts, ipv4, (), CTRL, internal)


def net(ipv4: Any = (), internal: bool = False, **options: str) -> NetworkSpec:
    return parse(options, ipv4, internal)


def test_defaults() -> None:
    spec = net(dpid="0x1")
    assert spec.dpid == 1
    assert spec.dpid_hex == "0x1"
    assert spec.mode == "flat"
    assert spec.vlan == DEFAULT_VLAN
    assert spec.mtu == DEFAULT_MTU
    assert spec.userspace is False
    assert spec.controllers == CTRL
    assert spec.lbport == DEFAULT_LBPORT
    assert spec.mirror_tunnel_vid == DEFAULT_VLAN + 256
    assert spec.preallocate_ports == 0
    assert spec.bridge_name == "odsbr01234"
    assert spec.ovs_local_mac is None
    assert spec.default_acl.empty and spec.nat_acl.empty and spec.vlan_out_acl.empty
    assert spec.add_ports == () and spec.add_copro_ports == ()
    assert spec.dhcp is False and spec.bind_interface is None
    assert spec.gateway is None and spec.subnet is None


@pytest.mark.parametrize(
    ("options", "attr", "expected"),
    [
        ({"dpid": "0x1"}, "dpid", 1),
        ({"dpid": "0XAbC"}, "dpid", 0xABC),
        ({"dpid": "42"}, "dpid", 42),
        ({"dpid": "0xffffffffffffffff"}, "dpid", 2**64 - 1),
        ({"mode": "NAT"}, "mode", "nat"),
        ({"mode": "routed"}, "mode", "routed"),
        ({"mode": ""}, "mode", "flat"),
        ({"vlan": "1"}, "vlan", 1),
        ({"vlan": "0x10"}, "vlan", 16),
        ({"vlan": "200"}, "mirror_tunnel_vid", 456),
        ({"vlan": "4000"}, "mirror_tunnel_vid", 3744),
        ({"mirror_tunnel_vid": "7"}, "mirror_tunnel_vid", 7),
        ({"mtu": "9000"}, "mtu", 9000),
        ({"userspace": "TRUE"}, "userspace", True),
        ({"userspace": "no"}, "userspace", False),
        ({"dhcp": "0"}, "dhcp", False),
        ({"ovs_local_mac": "0E:01:00:00:00:03"}, "ovs_local_mac", "0e:01:00:00:00:03"),
        ({"controller": "tcp:10.0.0.1:6653, ssl:[::1]:6654"}, "controllers",
         ("tcp:10.0.0.1:6653", "ssl:[::1]:6654")),
        ({"preallocate_ports": "10"}, "preallocate_ports", 10),
        ({"lbport": "4"}, "lbport", 4),
        ({"name": "mybr"}, "bridge_name", "mybr"),
        ({"bind_interface": "eth1"}, "bind_interface", "eth1"),
        ({"bind_interface": ""}, "bind_interface", None),
        ({"default_acl": "a,b"}, "default_acl", PerNetworkValue(("a", "b"))),
        ({"nat_acl": "n1:a,b/n2:c"}, "nat_acl",
         PerNetworkValue((), (("n1", ("a", "b")), ("n2", ("c",))))),
        ({"vlan_out_acl": "x/n1:y"}, "vlan_out_acl", PerNetworkValue(("x",), (("n1", ("y",)),))),
        ({"add_ports": "eth1"}, "add_ports", (PortRequest("eth1"),)),
        ({"add_ports": "eth1/5/acl1/200, eth2//acl2"}, "add_ports",
         (PortRequest("eth1", 5, "acl1", 200), PortRequest("eth2", None, "acl2"))),
        ({"add_copro_ports": "eth3/7"}, "add_copro_ports",
         (PortRequest("eth3", 7, coprocessor=True),)),
    ],
)
def test_valid_option(options: dict[str, str], attr: str, expected: object) -> None:
    spec = parse({"dpid": "0x1"} | options, IPV4)
    assert getattr(spec, attr) == expected


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({}, "dpid"),
        ({"dpid": "0x0"}, "dpid"),
        ({"dpid": "0"}, "dpid"),
        ({"dpid": "zz"}, "dpid"),
        ({"dpid": "0x"}, "dpid"),
        ({"dpid": "-1"}, "dpid"),
        ({"dpid": "0x10000000000000000"}, "dpid"),
        ({"mode": "bridge"}, "mode"),
        ({"vlan": "0"}, "vlan"),
        ({"vlan": "5000"}, "vlan"),
        ({"vlan": "4095"}, "vlan"),
        ({"vlan": "ten"}, "vlan"),
        ({"mtu": "67"}, "mtu"),
        ({"mtu": "70000"}, "mtu"),
        ({"mtu": "big"}, "mtu"),
        ({"userspace": "maybe"}, "userspace"),
        ({"dhcp": "2"}, "dhcp"),
        ({"ovs_local_mac": "01:00:5e:00:00:01"}, "ovs_local_mac"),
        ({"ovs_local_mac": "0e:01:00:00:00"}, "ovs_local_mac"),
        ({"ovs_local_mac": "0e-01-00-00-00-03"}, "ovs_local_mac"),
        ({"ovs_local_mac": "gg:01:00:00:00:03"}, "ovs_local_mac"),
        ({"controller": "127.0.0.1:6653"}, "controller"),
        ({"controller": "tcp:999.0.0.1:6653"}, "controller"),
        ({"controller": "tcp:127.0.0.1:0"}, "controller"),
        ({"controller": "tcp:127.0.0.1:70000"}, "controller"),
        ({"controller": "udp:127.0.0.1:6653"}, "controller"),
        ({"controller": " , "}, "controller"),
        ({"default_acl": "bad acl"}, "default_acl"),
        ({"default_acl": "n1:"}, "default_acl"),
        ({"nat_acl": ":a"}, "nat_acl"),
        ({"vlan_out_acl": "-net:a"}, "vlan_out_acl"),
        ({"add_ports": "eth1/1/a/100/x"}, "add_ports"),
        ({"add_ports": "this-name-is-too-long"}, "add_ports"),
        ({"add_ports": "eth1,eth1"}, "add_ports"),
        ({"add_ports": "eth1/0"}, "add_ports"),
        ({"add_ports": "eth1/65280"}, "add_ports"),
        ({"add_ports": "eth1/x"}, "add_ports"),
        ({"add_ports": "eth1/1/bad acl"}, "add_ports"),
        ({"default_acl": "dovesnap-stack-link"}, "default_acl"),
        ({"nat_acl": "n1:dovesnap-mirror-tunnel-356-dp2-4"}, "nat_acl"),
        ({"vlan_out_acl": "dovesnap-dhcp-guard"}, "vlan_out_acl"),
        ({"add_ports": "eth1/1/dovesnap-stack-link"}, "add_ports"),
        ({"add_copro_ports": "eth1/1/Dovesnap-x"}, "add_copro_ports"),
        ({"add_ports": "eth1/1/a/5000"}, "add_ports"),
        ({"add_ports": "eth1/1/a/0"}, "add_ports"),
        ({"add_ports": "eth1/3,eth2/3"}, "add_ports"),
        ({"add_ports": "eth1", "add_copro_ports": "eth1"}, "add_copro_ports"),
        ({"add_copro_ports": "e th"}, "add_copro_ports"),
        ({"preallocate_ports": "-1"}, "preallocate_ports"),
        ({"preallocate_ports": "100000"}, "preallocate_ports"),
        ({"lbport": "0"}, "lbport"),
        ({"mirror_tunnel_vid": "100"}, "mirror_tunnel_vid"),
        ({"mirror_tunnel_vid": "4095"}, "mirror_tunnel_vid"),
        ({"name": "a-bridge-name-too-long"}, "name"),
        ({"name": ""}, "name"),
        ({"bind_interface": "bad name"}, "bind_interface"),
        ({"bogus": "1"}, "bogus"),
        ({"mode": "nat"}, "mode"),
        ({"mode": "routed"}, "mode"),
        ({"dpid": "0x1" + "0" * 5000}, "dpid"),
    ],
)
def test_invalid_option_names_the_option(options: dict[str, str], option: str) -> None:
    if "dpid" not in options and option != "dpid":
        options = {"dpid": "0x1"} | options
    with pytest.raises(OptionError) as info:
        parse(options)
    assert info.value.option == "ovs.bridge." + option
    assert "ovs.bridge." + option in str(info.value)


@pytest.mark.parametrize(
    ("options", "ipv4", "internal"),
    [
        ({"dhcp": "true"}, [], False),  # not --internal
        ({"dhcp": "true"}, IPV4, True),  # IPAM not null
        ({"dhcp": "true", "mode": "nat"}, IPV4, True),  # not flat
    ],
)
def test_dhcp_constraints(options: dict[str, str], ipv4: Any, internal: bool) -> None:
    with pytest.raises(OptionError, match="DHCP"):
        parse({"dpid": "0x1"} | options, ipv4, internal)


def test_dhcp_accepted_when_internal_flat_null_ipam() -> None:
    assert net((), True, dpid="0x1", dhcp="yes").dhcp is True


def test_no_controller_anywhere_is_an_error() -> None:
    with pytest.raises(OptionError) as info:
        parse_network(NET_ID, {"ovs.bridge.dpid": "0x1"})
    assert info.value.option == "ovs.bridge.controller"


def test_network_option_overrides_daemon_controllers() -> None:
    spec = net(dpid="1", controller="tcp:10.0.0.9:6653")
    assert spec.controllers == ("tcp:10.0.0.9:6653",)


def test_non_dovesnap_options_are_ignored_and_non_strings_converted() -> None:
    spec = parse_network(
        NET_ID, {"com.docker.network.mtu": "x", "ovs.bridge.dpid": 7, "ovs.bridge.vlan": 3},
        (), (), CTRL,
    )
    assert (spec.dpid, spec.vlan) == (7, 3)
    assert dict(spec.raw_options) == {"ovs.bridge.dpid": "7", "ovs.bridge.vlan": "3"}


def test_nat_gateway_subnet_and_mask() -> None:
    spec = net([{"Pool": "10.1.0.7/24", "Gateway": "10.1.0.1/24"}], dpid="0x2", mode="nat")
    assert spec.gateway == "10.1.0.1"
    assert spec.gateway_prefixlen == 24
    assert spec.subnet == "10.1.0.0/24"
    assert spec.ipv4 == (IPv4Data("10.1.0.7/24", "10.1.0.1/24"),)


def test_gateway_without_length_takes_the_pool_length_and_ipv6_gateway() -> None:
    spec = net([{"Pool": "10.2.0.0/16", "Gateway": "10.2.0.1"}], dpid="0x2", mode="routed")
    assert spec.gateway_prefixlen == 16
    v6 = parse_network(NET_ID, {"ovs.bridge.dpid": "1", "ovs.bridge.mode": "routed"}, (),
                       [{"Pool": "fd00::/64", "Gateway": "fd00::1/64"}], CTRL)
    assert v6.gateway == "fd00::1"


def test_bad_ipam_pool_is_refused() -> None:
    with pytest.raises(OptionError, match="IPAM pool"):
        net([{"Pool": "10.0.0.0/33"}], dpid="0x1")


def test_spec_is_frozen() -> None:
    spec = net(dpid="0x1")
    with pytest.raises(AttributeError):
        spec.vlan = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "network", "expected"),
    [
        ("a", "any", ("a",)),
        ("a,b", None, ("a", "b")),
        ("n1:a,b/n2:c", "n1", ("a", "b")),
        ("n1:a,b/n2:c", "n2", ("c",)),
        ("n1:a,b/n2:c", "n3", ()),
        ("d/n1:x", "n3", ("d",)),
        ("d/n1:x", "n1", ("x",)),
    ],
)
def test_per_network_value(value: str, network: str | None, expected: tuple[str, ...]) -> None:
    assert net(dpid="1", default_acl=value).default_acl.for_network(network) == expected


# --- bugs found by this suite, fixed --------------------------------------------------


def test_vlan_4094_alone_is_accepted() -> None:
    assert net(dpid="0x1", vlan="4094").vlan == 4094


@pytest.mark.parametrize("options", [{"name": "br0\n"}, {"add_ports": "eth0\n/3"}])
def test_interface_names_with_newline_are_refused(options: dict[str, str]) -> None:
    with pytest.raises(OptionError):
        parse({"dpid": "0x1"} | options)


# --- property: only DovesnapError on arbitrary input ------------------------------------------

_KEYS = st.sampled_from([
    "ovs.bridge." + k for k in (
        "dpid", "controller", "mode", "vlan", "mtu", "userspace", "ovs_local_mac", "nat_acl",
        "default_acl", "vlan_out_acl", "preallocate_ports", "add_ports", "add_copro_ports",
        "mirror_tunnel_vid", "lbport", "dhcp", "dhcp_ipv6", "name", "bind_interface", "bogus",
    )
])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789abcdefx:/,._- ", max_size=30),
    st.from_regex(r"\A[a-z0-9]{1,8}(/[0-9]{0,4}(/[a-z]{0,4}(/[0-9]{0,5})?)?)?\Z"),
)


@settings(max_examples=300, deadline=None)
@given(
    options=st.dictionaries(_KEYS, _VALUES, max_size=6),
    dpid=st.one_of(st.none(), _VALUES),
    pools=st.lists(st.fixed_dictionaries({"Pool": st.text(max_size=20),
                                          "Gateway": st.text(max_size=20)}), max_size=2),
    pools6=st.lists(st.fixed_dictionaries({"Pool": st.text(alphabet="0123456789abcdef:/.",
                                                           max_size=20),
                                           "Gateway": st.text(max_size=20)}), max_size=2),
    internal=st.booleans(),
)
def test_parse_network_raises_only_dovesnap_errors(
    options: dict[str, str], dpid: str | None, pools: list[dict[str, str]],
    pools6: list[dict[str, str]], internal: bool,
) -> None:
    if dpid is not None:
        options["ovs.bridge.dpid"] = dpid
    try:
        spec = parse_network(NET_ID, options, pools, pools6, CTRL, internal)
    except DovesnapError:
        return
    assert 0 < spec.dpid < 2**64
    assert 1 <= spec.vlan <= 4094
    assert spec.mode in ("flat", "nat", "routed")
    assert spec.subnet_ipv6 is None or ":" in spec.subnet_ipv6


# --- IPv6 ---------------------------------------------------------------------------------------


def v6(ipv6: Any, **options: str) -> NetworkSpec:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x1", "mode": "nat"} | options).items()}
    return parse_network(NET_ID, opts, IPV4, ipv6, CTRL)


def test_ipv6_pool_and_gateway() -> None:
    spec = v6([{"Pool": "fd42:1::/64", "Gateway": "fd42:1::1/64"}])
    assert spec.subnet_ipv6 == "fd42:1::/64"
    assert spec.subnets == ("10.1.0.0/24", "fd42:1::/64")
    # A bare gateway takes the pool's length.
    bare = v6([{"Pool": "fd42:1::/48", "Gateway": "fd42:1::1"}])
    assert bare.subnet_ipv6 == "fd42:1::/48"
    assert v6(()).subnet_ipv6 is None and v6(()).subnets == ("10.1.0.0/24",)


def test_a_spec_kept_by_an_older_dovesnap_finds_its_ipv6_subnet() -> None:
    # Older dovesnaps kept only the IPv6 gateway in OVS; its length gives the subnet.
    raw = json.loads(spec_to_json(v6([{"Pool": "fd42:1::/64", "Gateway": "fd42:1::1/64"}])))
    del raw["ipv6_pool"], raw["dhcp_ipv6"]
    old = spec_from_json(json.dumps(raw))
    assert old.subnet_ipv6 == "fd42:1::/64" and old.dhcp_ipv6 == "off"


@pytest.mark.parametrize(
    "ipv6",
    [[{"Pool": "10.1.0.0/24"}], [{"Pool": "fd42:1::/64", "Gateway": "nonsense"}],
     [{"Pool": "fd42:1::/129"}]],
)
def test_bad_ipv6_data_is_refused(ipv6: Any) -> None:
    with pytest.raises(OptionError, match="IPv6"):
        v6(ipv6)


def test_dhcp_ipv6_slaac() -> None:
    assert net((), True, dpid="0x1", dhcp="true", dhcp_ipv6="slaac").dhcp_ipv6 == "slaac"
    assert net((), True, dpid="0x1", dhcp="true").dhcp_ipv6 == "off"
    with pytest.raises(OptionError, match=r"ovs\.bridge\.dhcp_ipv6.*slaac"):
        net((), True, dpid="0x1", dhcp="true", dhcp_ipv6="dhcpv7")
    with pytest.raises(OptionError, match="only DHCP networks"):
        net((), True, dpid="0x1", dhcp_ipv6="slaac")
