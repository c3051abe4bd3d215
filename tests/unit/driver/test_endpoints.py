"""Driver: endpoints, join/leave and container labels, on fakes and a real FaucetConfigStore."""

from __future__ import annotations

import asyncio

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.restore import restore_from_ovs
from dovesnap.errors import BackendError, NotFoundError
from tests.unit.factories import make_driver
from tests.unit.fakes import CountingReloader, FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, NET2, attach, iface, make_net


async def test_endpoints_get_lowest_free_ofports(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs
) -> None:
    await make_net(driver, docker, lbport="2")
    ovs.add_port("odsbra1b2c", "eth1", 1, {})  # someone else's port already on the bridge
    for ep in EP[:3]:
        await driver.create_endpoint(NET, ep, None, None)
    assert [driver.networks[NET].endpoints[e].ofport for e in EP[:3]] == [3, 4, 5]
    await driver.delete_endpoint(NET, EP[1])
    await driver.create_endpoint(NET, EP[3], None, None)
    assert driver.networks[NET].endpoints[EP[3]].ofport == 4
    assert ovs.ofports("odsbra1b2c") == {"eth1": 1, "odsvee0000": 3, "odsvee0200": 5, "odsvee0300": 4}


async def test_parallel_endpoints_get_distinct_ports(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs
) -> None:
    await make_net(driver, docker)
    await asyncio.gather(*(driver.create_endpoint(NET, ep, None, None) for ep in EP[:12]))
    ports = sorted(ep.ofport for ep in driver.networks[NET].endpoints.values())
    assert ports == list(range(1, 13))
    assert sorted(p for p in ovs.ofports("odsbra1b2c").values() if p) == ports


@pytest.mark.parametrize(("userspace", "checksum"), [("true", False), ("false", True)])
async def test_tx_checksum_off_on_userspace_bridges(
    driver: Driver, docker: FakeDocker, netlink: FakeNetlink, userspace: str, checksum: bool
) -> None:
    await make_net(driver, docker, userspace=userspace)
    await driver.create_endpoint(NET, EP[0], None, None)
    assert netlink.links["ethce0000"].tx_checksum is checksum


async def test_container_end_is_up_before_the_port_joins_ovs(
    driver: Driver, docker: FakeDocker, netlink: FakeNetlink
) -> None:
    """So FAUCET sees the port up when it loads it, and installs its flows then (not at the
    link-up Docker causes a moment before the container's process starts)."""
    await make_net(driver, docker)
    await driver.create_endpoint(NET, EP[0], None, None)
    assert netlink.links["ethce0000"].up and netlink.links["odsvee0000"].up
    assert not netlink.links["ethce0000"].ipv6  # not the host's while it waits for Docker


