"""The port at Join: written with the policy every starting container agrees on, or closed;
never the preallocated placeholder's settings for a container whose policy is unknown."""

from __future__ import annotations

import asyncio
import dataclasses

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from dovesnap.driver.join_policy import agreed_policy, pending_description
from dovesnap.model.labels import ContainerLabels
from tests.unit.fakes import CountingReloader, FakeDocker, FakeNetlink, eventually
from tests.unit.scenario import EP, NET, iface, make_net

SANDBOX = "/var/run/docker/netns/abc"
DENY = {"dovesnap.faucet.portacl": "denyall"}


def starting(name: str, labels: dict[str, str] | None = None) -> ContainerInfo:
    return ContainerInfo("c" + name * 8, name, labels or {}, state="created")


def test_agreed_policy() -> None:
    assert agreed_policy([], "net1") is None  # nobody known to be starting: unknown
    assert agreed_policy([starting("a"), starting("b")], "net1") == ContainerLabels()
    both = [starting("a", DENY), starting("b", {**DENY, "dovesnap.faucet.mac_prefix": "0e:99"})]
    assert agreed_policy(both, "net1") == ContainerLabels(("denyall",))  # the MAC is not policy
    assert agreed_policy([starting("a"), starting("b", DENY)], "net1") is None
    per_net = {"dovesnap.faucet.portacl": "net2:denyall"}  # another network's ACL only
    assert agreed_policy([starting("a"), starting("b", per_net)], "net1") == ContainerLabels()
    bad = {"dovesnap.faucet.portacl": "bad acl!"}  # would fail closed: the policy is not known
    assert agreed_policy([starting("a", bad)], "net1") is None
    assert pending_description([starting("a")], EP[0]) == f"a c{'a' * 4}"
    assert pending_description([starting("a"), starting("b")], EP[0]).endswith(EP[0][:12])


async def _join(driver: Driver, ep: str) -> None:
    await driver.create_endpoint(NET, ep, None, None)
    await driver.join(NET, ep, SANDBOX)


async def test_known_policy_is_written_before_join_returns(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, default_acl="allowall")
    docker.starting[NET] = [starting("web", DENY)]
    await _join(driver, EP[0])  # Docker has not named the container yet
    assert iface(store, "net1", 1) == {
        "description": "web cwebw", "native_vlan": 100, "acls_in": ["denyall"],
        "opstatus_reconf": False,
    }
    # Once Docker names it, only the description is its own (FAUCET keeps the port's flows).
    docker.add_container(NET, EP[0], "d0123456789", "web2", DENY)
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("description") == "web2 d0123")
    assert iface(store, "net1", 1)["acls_in"] == ["denyall"]  # type: ignore[index]


async def test_unknown_policy_closes_a_preallocated_port_at_join(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    """Issue 14.3: a denyall container on a preallocated (default_acl allowall) port must not
    forward with allowall while its labels are being read."""
    await make_net(driver, docker, preallocate_ports="2", default_acl="allowall")
    assert iface(store, "net1", 1)["acls_in"] == ["allowall"]  # type: ignore[index]
    docker.starting[NET] = [starting("open"), starting("shut", DENY)]  # they disagree
    await _join(driver, EP[0])
    assert iface(store, "net1", 1) is None  # closed before Join returned
    assert iface(store, "net1", 2)["description"] == "preallocated port"  # type: ignore[index]
    docker.add_container(NET, EP[0], "cshut12345", "shut", DENY)
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("acls_in") == ["denyall"])


