"""The iptables adapter's IPv6 side, on the stateful fake of both commands and both flavours:
IPv6 rules go to ip6tables, in Docker's IPv6 flavour if Docker has one, else in the flavour of
the IPv4 rules; removal finds both families."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.errors import BackendError
from dovesnap.plan.firewall import Rule
from tests.unit.fake_xtables import FakeXtables

TAG = "dovesnap:abc"
V4 = Rule("nat", "POSTROUTING", ("-s", "10.9.0.0/24", "-m", "comment", "--comment", TAG,
                                 "-j", "MASQUERADE"))
V6 = Rule("nat", "POSTROUTING", ("-s", "fd42:9::/64", "-m", "comment", "--comment", TAG,
                                 "-j", "MASQUERADE"), 6)


@pytest.mark.parametrize(
    ("docker_in", "docker6_in", "expected6"),
    [
        (("nft",), (), "nft"),  # Docker 20.10 default: no IPv6 chains; follow IPv4's flavour
        (("legacy",), (), "legacy"),
        (("nft",), ("legacy",), "legacy"),  # "ip6tables": true in daemon.json: Docker's chains
    ],
)
def test_ipv6_rules_go_to_ip6tables(tmp_path: Path, docker_in: tuple[str, ...],
                                    docker6_in: tuple[str, ...], expected6: str) -> None:
    xt = FakeXtables(tmp_path, "nft", docker_in, docker6_in=docker6_in)
    ipt = xt.iptables()
    assert ipt.ensure([V4, V6]) == docker_in[0]
    assert ipt.ensure([V4, V6]) == docker_in[0]  # again: nothing added
    assert [spec for _, _, spec in xt.tagged(expected6, TAG, family=6)] == [V6.spec]
    assert [spec for _, _, spec in xt.tagged(docker_in[0], TAG)] == [V4.spec]
    other6 = "legacy" if expected6 == "nft" else "nft"
    assert xt.tagged(other6, TAG, family=6) == []
    assert sorted(ipt.owned(TAG), key=repr) == sorted([V4, V6], key=repr)
    assert ipt.remove_owned(TAG) == 2
    assert ipt.owned(TAG) == []


def test_ipv6_rules_removed_from_every_flavour(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path, docker_in=("nft",))
    ipt = xt.iptables()
    ipt.ensure([V6])
    # Docker came back on legacy: the next rules land there; removal finds both.
    xt.rules["nft"]["nat"].pop("DOCKER")
    xt.rules["legacy"]["nat"]["DOCKER"] = []
    endpoint = Rule("nat", "OUTPUT", ("-m", "comment", "--comment", TAG + ":ep1", "-j", "ACCEPT"), 6)
    assert ipt.ensure([endpoint]) == "legacy"
    assert ipt.remove_owned(TAG) == 2
    assert xt.tagged("nft", family=6) == [] and xt.tagged("legacy", family=6) == []


def test_legacy_ip6_tables_are_not_loaded_by_looking(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path, docker_in=("nft",))
    ipt = xt.iptables()
    ipt.ensure([V6])
    ipt.remove_owned(TAG)
    assert xt.names_file6.read_text() == ""


def test_no_ip6tables_fails_ipv6_rules_only(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path, docker_in=("nft",), ip6tables=False)
    ipt = xt.iptables()
    assert ipt.ensure([V4]) == "nft"  # IPv4 networks keep working
    with pytest.raises(BackendError, match="no ip6tables command"):
        ipt.ensure([V6])
    assert ipt.remove_owned(TAG) == 1


def test_a_refused_ipv6_rule_names_ip6tables(tmp_path: Path) -> None:
    xt = FakeXtables(tmp_path)
    xt.refuse.add("MASQUERADE")
    with pytest.raises(BackendError, match=r"ip6tables \(nft\) refused"):
        xt.iptables().ensure([V6])
