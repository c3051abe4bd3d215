"""Pure NAT planning: flavour choice, network rules, port mappings and publish rules (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from dovesnap.features.nat.plan import (
    PortMapping,
    gateway_addresses,
    ipv6_unavailable,
    network_rules,
    parse_port_mappings,
    publish_rules,
    published,
)
from dovesnap.model.network import (
    NetworkSpec,
    ipv4_gateway_address,
    ipv6_gateway_address,
    parse_network,
)
from dovesnap.plan.firewall import (
    Rule,
    belongs_to,
    choose_flavour,
    choose_ipv6_flavour,
    comment_of,
    endpoint_tag,
    flavour_of_command,
    network_tag,
)

NET_ID = "0123456789abcdef0123"
EP_ID = "feedbeef00112233aabb"
IPV4 = [{"Pool": "10.20.0.0/24", "Gateway": "10.20.0.1/24"}]
IPV6 = [{"Pool": "fd00:20::/64", "Gateway": "fd00:20::1/64"}]
TAG = "dovesnap:0123456789ab"
EP_TAG = "dovesnap:0123456789ab:feedbeef0011"


def spec(mode: str = "nat", ipv4: Any = IPV4, ipv6: Any = (), **options: str) -> NetworkSpec:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x7e3001", "mode": mode} | options).items()}
    return parse_network(NET_ID, opts, ipv4, ipv6, ("tcp:127.0.0.1:6653",))


# --- flavour -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_nft", "in_legacy", "alternative", "expected"),
    [
        (True, False, "legacy", "nft"),  # Docker's chains decide, not the alternatives link
        (False, True, "nft", "legacy"),
        (True, True, "legacy", "legacy"),  # both: what Docker would pick if restarted now
        (True, True, "nft", "nft"),
        (False, False, "legacy", "legacy"),  # Docker without iptables: the host default
        (False, False, "nft", "nft"),
        (False, False, "weird", "nft"),
    ],
)
def test_choose_flavour(in_nft: bool, in_legacy: bool, alternative: str, expected: str) -> None:
    assert choose_flavour(in_nft, in_legacy, alternative) == expected


@pytest.mark.parametrize(
    ("path", "version", "expected"),
    [
        ("/usr/sbin/xtables-nft-multi", "", "nft"),
        ("/usr/sbin/xtables-legacy-multi", "", "legacy"),
        ("/usr/sbin/iptables-legacy", "", "legacy"),
        ("/sbin/iptables", "iptables v1.8.4 (nf_tables)", "nft"),
        ("/sbin/iptables", "iptables v1.8.4 (legacy)", "legacy"),
        ("/sbin/iptables-multi", "iptables v1.6.1", "legacy"),
    ],
)
def test_flavour_of_command(path: str, version: str, expected: str) -> None:
    assert flavour_of_command(path, version) == expected


# --- tags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "owner", "expected"),
    [
        (TAG, TAG, True),
        (EP_TAG, TAG, True),  # a network owns its endpoints' rules
        (EP_TAG, EP_TAG, True),
        (TAG, EP_TAG, False),
        ("dovesnap:0123456789abc", TAG, False),  # another network whose id starts alike
        ("", TAG, False),
        ("docker", TAG, False),
    ],
)
def test_belongs_to(tag: str, owner: str, expected: bool) -> None:
    assert belongs_to(tag, owner) is expected


def test_tags_name_network_and_endpoint() -> None:
    assert network_tag(NET_ID) == TAG
    assert endpoint_tag(NET_ID, EP_ID) == EP_TAG
    assert comment_of(("-j", "ACCEPT")) is None
    assert comment_of(("-m", "comment", "--comment", TAG, "-j", "ACCEPT")) == TAG


# --- networks ----------------------------------------------------------------------------------

FWD_OUT = Rule("filter", "FORWARD", ("-i", "br3", "-m", "comment", "--comment", TAG, "-j", "ACCEPT"))
FWD_BACK = Rule("filter", "FORWARD", (
    "-o", "br3", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
    "-m", "comment", "--comment", TAG, "-j", "ACCEPT",
))
MASQ = Rule("nat", "POSTROUTING", (
    "-s", "10.20.0.0/24", "!", "-o", "br3", "-m", "comment", "--comment", TAG, "-j", "MASQUERADE",
))
FWD_IN = Rule("filter", "FORWARD", ("-o", "br3", "-m", "comment", "--comment", TAG, "-j", "ACCEPT"))


@pytest.mark.parametrize(
    ("mode", "ipv4", "expected"),
    [
        ("nat", IPV4, (FWD_OUT, FWD_BACK, MASQ)),
        ("routed", IPV4, (FWD_OUT, FWD_IN)),
        ("flat", IPV4, ()),
        ("flat", (), ()),
    ],
)
def test_network_rules(mode: str, ipv4: Any, expected: tuple[Rule, ...]) -> None:
    assert network_rules(spec(mode, ipv4, name="br3")) == expected


def test_every_rule_carries_the_network_tag() -> None:
    for rule in network_rules(spec("nat", name="br3")) + network_rules(spec("routed", name="br3")):
        assert rule.tag == TAG


@pytest.mark.parametrize(
    ("mode", "ipv4", "ipv6", "expected"),
    [
        ("nat", IPV4, (), (("10.20.0.1", 24),)),
        ("routed", IPV4, IPV6, (("10.20.0.1", 24), ("fd00:20::1", 64))),
        ("nat", [{"Pool": "10.20.0.0/16", "Gateway": "10.20.0.1"}], (), (("10.20.0.1", 16),)),
        ("flat", IPV4, (), ()),
    ],
)
def test_gateway_addresses(mode: str, ipv4: Any, ipv6: Any, expected: Any) -> None:
    assert gateway_addresses(spec(mode, ipv4, ipv6)) == expected


def test_gateways_per_family() -> None:
    dual = spec("nat", IPV4, IPV6)
    assert (ipv4_gateway_address(dual), ipv6_gateway_address(dual)) == ("10.20.0.1", "fd00:20::1")
    v6_only = spec("routed", (), IPV6)
    assert (ipv4_gateway_address(v6_only), ipv6_gateway_address(v6_only)) == (None, "fd00:20::1")


# --- port mappings ------------------------------------------------------------------------------


def binding(proto: Any = 6, port: Any = 80, host_port: Any = 8080, host_ip: Any = "",
            end: Any = None) -> dict[str, Any]:
    item = {"Proto": proto, "IP": "", "Port": port, "HostIP": host_ip, "HostPort": host_port}
    if end is not None:
        item["HostPortEnd"] = end
    return item


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([binding()], (PortMapping("tcp", 80, 8080, 8080),)),
        ([binding(17, 53, 5353)], (PortMapping("udp", 53, 5353, 5353),)),
        ([binding(132, 9, 9999)], (PortMapping("sctp", 9, 9999, 9999),)),
        ([binding(host_ip="127.0.0.1")], (PortMapping("tcp", 80, 8080, 8080, "127.0.0.1"),)),
        # "" is every address of both families; 0.0.0.0 and :: one family each (as Docker's own).
        ([binding(host_ip="0.0.0.0")], (PortMapping("tcp", 80, 8080, 8080, "0.0.0.0"),)),
        ([binding(host_ip="::")], (PortMapping("tcp", 80, 8080, 8080, "::"),)),
        ([binding(host_ip="fd42:7::1")], (PortMapping("tcp", 80, 8080, 8080, "fd42:7::1"),)),
        ([binding(end=8090)], (PortMapping("tcp", 80, 8080, 8090),)),
        ([binding(host_port="8080")], (PortMapping("tcp", 80, 8080, 8080),)),
        ([binding(host_ip="::1")], ()),  # Linux never routes ::1 off the host: not served
        ([binding(host_ip="not-an-ip")], ()),
        ([binding(host_port=0)], ()),  # Docker would pick a port; a remote driver cannot say which
        ([binding(proto=1)], ()),
        ([binding(proto="6")], ()),
        ([binding(port=70000)], ()),
        ([binding(host_port=True)], ()),
        (["junk", 5, None], ()),
        ("not a list", ()),
        (None, ()),
    ],
)
def test_parse_port_mappings(raw: Any, expected: tuple[PortMapping, ...]) -> None:
    options = {} if raw is None else {"com.docker.network.portmap": raw}
    assert parse_port_mappings(options) == expected


# --- publish rules ------------------------------------------------------------------------------

C = ("-m", "comment", "--comment", EP_TAG)
DNAT = ("-j", "DNAT", "--to-destination", "10.20.0.5:80")
TCP = ("-p", "tcp", "-m", "tcp")
LOCAL = ("-m", "addrtype", "--dst-type", "LOCAL")
FWD = Rule("filter", "FORWARD", ("-d", "10.20.0.5/32", "-o", "br3", *TCP, "--dport", "80", *C,
                                 "-j", "ACCEPT"))
HAIRPIN = Rule("nat", "POSTROUTING", ("-s", "10.20.0.0/24", "-d", "10.20.0.5/32", "-o", "br3", *TCP,
                                      "--dport", "80", *C, "-j", "MASQUERADE"))


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (PortMapping("tcp", 80, 8080, 8080), (
            Rule("nat", "PREROUTING", (*LOCAL, *TCP, "--dport", "8080", *C, *DNAT)),
            Rule("nat", "OUTPUT", ("!", "-d", "127.0.0.0/8", *LOCAL, *TCP, "--dport", "8080", *C, *DNAT)),
            FWD, HAIRPIN,
        )),
        (PortMapping("tcp", 80, 8080, 8090, "192.0.2.7"), (
            Rule("nat", "PREROUTING", ("-d", "192.0.2.7/32", *TCP, "--dport", "8080:8090", *C, *DNAT)),
            Rule("nat", "OUTPUT", ("-d", "192.0.2.7/32", *TCP, "--dport", "8080:8090", *C, *DNAT)),
            FWD, HAIRPIN,
        )),
        # Loopback needs route_localnet, as with Docker's own bridge: outside traffic only.
        (PortMapping("tcp", 80, 8080, 8080, "127.0.0.1"), (
            Rule("nat", "PREROUTING", ("-d", "127.0.0.1/32", *TCP, "--dport", "8080", *C, *DNAT)),
            FWD, HAIRPIN,
        )),
    ],
)
def test_publish_rules(mapping: PortMapping, expected: tuple[Rule, ...]) -> None:
    assert publish_rules(spec(name="br3"), EP_ID, "10.20.0.5/24", [mapping]) == expected


def test_udp_rules_use_udp() -> None:
    rules = publish_rules(spec(name="br3"), EP_ID, "10.20.0.5/24", [PortMapping("udp", 53, 53, 53)])
    assert rules and all(r.spec[r.spec.index("-p"):][:4] == ("-p", "udp", "-m", "udp") for r in rules)


@pytest.mark.parametrize(
    ("mode", "address", "mappings"),
    [
        ("routed", "10.20.0.5/24", [PortMapping("tcp", 80, 8080, 8080)]),
        ("flat", "10.20.0.5/24", [PortMapping("tcp", 80, 8080, 8080)]),
        ("nat", None, [PortMapping("tcp", 80, 8080, 8080)]),
        ("nat", "fd00:20::5/64", [PortMapping("tcp", 80, 8080, 8080)]),
        ("nat", "10.20.0.5/24", []),
    ],
)
def test_no_publish_rules(mode: str, address: str | None, mappings: list[PortMapping]) -> None:
    assert publish_rules(spec(mode), EP_ID, address, mappings) == ()


def test_same_binding_twice_gives_rules_once() -> None:
    twice = [PortMapping("tcp", 80, 8080, 8080)] * 2  # Docker may send 0.0.0.0 and :: bindings
    assert len(publish_rules(spec(), EP_ID, "10.20.0.5/24", twice)) == 4


# --- IPv6 ---------------------------------------------------------------------------------------

V6 = "fd00:20::/64"


def six(rule: Rule) -> Rule:
    """The same rule for ip6tables, on the IPv6 subnet."""
    return Rule(rule.table, rule.chain,
                tuple(V6 if word == "10.20.0.0/24" else word for word in rule.spec), 6)


@pytest.mark.parametrize(
    ("mode", "ipv4", "expected"),
    [
        ("nat", IPV4, (FWD_OUT, FWD_BACK, MASQ, six(FWD_OUT), six(FWD_BACK), six(MASQ))),
        ("routed", IPV4, (FWD_OUT, FWD_IN, six(FWD_OUT), six(FWD_IN))),
        ("nat", (), (six(FWD_OUT), six(FWD_BACK), six(MASQ))),  # IPv6 only
        ("flat", IPV4, ()),
    ],
)
def test_each_family_gets_its_network_rules(mode: str, ipv4: Any, expected: tuple[Rule, ...]) -> None:
    assert network_rules(spec(mode, ipv4, IPV6, name="br3")) == expected
    assert six(MASQ).spec[:2] == ("-s", V6)


DNAT6 = ("-j", "DNAT", "--to-destination", "[fd00:20::5]:80")
LOCAL6 = Rule("nat", "PREROUTING", (*LOCAL, *TCP, "--dport", "8080", *C, *DNAT6), 6)
HOST6 = Rule("nat", "OUTPUT", ("!", "-d", "::1/128", *LOCAL, *TCP, "--dport", "8080", *C, *DNAT6), 6)
FWD6 = Rule("filter", "FORWARD", ("-d", "fd00:20::5/128", "-o", "br3", *TCP, "--dport", "80", *C,
                                  "-j", "ACCEPT"), 6)
HAIRPIN6 = Rule("nat", "POSTROUTING", ("-s", V6, "-d", "fd00:20::5/128", "-o", "br3", *TCP,
                                       "--dport", "80", *C, "-j", "MASQUERADE"), 6)
V4_RULES = (
    Rule("nat", "PREROUTING", (*LOCAL, *TCP, "--dport", "8080", *C, *DNAT)),
    Rule("nat", "OUTPUT", ("!", "-d", "127.0.0.0/8", *LOCAL, *TCP, "--dport", "8080", *C, *DNAT)),
    FWD, HAIRPIN,
)


@pytest.mark.parametrize(
    ("host_ip", "expected"),
    [
        (None, (*V4_RULES, LOCAL6, HOST6, FWD6, HAIRPIN6)),  # -p 8080:80: both families
        ("0.0.0.0", V4_RULES),
        ("::", (LOCAL6, HOST6, FWD6, HAIRPIN6)),
        ("fd42:7::1", (
            Rule("nat", "PREROUTING", ("-d", "fd42:7::1/128", *TCP, "--dport", "8080", *C, *DNAT6), 6),
            Rule("nat", "OUTPUT", ("-d", "fd42:7::1/128", *TCP, "--dport", "8080", *C, *DNAT6), 6),
            FWD6, HAIRPIN6,
        )),
    ],
)
def test_publish_rules_per_family(host_ip: str | None, expected: tuple[Rule, ...]) -> None:
    dual = spec(ipv6=IPV6, name="br3")
    mapping = PortMapping("tcp", 80, 8080, 8080, host_ip)
    assert publish_rules(dual, EP_ID, "10.20.0.5/24", [mapping], "fd00:20::5/64") == expected


def test_no_ipv6_rules_without_an_ipv6_address_or_subnet() -> None:
    mapping = [PortMapping("tcp", 80, 8080, 8080)]
    # The container has no IPv6 address: IPv4 only.
    assert publish_rules(spec(ipv6=IPV6, name="br3"), EP_ID, "10.20.0.5/24", mapping) == V4_RULES
    # The network has no IPv6 subnet: an IPv6 address alone publishes nothing.
    assert publish_rules(spec(name="br3"), EP_ID, None, mapping, "fd00:20::5/64") == ()
    assert publish_rules(spec(ipv6=IPV6, name="br3"), EP_ID, "10.20.0.5/24",
                         [PortMapping("tcp", 80, 8080, 8080, "::")]) == ()


def test_published_shows_each_family_served() -> None:
    dual = spec(ipv6=IPV6)
    mappings = [PortMapping("tcp", 80, 8080, 8080), PortMapping("udp", 53, 5300, 5310, "::")]
    assert published(dual, "10.20.0.5/24", mappings, "fd00:20::5/64") == [
        "0.0.0.0:8080->80/tcp", "[::]:8080->80/tcp", "[::]:5300-5310->53/udp"]
    assert published(dual, "10.20.0.5/24", mappings) == ["0.0.0.0:8080->80/tcp"]
    assert published(spec("routed", ipv6=IPV6), "10.20.0.5/24", mappings, "fd00:20::5/64") == []


@pytest.mark.parametrize(
    ("state", "refused"),
    [(None, "ipv6.disable=1"), ("1", "disable_ipv6"), ("0", None)],
)
def test_ipv6_unavailable(state: str | None, refused: str | None) -> None:
    answer = ipv6_unavailable(state)
    if refused is None:
        assert answer is None
    else:
        assert answer is not None and refused in answer[0] and "without --ipv6" in answer[1]


@pytest.mark.parametrize(
    ("in_nft", "in_legacy", "ipv4_flavour", "expected"),
    [
        (False, False, "legacy", "legacy"),  # Docker 20.10 default: no ip6tables chains
        (False, False, "nft", "nft"),
        (False, True, "nft", "legacy"),  # daemon.json "ip6tables": true: Docker's chains decide
        (True, False, "legacy", "nft"),
        (True, True, "legacy", "legacy"),
        (False, False, "", "nft"),
    ],
)
def test_choose_ipv6_flavour(in_nft: bool, in_legacy: bool, ipv4_flavour: str, expected: str) -> None:
    assert choose_ipv6_flavour(in_nft, in_legacy, ipv4_flavour) == expected
