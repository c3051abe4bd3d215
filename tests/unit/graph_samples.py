"""Status JSON and FAUCET configs for the graph, page and table tests (as dovesnap serves them)."""

from __future__ import annotations

import copy
from typing import Any

NET_A = "aaaa1111" + "0" * 56
NET_B = "bbbb2222" + "0" * 56
NET_C = "cccc3333" + "0" * 56


def container(name: str, cid: str, port: int, mac: str, ip: str,
              labels: dict[str, str] | None = None, fail_closed: str = "") -> dict[str, Any]:
    return {
        "Name": name, "Id": cid, "OFPort": port, "MacAddress": mac, "HostIP": ip,
        "Labels": labels or {}, "IfName": "odsve" + cid[:5], "FailClosed": fail_closed,
    }


def network(name: str, bridge: str, dpid: int, engine: str = "e1e1e1", mode: str = "flat",
            containers: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "NetworkName": name, "BridgeName": bridge, "BridgeDpid": f"{dpid:#x}",
        "BridgeDpidUint": dpid, "BridgeVLAN": 100, "MTU": 1500, "PreAllocatePorts": 0,
        "Mode": mode, "AddPorts": "", "AddCoproPorts": "", "Gateway": "", "GatewayMask": "",
        "FlatBindInterface": "", "UseDHCP": False, "Userspace": False, "NATAcl": "",
        "VLANOutAcl": "", "DefaultAcl": "", "OvsLocalMac": "",
        "Controller": "tcp:127.0.0.1:6653,tcp:127.0.0.1:6654", "Error": "",
        "DynamicNetworkStates": {
            "ShortEngineId": engine, "Containers": containers or {}, "ExternalPorts": {},
            "OtherBridgePorts": {},
        },
    }
    dyn = extra.pop("dyn", {})
    entry.update(extra)
    entry["DynamicNetworkStates"].update(dyn)
    return entry


def lab_status() -> dict[str, Any]:
    """One host: a NAT network with three containers, host ports, a mirror bridge and a stack."""
    return {
        NET_A: network(
            "labnet", "odsbraaaa1", 0x7E7001, mode="nat", Gateway="10.70.0.1",
            GatewayMask="255.255.255.0", NATAcl="allowall", AddCoproPorts="copro0/9",
            containers={
                "ep1": container("web", "c1c1c1c1c1", 1, "0e:00:00:00:00:01", "10.70.0.2",
                                 {"dovesnap.faucet.portacl": "allowall",
                                  "dovesnap.faucet.mirror": "true"}),
                "ep2": container("db", "c2c2c2c2c2", 2, "0e:00:00:00:00:02", "10.70.0.3"),
                "ep3": container("broken", "c3c3c3c3c3", 3, "0e:00:00:00:00:03", "10.70.0.4",
                                 {"dovesnap.faucet.portacl": "nosuch"},
                                 fail_closed="FAUCET refused this container's port: no ACL nosuch"),
            },
            dyn={
                "ExternalPorts": {
                    "eth9": {"Name": "eth9", "OFPort": 8, "MacAddress": ""},
                    "copro0": {"Name": "copro0", "OFPort": 9, "MacAddress": ""},
                },
                "OtherBridgePorts": {
                    "ods1": {"Name": "ods1", "PeerName": "ods2", "OFPort": 99, "PeerOFPort": 1,
                             "PeerBridgeName": "odsmire1e1e1"},
                    "ods3": {"Name": "ods3", "PeerName": "ods4", "OFPort": 98, "PeerOFPort": 1,
                             "PeerBridgeName": "dovesnape1e1e1"},
                },
                "MirrorBridge": {"BridgeName": "odsmire1e1e1", "OutInterface": "mirout",
                                 "InInterface": "mirin"},
            },
        ),
    }


def lab_faucet() -> dict[str, Any]:
    return {
        "acls": {"allowall": [{"rule": {"actions": {"allow": 1}}}]},
        "dps": {
            "labnet": {
                "dp_id": 0x7E7001, "hardware": "Open vSwitch",
                "interfaces": {
                    1: {"description": "web c1c1c", "native_vlan": 100, "acls_in": ["allowall"]},
                    2: {"description": "db c2c2c", "native_vlan": 100},
                    8: {"description": "Physical interface eth9", "native_vlan": 100},
                    9: {"description": "Physical interface copro0",
                        "coprocessor": {"strategy": "vlan_vid"}},
                    98: {"description": "stack", "stack": {"dp": "dovesnape1e1e1", "port": 2}},
                    99: {"description": "dovesnap mirror port", "output_only": True, "mirror": [1]},
                    0xFFFFFFFE: {"description": "gateway", "native_vlan": 100,
                                 "acls_in": ["allowall"]},
                },
            },
            "dovesnape1e1e1": {
                "dp_id": 0x0E0F00E1E1E1,
                "interfaces": {
                    2: {"stack": {"dp": "labnet", "port": 98}},
                    3: {"stack": {"dp": "root", "port": 7}},
                },
            },
            "root": {"dp_id": 0x77, "interfaces": {7: {"stack": {"dp": "dovesnape1e1e1", "port": 3}},
                                                   88: {"output_only": True}}},
        },
    }


def second_host_status() -> dict[str, Any]:
    return {
        NET_B: network("labnet", "odsbrbbbb2", 0x7E7002, engine="e2e2e2", containers={
            "ep9": container("web", "c9c9c9c9c9", 1, "0e:00:00:00:00:09", "10.71.0.2"),
        }),
    }


def copy_of(value: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(value)
