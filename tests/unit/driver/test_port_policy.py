"""Per-port policy through the driver: Docker endpoint options over labels, the operator's
changes on a running container, both kept in OVS across a dovesnap restart.

Stateful fakes for OVS, netlink and Docker; the real FaucetConfigStore with FAUCET's own parser,
so every DP asserted on here is one FAUCET accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.hooks import Hooks
from dovesnap.driver.port_policy import PolicyChange, change_policy, find_ports
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import BackendError, ConflictError, NotFoundError, OptionError
from dovesnap.model.names import EXT_ENDPOINT_ID, EXT_ENDPOINT_OPTIONS, EXT_OPERATOR_POLICY
from dovesnap.status.report import status
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, NET2, attach, iface, make_net

ACL = "dovesnap.faucet.portacl"
MIRROR = "dovesnap.faucet.mirror"
BRIDGE = "odsbra1b2c"


def port_ids(ovs: FakeOvs, ifname: str, bridge: str = BRIDGE) -> Mapping[str, str]:
    return ovs.bridges_by_name[bridge].ports[ifname].external_ids


async def test_endpoint_options_win_over_labels_and_are_kept_in_ovs(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, default_acl="denyall")
    options = {ACL: "allowall", "com.docker.network.endpoint.ifname": "mgmt0",
               "com.docker.network.portmap": []}
    await attach(driver, docker, EP[0], "web", {ACL: "denyall"}, options=options)
    await attach(driver, docker, EP[1], "db", {ACL: "allowall"})
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    assert iface(store, "net1", 2)["acls_in"] == ["allowall"]  # type: ignore[index]
    kept = json.loads(port_ids(ovs, "odsvee0000")[EXT_ENDPOINT_OPTIONS])
    assert kept == {ACL: "allowall", "com.docker.network.endpoint.ifname": "mgmt0"}
    assert EXT_ENDPOINT_OPTIONS not in port_ids(ovs, "odsvee0100")  # none given, none kept
    web = status(driver.networks, "e")[NET]["DynamicNetworkStates"]["Containers"][EP[0]]
    assert web["EndpointOptions"] == kept and web["OperatorPolicy"] == {}


@pytest.mark.parametrize("options", [{ACL: "bad acl!"}, {MIRROR: "maybe"}, {ACL: ["a", "b"]}])
async def test_a_bad_endpoint_option_refuses_the_attachment_and_leaves_nothing(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink,
    options: dict[str, object],
) -> None:
    await make_net(driver, docker)
    with pytest.raises(OptionError):
        await driver.create_endpoint(NET, EP[0], None, None, options)
    assert ovs.ofports(BRIDGE) == {} and "odsvee0000" not in netlink.links
    assert driver.networks[NET].endpoints == {}


async def test_operator_sets_and_clears_a_running_containers_acl(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {ACL: "allowall"})
    [report] = await change_policy(driver, "web", None, PolicyChange(acls=("denyall", "allowall")))
    assert iface(store, "net1", 1)["acls_in"] == ["denyall", "allowall"]  # type: ignore[index]
    assert report["InForce"] == {"acls_in": ["denyall", "allowall"], "mirrored": False,
                                 "configured": True}
    assert report["OperatorPolicy"] == {"acls": ["denyall", "allowall"]}
    assert report["Container"] == "web" and report["Network"] == "net1" and report["OFPort"] == 1
    recorded = port_ids(ovs, "odsvee0000")
    assert json.loads(recorded[EXT_OPERATOR_POLICY]) == {"acls": ["denyall", "allowall"]}
    assert recorded[EXT_ENDPOINT_ID] == EP[0]  # the port is still found after a restart
    [report] = await change_policy(driver, "web", "net1", PolicyChange(clear=("acls",)))
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    assert report["OperatorPolicy"] == {} and EXT_OPERATOR_POLICY not in port_ids(ovs, "odsvee0000")


async def test_policy_and_options_survive_a_dovesnap_restart(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink,
    store: FaucetConfigStore, settings: DriverSettings,
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", options={ACL: "allowall"})
    await attach(driver, docker, EP[1], "db", options={ACL: "allowall"})
    await change_policy(driver, "db", None, PolicyChange(acls=("denyall",)))
    await driver.close()

    again = make_driver(settings, ovs, netlink, docker, store)
    try:
        await restore_from_ovs(again)
        net = again.networks[NET]
        await eventually(lambda: all(ep.container for ep in net.endpoints.values()))
        await eventually(lambda: (iface(store, "net1", 2) or {}).get("acls_in") == ["denyall"])
        assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
        assert net.endpoints[EP[0]].kept_options == {ACL: "allowall"}
        [report] = await change_policy(again, "db", None, PolicyChange(clear=("acls",)))
        assert report["InForce"]["acls_in"] == ["allowall"]  # the endpoint option, remembered
    finally:
        await again.close()


async def test_a_port_closed_for_its_policy_opens_when_the_operator_fixes_it(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {ACL: "nosuchacl"})  # FAUCET refuses the port
    await attach(driver, docker, EP[1], "db", {ACL: "bad acl!"})  # malformed label
    for ep in EP[:2]:
        assert driver.networks[NET].endpoints[ep].fail_closed
    [web] = await change_policy(driver, "web", None, PolicyChange(acls=("allowall",)))
    assert web["FailClosed"] == "" and web["InForce"]["acls_in"] == ["allowall"]
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    # A malformed label is still malformed: an ACL from the operator does not paper over it.
    [db] = await change_policy(driver, "db", None, PolicyChange(acls=("allowall",)))
    assert "bad acl!" in db["FailClosed"] and not db["InForce"]["configured"]
    [web] = await change_policy(driver, "web", None, PolicyChange(acls=("nosuchacl",)))
    assert web["FailClosed"].startswith("FAUCET refused this port")
    assert iface(store, "net1", 1) is None


class BrokenFeature(Hooks):
    """A feature that cannot set up one container's port (as a hook error does)."""

    name = "broken"

    async def endpoint_attached(self, net: Network, ep: Endpoint) -> None:
        if ep.container is not None and ep.container.name == "web":
            raise BackendError("cannot do it")


