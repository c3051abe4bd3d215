"""Status JSON (SPEC section 7 field names)."""

from __future__ import annotations

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.driver.state import Endpoint, Network
from dovesnap.model.network import parse_network
from dovesnap.model.port_policy import PortSettings
from dovesnap.plan.faucet_dp import ExternalPort
from dovesnap.status.report import network_status, status

NET = "0a1b2c3d4e5f"
CTRL = ("tcp:127.0.0.1:6653",)

SPEC_FIELDS = {
    "NetworkName", "BridgeName", "BridgeDpid", "BridgeDpidUint", "BridgeVLAN", "MTU",
    "PreAllocatePorts", "Mode", "AddPorts", "AddCoproPorts", "Gateway", "GatewayMask",
    "FlatBindInterface", "UseDHCP", "Userspace", "NATAcl", "VLANOutAcl", "DefaultAcl",
    "OvsLocalMac", "Controller", "DynamicNetworkStates",
}
CONTAINER_FIELDS = {"Name", "Id", "OFPort", "MacAddress", "HostIP", "Labels", "IfName"}


def network(**options: str) -> Network:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x1f"} | options).items()}
    spec = parse_network(NET, opts, [{"Pool": "10.3.0.0/16", "Gateway": "10.3.0.1/16"}], (), CTRL)
    net = Network(spec, userspace=True, name="statnet")
    ep = Endpoint("ep0123456789", NET, "odsveep012", "ethcep012", 3, "0e:00:00:00:00:03",
                  address="10.3.0.5/16")
    ep.container = ContainerInfo("c0ffee123456", "web", {"dovesnap.faucet.portacl": "allowall"})
    ep.options = {"dovesnap.faucet.mirror": "true", "com.docker.network.portmap": []}
    ep.operator = PortSettings(acls=("denyall",))
    net.endpoints[ep.endpoint_id] = ep
    net.endpoints["ep2"] = Endpoint("ep2", NET, "odsveep2", "ethcep2", 4, "0e:00:00:00:00:04")
    net.externals["eth1"] = ExternalPort(7, "eth1")
    return net


def test_status_has_the_go_field_names() -> None:
    report = status({NET: network(mode="nat")}, "abc123")
    assert list(report) == [NET]
    entry = report[NET]
    assert set(entry) >= SPEC_FIELDS
    dyn = entry["DynamicNetworkStates"]
    assert set(dyn) == {"ShortEngineId", "Containers", "ExternalPorts", "OtherBridgePorts"}
    assert dyn["ShortEngineId"] == "abc123"
    assert set(dyn["Containers"]["ep0123456789"]) >= CONTAINER_FIELDS
    assert set(dyn["ExternalPorts"]["eth1"]) == {"Name", "OFPort", "MacAddress"}


def test_status_values() -> None:
    entry = network_status(network(
        mode="nat", vlan="12", nat_acl="statnet:a,b/other:c", default_acl="d",
        add_ports="eth1/5/acl1/200,eth2", add_copro_ports="eth3/6/x", ovs_local_mac="0e:00:00:00:00:01",
    ), "e")
    assert entry["NetworkName"] == "statnet"
    assert entry["BridgeName"] == "odsbr0a1b2"
    assert (entry["BridgeDpid"], entry["BridgeDpidUint"]) == ("0x1f", 31)
    assert (entry["BridgeVLAN"], entry["MTU"], entry["Mode"]) == (12, 1500, "nat")
    assert (entry["Gateway"], entry["GatewayMask"]) == ("10.3.0.1", "255.255.0.0")
    assert entry["NATAcl"] == "a,b" and entry["DefaultAcl"] == "d" and entry["VLANOutAcl"] == ""
    assert entry["AddPorts"] == "eth1/5/acl1/200,eth2"
    assert entry["AddCoproPorts"] == "eth3/6/x"
    assert entry["Userspace"] is True and entry["UseDHCP"] is False
    assert entry["OvsLocalMac"] == "0e:00:00:00:00:01"
    assert entry["Controller"] == "tcp:127.0.0.1:6653"
    web = entry["DynamicNetworkStates"]["Containers"]["ep0123456789"]
    assert web == {
        "Name": "web", "Id": "c0ffee123456", "OFPort": 3, "MacAddress": "0e:00:00:00:00:03",
        "HostIP": "10.3.0.5", "HostIPv6": "", "Labels": {"dovesnap.faucet.portacl": "allowall"},
        "IfName": "odsveep012", "FailClosed": "",
        "State": "pending", "StateReason": "waiting for the container",  # FAUCET not asked yet
        # Docker's endpoint options dovesnap keeps, and what the operator set while it runs.
        "EndpointOptions": {"dovesnap.faucet.mirror": "true"},
        "OperatorPolicy": {"acls": ["denyall"]},
    }
    unjoined = entry["DynamicNetworkStates"]["Containers"]["ep2"]
    assert (unjoined["Name"], unjoined["Id"], unjoined["HostIP"]) == ("", "", "")


def test_status_of_an_iterable_and_of_nothing() -> None:
    net = network()
    assert list(status([net], "e")) == [NET]
    assert status({}, "e") == {}


def test_ipv6_addresses_are_reported() -> None:
    opts = {"ovs.bridge.dpid": "0x1f", "ovs.bridge.mode": "nat"}
    spec = parse_network(NET, opts, [{"Pool": "10.3.0.0/16", "Gateway": "10.3.0.1/16"}],
                         [{"Pool": "fd42:3::/64", "Gateway": "fd42:3::1/64"}], CTRL)
    net = Network(spec, userspace=True, name="statnet")
    net.endpoints["ep1"] = Endpoint("ep1", NET, "odsveep1", "ethcep1", 3, "0e:00:00:00:00:03",
                                    address="10.3.0.5/16", address_ipv6="fd42:3::5/64")
    entry = network_status(net, "e")
    assert (entry["Gateway"], entry["GatewayIPv6"], entry["SubnetIPv6"]) == (
        "10.3.0.1", "fd42:3::1", "fd42:3::/64")
    container = entry["DynamicNetworkStates"]["Containers"]["ep1"]
    assert (container["HostIP"], container["HostIPv6"]) == ("10.3.0.5", "fd42:3::5")
    v4_only = network_status(network(), "e")
    assert (v4_only["GatewayIPv6"], v4_only["SubnetIPv6"]) == ("", "")
