"""A port's policy from labels, Docker endpoint options and the operator: parsing and precedence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dovesnap.errors import LabelError, OptionError
from dovesnap.model.labels import ContainerLabels
from dovesnap.model.names import EXT_ENDPOINT_OPTIONS, EXT_OPERATOR_POLICY
from dovesnap.model.port_policy import (
    IFNAME_OPTION,
    PortSettings,
    checked_endpoint_options,
    effective_labels,
    kept_options,
    parse_endpoint_options,
    policy_external_ids,
    policy_from_external_ids,
)

ACL = "dovesnap.faucet.portacl"
MIRROR = "dovesnap.faucet.mirror"
PREFIX = "dovesnap.faucet.mac_prefix"


@pytest.mark.parametrize(
    ("options", "network", "expected"),
    [
        ({}, "lab", PortSettings()),
        ({ACL: "allowall"}, "lab", PortSettings(acls=("allowall",))),
        ({ACL: "a, b"}, "lab", PortSettings(acls=("a", "b"))),
        ({ACL: "lab:a/other:b"}, "lab", PortSettings(acls=("a",))),
        ({ACL: "other:b"}, "lab", PortSettings()),  # for another network only: says nothing
        ({MIRROR: "true"}, "lab", PortSettings(mirror=True)),
        ({MIRROR: "false"}, "lab", PortSettings(mirror=False)),  # says "no", over a label's yes
        ({MIRROR: "lab:yes/other:no"}, "other", PortSettings(mirror=False)),
        ({PREFIX: "0e:99"}, None, PortSettings(mac_prefix=b"\x0e\x99")),
        ({IFNAME_OPTION: "mgmt0"}, "lab", PortSettings()),
    ],
)
def test_endpoint_options(options: dict[str, str], network: str | None,
                          expected: PortSettings) -> None:
    assert parse_endpoint_options(options, network) == expected


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({ACL: "bad acl!"}, ACL),
        ({ACL: ""}, ACL),
        ({ACL: "  "}, ACL),
        ({MIRROR: "perhaps"}, MIRROR),
        ({PREFIX: "01:00"}, PREFIX),  # multicast
        ({PREFIX: "0e:99:00:00:00:00"}, PREFIX),  # six bytes: the whole MAC
        ({IFNAME_OPTION: "a name that is far too long"}, IFNAME_OPTION),
        ({ACL: 7}, ACL),  # Docker sends --driver-opt values as strings
    ],
)
def test_malformed_endpoint_options_are_refused_naming_the_option(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(OptionError) as err:
        checked_endpoint_options(options, "lab")
    assert err.value.option == named and named in err.value.message


def test_only_dovesnaps_own_options_and_the_interface_name_are_kept() -> None:
    docker_sends = {"com.docker.network.portmap": [], "com.docker.network.endpoint.exposedports": [],
                    "com.docker.network.endpoint.macaddress": "DgAAAAcB", ACL: "a",
                    IFNAME_OPTION: "mgmt0", "somebody.else": "x"}
    assert kept_options(docker_sends) == {ACL: "a", IFNAME_OPTION: "mgmt0"}


def test_precedence_labels_then_endpoint_options_then_operator() -> None:
    labels = {ACL: "lab:fromlabel", MIRROR: "true", PREFIX: "0e:11"}
    assert effective_labels(labels, {}, PortSettings(), "lab") == ContainerLabels(
        ("fromlabel",), True, b"\x0e\x11")
    options = {ACL: "fromoption", MIRROR: "false"}
    assert effective_labels(labels, options, PortSettings(), "lab") == ContainerLabels(
        ("fromoption",), False, b"\x0e\x11")
    operator = PortSettings(acls=("fromoperator",))
    assert effective_labels(labels, options, operator, "lab") == ContainerLabels(
        ("fromoperator",), False, b"\x0e\x11")
    assert effective_labels({}, {}, PortSettings(mirror=True), "lab") == ContainerLabels(mirror=True)


def test_a_bad_label_is_still_an_error_when_an_option_would_replace_it() -> None:
    with pytest.raises(LabelError):
        effective_labels({ACL: "bad acl!"}, {ACL: "good"}, PortSettings(), "lab")


def test_operator_commands_set_and_clear() -> None:
    start = PortSettings(mac_prefix=b"\x0e")
    denied = start.changed(acls=("denyall",))
    assert denied == PortSettings(("denyall",), None, b"\x0e")
    both = denied.changed(mirror=True)
    assert both == PortSettings(("denyall",), True, b"\x0e")
    assert both.changed(clear=("acls",)) == PortSettings(None, True, b"\x0e")
    assert both.changed(clear=("acls", "mirror")) == start
    assert both.as_dict() == {"acls": ["denyall"], "mirror": True}
    assert PortSettings().empty and not both.empty


def test_kept_in_the_ports_external_ids_and_read_back() -> None:
    options = {ACL: "a", IFNAME_OPTION: "mgmt0"}
    operator = PortSettings(acls=("x", "y"), mirror=False)
    ids = policy_external_ids(options, operator)
    assert set(ids) == {EXT_ENDPOINT_OPTIONS, EXT_OPERATOR_POLICY}
    assert policy_from_external_ids(ids) == (options, operator)
    assert policy_external_ids({}, PortSettings()) == {}  # nothing said: nothing kept
    assert policy_from_external_ids({}) == ({}, PortSettings())


@pytest.mark.parametrize(
    ("ids", "operator"),
    [
        ({EXT_ENDPOINT_OPTIONS: "{broken", EXT_OPERATOR_POLICY: '{"acls": ["x"]}'},
         PortSettings(acls=("x",))),  # each entry stands on its own
        ({EXT_ENDPOINT_OPTIONS: '["not", "a", "dict"]', EXT_OPERATOR_POLICY: '"nor this"'},
         PortSettings()),
        ({EXT_ENDPOINT_OPTIONS: json.dumps({"somebody.else": "x", ACL: 5}),
          EXT_OPERATOR_POLICY: '{"acls": "x", "mirror": "yes"}'}, PortSettings()),
    ],
)
def test_unreadable_external_ids_count_as_not_there(ids: dict[str, str],
                                                    operator: PortSettings) -> None:
    assert policy_from_external_ids(ids) == ({}, operator)
