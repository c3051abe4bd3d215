"""Writing DPs when FAUCET refuses: the operator's config is reported (and healed when fixed),
a container's own bad ACL is failed closed; a container Docker does not name is closed too."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from tests.unit.fakes import FakeDocker, eventually
from tests.unit.scenario import EP, NET, attach, dps, iface, make_net

ALLOW = {"dovesnap.faucet.portacl": "allowall"}
TYPO = "acls:\n  typo:\n    - rule:\n        actions:\n          alow: 1\n"


async def test_operator_typo_is_reported_and_a_fixed_file_heals_the_ports(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web", ALLOW)
    good = store.path.read_text()
    store.path.write_text(good.replace("acls:\n", TYPO, 1))  # a typo far from dovesnap's DP
    await attach(driver, docker, EP[1], "db", ALLOW)
    await attach(driver, docker, EP[2], "plain")
    net = driver.networks[NET]
    assert not any(ep.fail_closed for ep in net.endpoints.values())  # not the containers' fault
    assert net.error is not None and "alow" in net.error and "no restart" in net.error
    assert driver.dp_sync.config_refused is not None and "alow" in driver.dp_sync.config_refused
    assert iface(store, "net1", 2) is None and "alow" in store.path.read_text()  # theirs, kept
    store.path.write_text(good)  # the operator fixes the file
    async with net.lock:  # what the config watch does when the file changes
        await driver.sync_dp(net)
    assert iface(store, "net1", 2)["acls_in"] == ["allowall"]  # type: ignore[index]
    assert iface(store, "net1", 3) is not None
    assert net.error is None and driver.dp_sync.config_refused is None


async def test_unreadable_file_is_reported_not_failed_closed(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    store.path.write_text("acls: [unclosed\n")
    await attach(driver, docker, EP[0], "web", ALLOW)
    net = driver.networks[NET]
    assert net.error is not None and not net.endpoints[EP[0]].fail_closed


async def test_container_docker_never_names_fails_closed_is_reported_and_retried(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, preallocate_ports="1", default_acl="allowall")
    events: list[tuple[str, dict[str, Any]]] = []
    driver.notify = lambda kind, /, **fields: events.append((kind, fields))
    driver.settings = dataclasses.replace(driver.settings, attach_timeout=0.1)
    await driver.create_endpoint(NET, EP[0], None, None)
    await driver.join(NET, EP[0], "/x")
    ep = driver.networks[NET].endpoints[EP[0]]
    await eventually(lambda: ep.fail_closed is not None and events)  # reported once written
    assert iface(store, "net1", 1) is None  # closed, not the placeholder's allowall
    assert events[0][0] == "port_fail_closed" and events[0][1]["port"] == 1
    assert "keeps asking" in events[0][1]["reason"]
    docker.add_container(NET, EP[0], "c0123456789", "late")
    driver.note_connect(NET, "c0123456789")  # Docker's connect event wakes the retry
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("description") == "late c0123")
    assert ep.fail_closed is None


async def test_a_pending_write_of_a_deleted_network_writes_nothing_back(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    net = driver.networks[NET]
    async with net.lock:  # a Join's write waits for the lock while the network is deleted
        pending = asyncio.get_running_loop().create_task(driver.dp_sync.request(net))
        await asyncio.sleep(0.01)
        await driver.dp_sync.remove(net, [net])
    await asyncio.wait_for(pending, 2)
    assert "net1" not in dps(store)
