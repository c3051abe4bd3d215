"""The status JSON as the Go original's own graph tool (PyPI ``dovesnap``, ``graph_dovesnap``)
reads it (``tests/go_graph_fields.py``): every field it reads, with the type it expects, and a
NAT network's gateway among ``ExternalPorts`` as OpenFlow port 4294967294."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.features.external_ports.hooks import ExternalPortsHooks
from dovesnap.features.nat.hooks import NatHooks
from dovesnap.graph.facts import network_facts
from dovesnap.status.report import status
from tests.go_graph_fields import OFP_LOCAL, check_go_graph_can_read
from tests.unit.factories import make_driver
from tests.unit.fake_xtables import FakeXtables
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, IPV4, NET, NET2, attach, make_net


@pytest.fixture
async def full_driver(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore, tmp_path: Path,
) -> AsyncIterator[Driver]:
    iptables = FakeXtables(tmp_path).iptables()

    class NoSysctl:
        def set_interface(self, family: str, ifname: str, key: str, value: str) -> None:
            pass

    drv = make_driver(settings, ovs, netlink, docker, store, lambda driver: [
        NatHooks(netlink, iptables, NoSysctl(), host_sockets=list),
        ExternalPortsHooks(ovs, netlink, driver, OvsChanges(), delay=0.01),
    ])
    yield drv
    await drv.close()


async def test_nat_gateway_and_external_ports_as_the_go_graph_tool_reads_them(
    full_driver: Driver, docker: FakeDocker, netlink: FakeNetlink,
) -> None:
    await make_net(full_driver, docker, ipv4=IPV4, mode="nat", add_ports="eth1/7")
    await make_net(full_driver, docker, net_id=NET2, netname="flat1", dpid="0x11")
    await attach(full_driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    report = status(full_driver.networks, "07a395", full_driver.hooks)
    check_go_graph_can_read(report)
    nat = report[NET]["DynamicNetworkStates"]["ExternalPorts"]
    bridge = full_driver.networks[NET].bridge
    # As the Go original: the LOCAL port under the bridge's name, with the bridge's MAC.
    assert nat[bridge] == {"Name": bridge, "OFPort": OFP_LOCAL,
                           "MacAddress": netlink.links[bridge].mac}
    assert nat["eth1"] == {"Name": "eth1", "OFPort": 7, "MacAddress": netlink.links["eth1"].mac}
    # A flat network has no gateway, so no LOCAL port among its external ports.
    assert report[NET2]["DynamicNetworkStates"]["ExternalPorts"] == {}


async def test_the_gateway_mac_is_the_one_asked_for(
    full_driver: Driver, docker: FakeDocker,
) -> None:
    await make_net(full_driver, docker, ipv4=IPV4, mode="routed", ovs_local_mac="0e:00:00:00:00:99")
    report = status(full_driver.networks, "e", full_driver.hooks)
    bridge = full_driver.networks[NET].bridge
    assert report[NET]["DynamicNetworkStates"]["ExternalPorts"][bridge]["MacAddress"] == (
        "0e:00:00:00:00:99")


async def test_hand_added_ports_have_their_mac(
    full_driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink,
) -> None:
    await make_net(full_driver, docker)
    bridge = full_driver.networks[NET].bridge
    ovs.add_port(bridge, "eth2", 5, {})
    hooks = next(h for h in full_driver.hooks if isinstance(h, ExternalPortsHooks))
    await hooks.reconcile_all()
    await eventually(lambda: "eth2" in full_driver.networks[NET].externals)
    report = status(full_driver.networks, "e", full_driver.hooks)
    check_go_graph_can_read(report)
    assert report[NET]["DynamicNetworkStates"]["ExternalPorts"]["eth2"]["MacAddress"] == (
        netlink.links["eth2"].mac)


def test_our_graph_draws_the_go_json_gateway_as_the_gateway_not_a_host_port() -> None:
    go_json = {
        "NetworkName": "natnet", "BridgeName": "odsbr12345", "Mode": "nat", "BridgeDpid": "0x1",
        "Gateway": "10.30.0.1", "GatewayMask": "255.255.255.0",
        "DynamicNetworkStates": {
            "ShortEngineId": "abc123", "Containers": {}, "OtherBridgePorts": {},
            "ExternalPorts": {
                "odsbr12345": {"Name": "odsbr12345", "OFPort": OFP_LOCAL, "MacAddress": "0e:00:00:00:00:01"},
                "eth1": {"Name": "eth1", "OFPort": 7, "MacAddress": "0e:00:00:00:00:07"},
            },
        },
    }
    facts = network_facts("12345", go_json)
    assert [(p.name, p.ofport, p.mac) for p in facts.ports] == [("eth1", 7, "0e:00:00:00:00:07")]
    assert facts.gateway == "10.30.0.1/24"
