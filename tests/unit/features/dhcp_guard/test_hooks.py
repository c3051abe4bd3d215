"""The DHCP guard on the driver with fakes and FAUCET's own parser: which ports get it, the ACLs
written beside the DP, and taken out with the last guarded network."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.features.dhcp_guard.hooks import DhcpGuardHooks
from dovesnap.features.dhcp_guard.plan import GUARD_ACL, GUARD_OPEN_ACL, guard_acls
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs, eventually
from tests.unit.scenario import EP, NET, NET2, attach, iface, make_net


@pytest.fixture
async def guarded(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> AsyncIterator[Driver]:
    driver = make_driver(settings, ovs, netlink, docker, store, [DhcpGuardHooks()])
    yield driver
    await driver.close()


def acls(store: FaucetConfigStore) -> dict[str, object]:
    return yaml.safe_load(store.path.read_text()).get("acls") or {}


async def test_container_and_preallocated_ports_drop_dhcp_offers_first(
    guarded: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(guarded, docker, dhcp_guard="true", preallocate_ports="3")
    await attach(guarded, docker, EP[0], "plain")
    await attach(guarded, docker, EP[1], "labelled", {"dovesnap.faucet.portacl": "allowall"})
    assert iface(store, "net1", 1)["acls_in"] == [GUARD_OPEN_ACL]  # type: ignore[index]
    assert iface(store, "net1", 2)["acls_in"] == [GUARD_ACL, "allowall"]  # type: ignore[index]
    assert iface(store, "net1", 3)["acls_in"] == [GUARD_OPEN_ACL]  # type: ignore[index]
    written = acls(store)
    assert {k: written[k] for k in (GUARD_ACL, GUARD_OPEN_ACL)} == guard_acls()
    assert {"allowall", "denyall", "mirror_in"} <= set(written)  # the operator's stay


async def test_default_acl_comes_after_the_guard(
    guarded: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(guarded, docker, dhcp_guard="true", preallocate_ports="1",
                   default_acl="mirror_in")
    assert iface(store, "net1", 1)["acls_in"] == [GUARD_ACL, "mirror_in"]  # type: ignore[index]
    await attach(guarded, docker, EP[0], "web")
    assert iface(store, "net1", 1)["acls_in"] == [GUARD_ACL, "mirror_in"]  # type: ignore[index]


async def test_unguarded_networks_are_unchanged(
    guarded: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(guarded, docker, preallocate_ports="1")
    await attach(guarded, docker, EP[1], "web")
    await eventually(lambda: iface(store, "net1", 1) == {
        "description": f"web c{EP[1][:4]}", "native_vlan": 100, "opstatus_reconf": False})
    assert GUARD_ACL not in acls(store) and GUARD_OPEN_ACL not in acls(store)


async def test_the_acls_go_with_the_last_guarded_network(
    guarded: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    before = acls(store)
    await make_net(guarded, docker, dhcp_guard="true", preallocate_ports="1")
    await make_net(guarded, docker, NET2, "net2", dpid="0x11", dhcp_guard="true",
                   preallocate_ports="1")
    await guarded.delete_network(NET)
    assert GUARD_OPEN_ACL in acls(store)
    await guarded.delete_network(NET2)
    assert acls(store) == before
