"""The few faucetconfrpc messages dovesnap sends, in protobuf's wire format (pure, no I/O).

faucetconfrpc's service is ``faucetconfserver.FaucetConfServer`` (proto3). dovesnap needs three
of its calls, whose messages hold only strings, booleans and repeated strings, so they are
encoded here by hand rather than through generated code (which would tie dovesnap to one protobuf
runtime): a field is a varint key ``number << 3 | wire type``, then a varint (type 0) or a varint
length and that many bytes (type 2). proto3 leaves out fields at their default ('' or false).
"""

from __future__ import annotations

from collections.abc import Mapping

SERVICE = "/faucetconfserver.FaucetConfServer/"
GET_CONFIG_FILE = SERVICE + "GetConfigFile"
SET_CONFIG_FILE = SERVICE + "SetConfigFile"
GET_DP_NAMES = SERVICE + "GetDpNames"

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
Field = str | bool
Decoded = dict[int, list[bytes | int]]


class WireError(ValueError):
    """A reply that is not a well-formed protobuf message."""


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative varint")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode(fields: Mapping[int, Field]) -> bytes:
    """A message from ``{field number: str or bool}``; defaults ('' and False) are left out."""
    out = bytearray()
    for number in sorted(fields):
        value = fields[number]
        if isinstance(value, bool):
            if value:
                out += _varint(number << 3 | VARINT) + _varint(1)
            continue
        data = value.encode("utf-8")
        if data:
            out += _varint(number << 3 | LENGTH) + _varint(len(data)) + data
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("message ends inside a varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 64 bits")


def decode(data: bytes) -> Decoded:
    """``{field number: [values in order]}``: bytes for length-delimited fields, else ints."""
    found: Decoded = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        value: bytes | int
        if kind == VARINT:
            value, pos = _read_varint(data, pos)
        elif kind == LENGTH:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise WireError("a field is longer than the message")
            value, pos = data[pos:pos + size], pos + size
        elif kind in (FIXED64, FIXED32):
            width = 8 if kind == FIXED64 else 4
            if pos + width > len(data):
                raise WireError("message ends inside a fixed-width field")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            raise WireError(f"unknown wire type {kind}")
        if number == 0:
            raise WireError("field number 0")
        found.setdefault(number, []).append(value)
    return found


def strings(decoded: Decoded, number: int) -> list[str]:
    """The string values of field ``number`` (a repeated string field, or [] / [one])."""
    out = []
    for value in decoded.get(number, []):
        if not isinstance(value, bytes):
            raise WireError(f"field {number} is not a string")
        out.append(value.decode("utf-8"))
    return out


# -- the messages ---------------------------------------------------------------------------------


def get_config_file_request(filename: str = "") -> bytes:
    return encode({1: filename})


def get_config_file_reply(data: bytes) -> str:
    """``config_yaml`` of a GetConfigFileReply."""
    found = strings(decode(data), 1)
    return found[-1] if found else ""


def set_config_file_request(config_yaml: str, merge: bool, del_keys_yaml: str = "",
                            filename: str = "") -> bytes:
    """SetConfigFileRequest: ``del_keys_yaml`` (a YAML list of keys) is deleted before the merge."""
    return encode({1: filename, 2: config_yaml, 3: merge, 4: del_keys_yaml})


def empty_reply(data: bytes) -> None:
    """Replies without fields (SetConfigFileReply): anything well formed will do."""
    decode(data)


def get_dp_names_reply(data: bytes) -> list[str]:
    return strings(decode(data), 1)
