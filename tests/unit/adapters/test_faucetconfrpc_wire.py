"""faucetconfrpc messages in protobuf's wire format, checked against bytes worked out by hand."""

from __future__ import annotations

import pytest

from dovesnap.adapters import faucetconfrpc_wire as wire


def test_set_config_request_bytes() -> None:
    # field 2 (string) "a: 1": key 0x12, length 4; field 3 (bool) true: key 0x18, 1;
    # field 4 (string) "[x]": key 0x22, length 3. The empty filename (field 1) is left out.
    assert wire.set_config_file_request("a: 1", True, "[x]") == (
        b"\x12\x04a: 1" b"\x18\x01" b"\x22\x03[x]")
    assert wire.set_config_file_request("a: 1", False) == b"\x12\x04a: 1"


def test_long_strings_take_multi_byte_lengths() -> None:
    text = "x" * 300  # 300 = 0b10_0101100: varint bytes 0xac 0x02
    assert wire.set_config_file_request(text, False)[:3] == b"\x12\xac\x02"
    assert wire.get_config_file_reply(b"\x0a\xac\x02" + text.encode()) == text


def test_get_config_reply_and_unknown_fields() -> None:
    reply = b"\x0a\x05dps: " + b"\x10\x07" + b"\x1d\x01\x02\x03\x04"  # + varint and fixed32 fields
    assert wire.get_config_file_reply(reply) == "dps: "
    assert wire.get_config_file_reply(b"") == ""  # proto3: an empty string is not sent


def test_repeated_strings() -> None:
    assert wire.get_dp_names_reply(b"\x0a\x02s1\x0a\x02s2") == ["s1", "s2"]
    assert wire.get_dp_names_reply(b"") == []


def test_utf8_round_trip() -> None:
    encoded = wire.encode({2: "désc 端口"})
    assert wire.strings(wire.decode(encoded), 2) == ["désc 端口"]


@pytest.mark.parametrize("bad", [b"\x0a\x05abc", b"\x0a", b"\x08\xff", b"\x0b", b"\x00\x01",
                                 b"\x1d\x01\x02", b"\x08" + b"\xff" * 10 + b"\x01"])
def test_malformed_replies_raise(bad: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(bad)


def test_a_number_where_a_string_belongs_raises() -> None:
    with pytest.raises(wire.WireError):
        wire.get_config_file_reply(b"\x08\x01")
    wire.empty_reply(b"")