async def test_unlabelled_container_keeps_the_preallocated_policy_at_join(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    await make_net(driver, docker, preallocate_ports="2", default_acl="allowall")
    docker.starting[NET] = [starting("plain")]
    reloads = reloader.calls
    await _join(driver, EP[0])
    assert reloader.calls == reloads  # the placeholder's flows serve it: no reload at Join
    port = iface(store, "net1", 1)
    assert port is not None and port["acls_in"] == ["allowall"]
    await eventually(lambda: (iface(store, "net1", 1) or {}).get("description")
                     != "preallocated port")  # its name follows a moment later


async def test_a_burst_takes_preallocated_ports_without_a_faucet_reload(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    """Docker creates the next endpoints while the first ones join: their placeholders stay
    (nothing can use those links before Join), so each Join only renames its port."""
    await make_net(driver, docker, preallocate_ports="3", default_acl="allowall")
    docker.starting[NET] = [starting("a"), starting("b"), starting("c")]  # all unlabelled
    store.description_delay = 1.0  # longer than the three joins take
    reloads = reloader.calls
    for ep in EP[:3]:
        await driver.create_endpoint(NET, ep, None, None)
    await driver.join(NET, EP[0], SANDBOX)
    assert iface(store, "net1", 2) == {"description": "preallocated port", "native_vlan": 100,
                                       "opstatus_reconf": False, "acls_in": ["allowall"]}
    await driver.join(NET, EP[1], SANDBOX)
    await driver.join(NET, EP[2], SANDBOX)
    assert reloader.calls == reloads
    await eventually(lambda: reloader.calls > reloads)
    assert reloader.calls == reloads + 1  # the three new names, in one write
    assert all(iface(store, "net1", p)["description"].startswith("starting")  # type: ignore[index]
               for p in (1, 2, 3))


async def test_a_running_containers_sandbox_means_unknown(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, netlink: FakeNetlink
) -> None:
    """``docker network connect`` to a running container: Docker's list does not show the
    network on it yet, so the starting containers say nothing about it."""
    await make_net(driver, docker)
    docker.starting[NET] = [starting("other")]
    netlink.busy_netns.add(SANDBOX)
    await _join(driver, EP[0])
    assert iface(store, "net1", 1) is None
    assert driver.networks[NET].endpoints[EP[0]].known_policy is None


async def test_join_is_held_until_the_port_forwards_and_bounded(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    await make_net(driver, docker, preallocate_ports="2")
    asked: list[tuple[str, int, bool, float]] = []

    async def never(bridge: str, ofport: int, forwarding: bool, timeout: float) -> bool:
        asked.append((bridge, ofport, forwarding, timeout))
        await asyncio.sleep(timeout)
        return False

    loads: list[float] = []

    async def loaded(timeout: float) -> bool:
        loads.append(timeout)
        return True

    driver.port_forwarding = never
    driver.faucet_loaded = loaded
    driver.settings = dataclasses.replace(driver.settings, join_hold=0.2)
    loop = asyncio.get_running_loop()
    docker.starting[NET] = [starting("web")]
    started = loop.time()
    await _join(driver, EP[0])  # known policy: waits for the port's flows
    assert loop.time() - started < 1.0
    assert asked[0][:3] == ("odsbra1b2c", 1, True) and asked[0][3] <= 0.2
    # Port 1 keeps its placeholder's settings: FAUCET runs them already, nothing to load.
    assert loads == []
    docker.starting[NET] = [starting("shut", DENY)]
    await _join(driver, EP[1])
    # Port 2's placeholder forwards with other settings: FAUCET must load the swap first.
    assert len(loads) == 1 and asked[1][:3] == ("odsbra1b2c", 2, True)
    docker.starting[NET] = [starting("a"), starting("b", DENY)]
    await _join(driver, EP[2])  # unknown, no placeholder on port 3: closed, nothing to wait for
    assert len(asked) == 2 and len(loads) == 1


async def test_parallel_joins_share_writes(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore, reloader: object
) -> None:
    await make_net(driver, docker)
    docker.starting[NET] = [starting("a"), starting("b")]
    for ep in EP[:12]:
        await driver.create_endpoint(NET, ep, None, None)
    before = store.reloads
    await asyncio.gather(*(driver.join(NET, ep, SANDBOX) for ep in EP[:12]))
    assert all(iface(store, "net1", port) for port in range(1, 13))
    assert store.reloads - before < 12  # coalesced: fewer writes than joins


def test_the_endpoints_own_options_and_the_operator_decide_over_labels() -> None:
    from dovesnap.model.port_policy import PortSettings

    disagree = [starting("a"), starting("b", DENY)]
    assert agreed_policy(disagree, "net1") is None
    # --driver-opt on this endpoint names the ACL: whichever container it is, that is its policy.
    options = {"dovesnap.faucet.portacl": "allowall"}
    assert agreed_policy(disagree, "net1", options) == ContainerLabels(("allowall",))
    assert agreed_policy(disagree, "net1", {}, PortSettings(acls=("mirror_in",))) == \
        ContainerLabels(("mirror_in",))
    assert agreed_policy([starting("a")], "net1", {"dovesnap.faucet.portacl": "bad acl!"}) is None