async def test_a_port_closed_for_another_reason_stays_closed(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> None:
    driver = make_driver(settings, ovs, netlink, docker, store, [BrokenFeature()])
    try:
        await make_net(driver, docker)
        await attach(driver, docker, EP[0], "web", {ACL: "allowall"})
        [web] = await change_policy(driver, "web", None, PolicyChange(acls=("denyall",)))
        assert web["FailClosed"] == "broken: cannot do it"
        assert iface(store, "net1", 1) is None
    finally:
        await driver.close()


async def _join(driver: Driver, docker: FakeDocker, net_id: str, ep: str, cid: str,
                name: str) -> None:
    docker.add_container(net_id, ep, cid, name)
    await driver.create_endpoint(net_id, ep, None, None)
    await driver.join(net_id, ep, "/var/run/docker/netns/x")
    endpoint = driver.networks[net_id].endpoints[ep]
    await eventually(lambda: endpoint.container is not None)


async def test_which_port_a_command_means(driver: Driver, docker: FakeDocker) -> None:
    await make_net(driver, docker)
    await make_net(driver, docker, NET2, "net2", dpid="0x11")
    web, db, dbx = "abcd01" + "0" * 58, "abcd02" + "0" * 58, "9f" * 32
    await _join(driver, docker, NET, EP[0], web, "web")
    await _join(driver, docker, NET2, EP[1], web, "web")  # the same container on two networks
    await _join(driver, docker, NET, EP[2], db, "db")
    await _join(driver, docker, NET, EP[3], dbx, "dbx")
    nets = driver.networks.values()
    with pytest.raises(ConflictError, match="several dovesnap networks"):
        find_ports(nets, "web")
    assert [ep.endpoint_id for _, ep in find_ports(nets, "web", "net2")] == [EP[1]]
    assert [ep.endpoint_id for _, ep in find_ports(nets, "web", NET[:6])] == [EP[0]]
    assert [ep.endpoint_id for _, ep in find_ports(nets, "abcd02")] == [EP[2]]  # id prefix
    assert [ep.endpoint_id for _, ep in find_ports(nets, "db")] == [EP[2]]  # a name is exact
    with pytest.raises(NotFoundError):
        find_ports(nets, "9f9")  # too short to be an id prefix
    with pytest.raises(NotFoundError):
        find_ports(nets, "db", "net2")
    with pytest.raises(NotFoundError):
        find_ports(nets, "nobody")
    with pytest.raises(ConflictError, match="more than one container"):
        find_ports(nets, "abcd0", "net1")
