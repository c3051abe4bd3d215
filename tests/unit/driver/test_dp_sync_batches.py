"""Writing DPs through the batched store: parallel joins share writes, a broken faucet.yaml is
nobody's container's fault, and a deleted network never leaves its bridge or its DP behind."""

from __future__ import annotations

import asyncio

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from tests.unit.fakes import OPERATOR_YAML, CountingReloader, FakeDocker, FakeOvs, eventually
from tests.unit.scenario import EP, NET, NET2, attach, dps, iface, make_net

BROKEN = OPERATOR_YAML.replace("  denyall:", "  denyall: [")


async def test_parallel_joins_on_one_network_share_faucet_writes(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    await make_net(driver, docker)
    await eventually(lambda: reloader.calls >= 1)
    for i, ep in enumerate(EP[:12]):
        docker.add_container(NET, ep, f"c{ep}", f"web{i}")
        await driver.create_endpoint(NET, ep, None, None)
    before = store.writes
    await asyncio.gather(*(driver.join(NET, ep, "/var/run/docker/netns/x") for ep in EP[:12]))
    tasks = [driver.networks[NET].endpoints[ep].attach_task for ep in EP[:12]]
    await asyncio.gather(*(t for t in tasks if t is not None))
    assert all(iface(store, "net1", port) is not None for port in range(1, 13))
    assert store.writes - before <= 3, f"{store.writes - before} writes for 12 joins"
    assert store.reloads == reloader.calls


async def test_a_broken_file_blames_no_container_and_heals_when_fixed(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    store.path.write_text(store.path.read_text().replace("  denyall:", "  denyall: ["))
    await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
    net = driver.networks[NET]
    ep = net.endpoints[EP[0]]
    # Not the container's fault: nothing is blamed on its labels; the network says why, and
    # FAUCET has not been given the port (so it forwards nothing for it yet).
    assert ep.fail_closed is None and ep.policy_refusal is None
    assert net.error is not None and "not valid YAML at line" in net.error
    assert "denyall: [" in store.path.read_text()  # the operator's file, left as it is
    store.path.write_text(store.path.read_text().replace("  denyall: [", "  denyall:"))
    await driver.sync_dp(net)  # what the config watch does when the file changes
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    assert net.error is None and ep.fail_closed is None


async def test_deleting_a_network_while_the_file_is_broken_removes_the_bridge_and_later_the_dp(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, ovs: FakeOvs
) -> None:
    await make_net(driver, docker)
    await make_net(driver, docker, NET2, "net2", dpid="0x20")
    good = store.path.read_text()
    store.path.write_text(good.replace("  denyall:", "  denyall: ["))
    await driver.delete_network(NET)  # must not raise
    assert NET not in driver.networks and "odsbra1b2c" not in ovs.bridges_by_name
    store.path.write_text(good)  # fixed; the next change writes the pending removal
    await attach(driver, docker, EP[0], "web", net_id=NET2)
    assert sorted(dps(store)) == ["net2"]


async def test_a_deleted_network_is_not_written_back_by_a_queued_sync(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    net = driver.networks[NET]
    late = asyncio.ensure_future(driver.sync_dp(net))  # queued before the deletion ...
    await driver.delete_network(NET)
    await late
    await driver.sync_dp(net)  # ... or after it
    assert "net1" not in dps(store)
