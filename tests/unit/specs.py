"""A network spec for the planning tests: a fixed network id, one controller, options by short name."""

from __future__ import annotations

from typing import Any

from dovesnap.model.network import NetworkSpec, parse_network

CTRL = ("tcp:127.0.0.1:6653",)
IPV4 = [{"Pool": "10.1.0.0/24", "Gateway": "10.1.0.1/24"}]


def spec(ipv4: Any = (), **options: str) -> NetworkSpec:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x5"} | options).items()}
    return parse_network("feedface0123456789", opts, ipv4, (), CTRL)