async def test_create_endpoint_returns_the_mac(
    driver: Driver, docker: FakeDocker, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    chosen = await driver.create_endpoint(NET, EP[0], None, "10.9.0.5/24")
    assert chosen == netlink.links["ethce0000"].mac
    given = await driver.create_endpoint(NET, EP[1], "0e:00:00:00:00:09", None)
    assert given == "0e:00:00:00:00:09" == netlink.links["ethce0100"].mac
    assert await driver.create_endpoint(NET, EP[0], None, None) == chosen  # idempotent
    info = driver.endpoint_info(NET, EP[0])
    assert info["HostInterface"] == "odsvee0000" and info["ContainerInterface"] == "ethce0000"
    assert info["Address"] == "10.9.0.5/24" and info["OFPort"] == 1


async def test_failed_veth_leaves_nothing(
    driver: Driver, docker: FakeDocker, netlink: FakeNetlink, ovs: FakeOvs
) -> None:
    await make_net(driver, docker)
    netlink.fail_create.add("odsvee0000")
    with pytest.raises(BackendError):
        await driver.create_endpoint(NET, EP[0], None, None)
    assert ovs.ofports("odsbra1b2c") == {}
    assert "odsvee0000" not in netlink.links
    assert driver.networks[NET].endpoints == {}


async def test_unknown_network_or_endpoint(driver: Driver, docker: FakeDocker) -> None:
    with pytest.raises(NotFoundError):
        await driver.create_endpoint(NET, EP[0], None, None)
    await make_net(driver, docker)
    with pytest.raises(NotFoundError):
        await driver.join(NET, EP[0], "/x")
    with pytest.raises(NotFoundError):
        driver.endpoint_info(NET, EP[0])
    await driver.delete_endpoint(NET, EP[0])  # Docker retries deletes: harmless
    await driver.leave(NET, EP[0])


async def test_join_writes_the_container_interface(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, default_acl="denyall")
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    await attach(driver, docker, EP[1], "db")
    assert iface(store, "net1", 1) == {
        "description": f"web c{EP[0][:4]}", "native_vlan": 100, "acls_in": ["allowall"],
        "opstatus_reconf": False,
    }
    assert iface(store, "net1", 2) == {
        "description": f"db c{EP[1][:4]}", "native_vlan": 100, "acls_in": ["denyall"],
        "opstatus_reconf": False,
    }


async def test_container_found_after_join(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await driver.create_endpoint(NET, EP[0], None, None)
    await driver.join(NET, EP[0], "/x")
    await asyncio.sleep(0.05)
    assert iface(store, "net1", 1) is None
    docker.add_container(NET, EP[0], "c123456", "late")
    await eventually(lambda: iface(store, "net1", 1) is not None)
    assert iface(store, "net1", 1)["description"] == "late c1234"  # type: ignore[index]


@pytest.mark.parametrize(
    "labels", [{"dovesnap.faucet.portacl": "nosuchacl"}, {"dovesnap.faucet.portacl": "bad acl!"}]
)
async def test_bad_label_fails_that_container_closed(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, labels: dict[str, str]
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "good", {"dovesnap.faucet.portacl": "allowall"})
    await attach(driver, docker, EP[1], "bad", labels)
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    assert iface(store, "net1", 2) is None
    bad = driver.networks[NET].endpoints[EP[1]]
    assert bad.fail_closed
    assert driver.endpoint_info(NET, EP[1])["FailClosed"] == bad.fail_closed
    assert driver.networks[NET].error is None


async def test_preallocated_port_is_taken_over_by_a_container(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    await make_net(driver, docker, preallocate_ports="2", default_acl="allowall")
    assert iface(store, "net1", 1)["description"] == "preallocated port"  # type: ignore[index]
    reloads = reloader.calls
    await attach(driver, docker, EP[0], "web")
    # Same policy as the placeholder: FAUCET's flows for it serve the container as they are,
    # and the name goes out a moment later, in one write.
    assert reloader.calls == reloads
    await eventually(lambda: reloader.calls == reloads + 1)  # the name, a moment later
    assert iface(store, "net1", 1)["description"] == f"web c{EP[0][:4]}"  # type: ignore[index]
    assert iface(store, "net1", 2)["description"] == "preallocated port"  # type: ignore[index]


async def test_mac_prefix_label(driver: Driver, docker: FakeDocker, netlink: FakeNetlink) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.mac_prefix": "0e:99"})
    ep = driver.networks[NET].endpoints[EP[0]]
    assert ep.mac.startswith("0e:99:") and netlink.netns_macs["odsvee0000"] == ep.mac


async def test_leave_then_delete_endpoint(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, ovs: FakeOvs, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    await attach(driver, docker, EP[1], "db")
    await driver.leave(NET, EP[0])
    assert iface(store, "net1", 1) is None and iface(store, "net1", 2) is not None
    assert "odsvee0000" in ovs.ofports("odsbra1b2c")
    await driver.delete_endpoint(NET, EP[0])
    assert "odsvee0000" not in ovs.ofports("odsbra1b2c")
    assert "odsvee0000" not in netlink.links and "ethce0000" not in netlink.links
    assert iface(store, "net1", 2) is not None


async def test_operator_removing_a_used_acl_blocks_changes_without_breaking_the_file(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, default_acl="mirror_in")
    await attach(driver, docker, EP[0], "web")
    assert iface(store, "net1", 1)["acls_in"] == ["mirror_in"]  # type: ignore[index]
    text = store.path.read_text()
    store.path.write_text(text.replace("  mirror_in:", "  renamed:"))
    before = store.path.read_bytes()
    await attach(driver, docker, EP[1], "db")
    net = driver.networks[NET]
    assert net.error is not None and "mirror_in" in net.error
    assert store.path.read_bytes() == before  # FAUCET keeps running on the last good file
    store.path.write_text(text)  # the operator puts the ACL back
    await driver.leave(NET, EP[0])
    assert net.error is None
    assert iface(store, "net1", 1) is None and iface(store, "net1", 2) is not None


# Two endpoint ids sharing their first 6 hex digits (about N/2^20 odds per new endpoint).
TWINS = ("abcdef1" + "0" * 57, "abcdef2" + "0" * 57)


async def test_endpoints_sharing_an_id_prefix_get_their_own_veths(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await driver.create_endpoint(NET, TWINS[0], None, None)
    await driver.create_endpoint(NET, TWINS[1], None, None)
    first, second = (driver.networks[NET].endpoints[e] for e in TWINS)
    assert first.host_ifname == "odsveabcde"
    assert second.host_ifname == "odsveabcdef" and second.container_ifname == "ethcabcdef"
    assert ovs.ofports("odsbra1b2c") == {"odsveabcde": 1, "odsveabcdef": 2}
    assert netlink.links["odsveabcde"].peer == "ethcabcde"
    await driver.delete_endpoint(NET, TWINS[1])  # must not take the first container's veth
    assert "odsveabcde" in netlink.links and "ethcabcde" in netlink.links
    assert ovs.ofports("odsbra1b2c") == {"odsveabcde": 1}


async def test_a_veth_name_taken_on_the_host_is_not_reused(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink
) -> None:
    await make_net(driver, docker)
    await make_net(driver, docker, net_id=NET2, netname="net2", dpid="0x11")
    netlink.add_link("ethcabcde")  # not dovesnap's: a container side left by something else
    await driver.create_endpoint(NET2, TWINS[0], None, None)
    ep = driver.networks[NET2].endpoints[TWINS[0]]
    assert (ep.host_ifname, ep.container_ifname) == ("odsveabcdef", "ethcabcdef")
    await driver.create_endpoint(NET, TWINS[1], None, None)  # the other network's twin
    assert driver.networks[NET].endpoints[TWINS[1]].host_ifname == "odsveabcdef2"
    await driver.delete_endpoint(NET2, TWINS[0])
    assert "ethcabcde" in netlink.links and "odsveabcdef2" in netlink.links


async def test_a_restart_keeps_longer_veth_names(
    driver: Driver, docker: FakeDocker, ovs: FakeOvs, netlink: FakeNetlink,
    store: FaucetConfigStore, settings: DriverSettings,
) -> None:
    await make_net(driver, docker)
    for ep in TWINS:
        await driver.create_endpoint(NET, ep, None, None)
    await driver.close()
    again = make_driver(settings, ovs, netlink, docker, store)
    try:
        await restore_from_ovs(again)
        names = {e: (ep.host_ifname, ep.container_ifname)
                 for e, ep in again.networks[NET].endpoints.items()}
        assert names == {TWINS[0]: ("odsveabcde", "ethcabcde"),
                         TWINS[1]: ("odsveabcdef", "ethcabcdef")}
        await again.create_endpoint(NET, "abcde9" + "0" * 58, None, None)  # known names skipped
        assert again.networks[NET].endpoints["abcde9" + "0" * 58].host_ifname == "odsveabcde9"
    finally:
        await again.close()


async def test_a_connect_event_naming_another_container_is_not_believed(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    docker.add_container(NET2, EP[5], "c-other", "other", {"dovesnap.faucet.portacl": "allowall"})
    await driver.create_endpoint(NET, EP[0], None, None)
    ep = await driver.join(NET, EP[0], "/var/run/docker/netns/x")
    driver.note_connect(NET, "c-other")  # stale, or about another endpoint: not EP[0]'s owner
    await asyncio.sleep(0.2)
    assert ep.container is None and iface(store, "net1", 1) is None
    docker.add_container(NET, EP[0], "c-mine", "mine", {"dovesnap.faucet.portacl": "denyall"})
    await eventually(lambda: ep.container is not None)
    assert ep.container is not None and ep.container.id == "c-mine"
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("acls_in") == ["denyall"])
    assert iface(store, "net1", 1)["description"] == "mine c-min"  # type: ignore[index]


async def test_a_connect_event_for_the_endpoints_owner_attaches_before_listings_show_it(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await driver.create_endpoint(NET, EP[0], None, None)
    ep = await driver.join(NET, EP[0], "/var/run/docker/netns/x")
    # Docker's network knows the endpoint's container; container listings do not show it yet.
    docker.connecting(NET, EP[0], "c-mine", "mine", {"dovesnap.faucet.portacl": "allowall"})
    await asyncio.sleep(0.2)
    assert ep.container is None  # no event yet: the listing fallback cannot see it
    driver.note_connect(NET, "c-mine")
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("acls_in") == ["allowall"])
