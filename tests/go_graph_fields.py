"""What the Go original's graph tool (PyPI ``dovesnap``, its ``graph_dovesnap``) reads from the
status JSON (``GET /networks``), for the unit and integration tests of ours.

``GO_GRAPH_READS`` lists the fields it reads, level by level, with the type it expects (names
only; none of its code is copied). It draws a NAT network's gateway only from an
``ExternalPorts`` entry whose ``OFPort`` is the LOCAL port, and labels every other external port
with its ``MacAddress``. ``HostIP`` it reads with a default, so it may be missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OFP_LOCAL = 4294967294

GO_GRAPH_READS: dict[str, dict[str, type]] = {
    "network": {"NetworkName": str, "BridgeName": str, "Mode": str, "DynamicNetworkStates": dict},
    "dynamic": {"ShortEngineId": str, "Containers": dict, "ExternalPorts": dict,
                "OtherBridgePorts": dict},
    "container": {"Id": str, "Name": str, "Labels": dict, "IfName": str, "MacAddress": str,
                  "OFPort": int},
    "external": {"OFPort": int, "MacAddress": str},
    "other_bridge": {"OFPort": int, "PeerOFPort": int, "PeerBridgeName": str},
}


def check_fields(level: str, value: Mapping[str, Any]) -> None:
    for field, kind in GO_GRAPH_READS[level].items():
        assert field in value, f"{level}: no {field}"
        assert isinstance(value[field], kind), f"{level}.{field}: {value[field]!r} is not {kind}"


def check_go_graph_can_read(report: Mapping[str, Any]) -> None:
    for entry in report.values():
        check_fields("network", entry)
        dyn = entry["DynamicNetworkStates"]
        check_fields("dynamic", dyn)
        for container in dyn["Containers"].values():
            check_fields("container", container)
        for external in dyn["ExternalPorts"].values():
            check_fields("external", external)
            assert external["MacAddress"], f"external port without a MAC: {external}"
        for link in dyn["OtherBridgePorts"].values():
            check_fields("other_bridge", link)


