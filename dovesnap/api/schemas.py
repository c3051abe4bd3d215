"""Request schemas of the libnetwork remote driver protocol, one per endpoint.

A schema maps a field name to (expected types, required). Validation returns the body as a dict
or raises RequestError naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dovesnap.errors import RequestError

MAX_BODY = 1 << 20

Schema = Mapping[str, tuple[tuple[type, ...], bool]]

_ID = ((str,), True)
_OPT_DICT = ((dict, type(None)), False)
_OPT_LIST = ((list, type(None)), False)

SCHEMAS: dict[str, Schema] = {
    "/Plugin.Activate": {},
    "/NetworkDriver.GetCapabilities": {},
    "/NetworkDriver.CreateNetwork": {
        "NetworkID": _ID, "Options": _OPT_DICT, "IPv4Data": _OPT_LIST, "IPv6Data": _OPT_LIST,
    },
    "/NetworkDriver.DeleteNetwork": {"NetworkID": _ID},
    "/NetworkDriver.CreateEndpoint": {
        "NetworkID": _ID, "EndpointID": _ID, "Interface": _OPT_DICT, "Options": _OPT_DICT,
    },
    "/NetworkDriver.DeleteEndpoint": {"NetworkID": _ID, "EndpointID": _ID},
    "/NetworkDriver.EndpointOperInfo": {"NetworkID": _ID, "EndpointID": _ID},
    "/NetworkDriver.Join": {
        "NetworkID": _ID, "EndpointID": _ID, "SandboxKey": ((str,), True), "Options": _OPT_DICT,
    },
    "/NetworkDriver.Leave": {"NetworkID": _ID, "EndpointID": _ID},
    "/NetworkDriver.AllocateNetwork": {
        "NetworkID": _ID, "Options": _OPT_DICT, "IPv4Data": _OPT_LIST, "IPv6Data": _OPT_LIST,
    },
    "/NetworkDriver.FreeNetwork": {"NetworkID": _ID},
    "/NetworkDriver.DiscoverNew": {"DiscoveryType": ((int,), False), "DiscoveryData": ((object,), False)},
    "/NetworkDriver.DiscoverDelete": {"DiscoveryType": ((int,), False), "DiscoveryData": ((object,), False)},
    "/NetworkDriver.ProgramExternalConnectivity": {
        "NetworkID": _ID, "EndpointID": _ID, "Options": _OPT_DICT,
    },
    "/NetworkDriver.RevokeExternalConnectivity": {"NetworkID": _ID, "EndpointID": _ID},
}

_TYPE_NAMES = {str: "a string", dict: "an object", list: "a list", int: "a number"}


def parse_body(path: str, raw: bytes) -> dict[str, Any]:
    """Decode and validate a request body for ``path``."""
    schema = SCHEMAS[path]
    if len(raw) > MAX_BODY:
        raise RequestError(f"request body of {len(raw)} bytes is too large")
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise RequestError(f"request body is not JSON: {err}") from None
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    for field, (types, required) in schema.items():
        if field not in body:
            if required:
                raise RequestError(f"request field {field} is missing")
            continue
        value = body[field]
        if object in types:
            continue
        # JSON true/false are ints to Python; a bool is never a valid id or number here.
        value_ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not value_ok:
            want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types if t is not type(None))
            raise RequestError(f"request field {field} must be {want}")
        if types == (str,) and required and not value:
            raise RequestError(f"request field {field} must not be empty")
    return body
