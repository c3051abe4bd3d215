"""Container labels: per-network ACLs, mirroring, MAC prefixes; parsed and validated (model/labels.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dovesnap.errors import LabelError
from dovesnap.model.labels import ContainerLabels, apply_mac_prefix, parse_labels, parse_mac_prefix


@pytest.mark.parametrize(
    ("labels", "network", "expected"),
    [
        ({}, "n1", ContainerLabels()),
        ({"other": "x"}, "n1", ContainerLabels()),
        ({"dovesnap.faucet.portacl": "a"}, "n1", ContainerLabels(("a",))),
        ({"dovesnap.faucet.portacl": "n1:a,b/n2:c"}, "n1", ContainerLabels(("a", "b"))),
        ({"dovesnap.faucet.portacl": "n1:a/n2:c"}, "n3", ContainerLabels()),
        ({"dovesnap.faucet.mirror": "true"}, "n1", ContainerLabels(mirror=True)),
        ({"dovesnap.faucet.mirror": "n1:true/n2:false"}, "n2", ContainerLabels()),
        ({"dovesnap.faucet.mirror": "n1:true/n2:false"}, "n1", ContainerLabels(mirror=True)),
        ({"dovesnap.faucet.mirror": "off"}, "n1", ContainerLabels()),
        ({"dovesnap.faucet.mac_prefix": "0E:99"}, "n1", ContainerLabels(mac_prefix=b"\x0e\x99")),
    ],
)
def test_parse_labels(labels: dict[str, str], network: str, expected: ContainerLabels) -> None:
    assert parse_labels(labels, network) == expected


@pytest.mark.parametrize(
    ("labels", "label"),
    [
        ({"dovesnap.faucet.portacl": "bad acl"}, "dovesnap.faucet.portacl"),
        ({"dovesnap.faucet.portacl": "n1:"}, "dovesnap.faucet.portacl"),
        ({"dovesnap.faucet.mirror": "sometimes"}, "dovesnap.faucet.mirror"),
        ({"dovesnap.faucet.mirror": "n1:2"}, "dovesnap.faucet.mirror"),
        ({"dovesnap.faucet.mac_prefix": "01:00"}, "dovesnap.faucet.mac_prefix"),
        ({"dovesnap.faucet.mac_prefix": "0e:99:00:00:00:00"}, "dovesnap.faucet.mac_prefix"),
        ({"dovesnap.faucet.mac_prefix": "0e:9"}, "dovesnap.faucet.mac_prefix"),
        ({"dovesnap.faucet.mac_prefix": ""}, "dovesnap.faucet.mac_prefix"),
        # dovesnap's own ACLs (stack links, mirror tunnels ...) are not for containers
        ({"dovesnap.faucet.portacl": "dovesnap-stack-link"}, "dovesnap.faucet.portacl"),
        ({"dovesnap.faucet.portacl": "n1:allowall,dovesnap-mirror-tunnel-356-dp2-4"},
         "dovesnap.faucet.portacl"),
        ({"dovesnap.faucet.portacl": "n2:a/n1:DOVESNAP-x"}, "dovesnap.faucet.portacl"),
    ],
)
def test_bad_labels_name_the_label(labels: dict[str, str], label: str) -> None:
    with pytest.raises(LabelError) as info:
        parse_labels(labels, "n1")
    assert info.value.label == label
    assert label in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0e", b"\x0e"), ("0e:99", b"\x0e\x99"), (" 02:AA:bb:cc:dd ", b"\x02\xaa\xbb\xcc\xdd")],
)
def test_parse_mac_prefix(value: str, expected: bytes) -> None:
    assert parse_mac_prefix(value) == expected


@pytest.mark.parametrize(
    ("mac", "prefix", "expected"),
    [
        ("02:42:ac:11:00:02", b"", "02:42:ac:11:00:02"),
        ("02:42:ac:11:00:02", b"\x0e\x99", "0e:99:ac:11:00:02"),
        ("02:42:ac:11:00:02", b"\x0e\x99\x01\x02\x03", "0e:99:01:02:03:02"),
    ],
)
def test_apply_mac_prefix(mac: str, prefix: bytes, expected: str) -> None:
    assert apply_mac_prefix(mac, prefix) == expected


@settings(max_examples=300, deadline=None)
@given(
    labels=st.dictionaries(
        st.sampled_from(["dovesnap.faucet.portacl", "dovesnap.faucet.mirror",
                         "dovesnap.faucet.mac_prefix", "other"]),
        st.one_of(st.text(max_size=30), st.text(alphabet="0123456789abcdef:/,tru", max_size=20)),
    ),
    network=st.one_of(st.none(), st.text(max_size=10)),
)
def test_parse_labels_raises_only_label_errors(labels: dict[str, str], network: str | None) -> None:
    try:
        parsed = parse_labels(labels, network)
    except LabelError:
        return
    assert len(parsed.mac_prefix) <= 5
    if parsed.mac_prefix:
        assert apply_mac_prefix("02:00:00:00:00:01", parsed.mac_prefix)[:2] != "01"
