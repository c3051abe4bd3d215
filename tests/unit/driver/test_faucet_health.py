"""FaucetHealth on a fake FAUCET (its metrics text) and a fake flow table, with a real driver:
ports are ok only with flows; FAUCET's failures reach the port and network state and events."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver
from dovesnap.driver.faucet_health import FaucetHealth
from dovesnap.driver.state import PORT_NOT_APPLIED, PORT_OK, PORT_PENDING
from tests.unit.fakes import FakeDocker
from tests.unit.scenario import EP, NET, attach, make_net


class FakeFaucet:
    """FAUCET's Prometheus text from what it 'loaded', and a flow table per bridge."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loaded = ""
        self.error = ""
        self.answers = True
        self.dp_up = True
        self.flows: dict[str, set[int]] = {}
        self.log = (0, "")
        self.port_statuses = {1}  # ports FAUCET has seen a port-status message for
        self.announced: list[tuple[str, int]] = []

    def announce(self, bridge: str, ofport: int) -> None:  # the switch sends a port-status
        self.announced.append((bridge, ofport))
        self.port_statuses.add(ofport)

    def load(self) -> None:  # what SIGHUP does
        self.loaded = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def metrics(self) -> str:
        if not self.answers:
            raise OSError("connection refused")
        error = 1 if self.error else 0
        return (f"faucet_config_load_error {error}.0\n"
                f'faucet_config_hash_info{{config_files="{self.path}",error="{self.error}",'
                f'hashes="{self.loaded}"}} 1.0\n'
                f'dp_status{{dp_id="0x10",dp_name="net1"}} {1 if self.dp_up else 0}.0\n'
                + "".join(f'port_status{{dp_id="0x10",dp_name="net1",port="{port}",'
                          f'port_description="x"}} 1.0\n' for port in sorted(self.port_statuses)))

    def flow_in_ports(self, bridge: str) -> set[int]:
        return set(self.flows.get(bridge, set()))

    def port_has_flows(self, bridge: str, ofport: int) -> bool:
        return ofport in self.flows.get(bridge, set())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _health(driver: Driver, store: FaucetConfigStore
                  ) -> tuple[FaucetHealth, FakeFaucet, Clock, list[tuple[str, dict[str, Any]]]]:
    fake, clock = FakeFaucet(store.path), Clock()
    events: list[tuple[str, dict[str, Any]]] = []
    health = FaucetHealth(lambda: driver.networks, store.path, fake.metrics, fake,
                          lambda: fake.log, lambda kind, /, **f: events.append((kind, f)),
                          grace=5.0, clock=clock, startup_grace=0.0, announce=fake.announce)
    driver.dp_sync.on_synced.append(health.changed)
    return health, fake, clock, events


async def test_ok_only_with_flows_and_faucets_failure_reported(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    health, fake, clock, events = await _health(driver, store)
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    ep = driver.networks[NET].endpoints[EP[0]]
    fake.load()
    await health.check()
    assert ep.state == PORT_PENDING  # FAUCET runs the file, but no flows yet (within grace)
    fake.flows["odsbra1b2c"] = {1}
    await health.check()
    assert (ep.state, ep.state_reason) == (PORT_OK, "")
    # FAUCET hits an error and drops the port's flows.
    await health.check()  # the exception log's size is known from here on
    fake.log = (500, "AssertionError: vlan_vid match in table egress_acl")
    fake.flows["odsbra1b2c"] = set()
    clock.now += 10
    await health.check()
    assert ep.state == PORT_NOT_APPLIED
    assert ep.state_reason.endswith("AssertionError: vlan_vid match in table egress_acl")
    assert [kind for kind, _ in events] == ["port_not_applied"]
    assert events[0][1]["port"] == 1 and events[0][1]["container"] == "web"
    await health.check()
    assert len(events) == 1  # told once
    fake.flows["odsbra1b2c"] = {1}
    await health.check()
    assert ep.state == PORT_OK and events[-1][0] == "port_applied"


async def test_faucet_down_or_refusing_marks_the_network(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    health, fake, clock, events = await _health(driver, store)
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    net = driver.networks[NET]
    fake.answers = False
    await health.check()
    assert net.faucet_error is None  # a moment after a change: it may be restarting
    clock.now += 10
    await health.check()
    assert net.faucet_error is not None and "does not answer" in net.faucet_error
    assert net.endpoints[EP[0]].state == PORT_NOT_APPLIED
    assert events[0] == ("faucet_error", {"network": "net1", "bridge": "odsbra1b2c",
                                          "dpid": "0x10", "reason": net.faucet_error})
    fake.answers, fake.error = True, "DP net1: alow field unknown"
    await health.check()
    assert net.faucet_error == "FAUCET refused the config: DP net1: alow field unknown"
    fake.error = ""
    fake.load()
    fake.flows["odsbra1b2c"] = {1}
    await health.check()
    assert net.faucet_error is None and net.endpoints[EP[0]].state == PORT_OK
    assert [kind for kind, _ in events][-2:] == ["faucet_recovered", "port_applied"]


async def test_nothing_is_final_while_faucet_starts(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    fake, clock = FakeFaucet(store.path), Clock()
    health = FaucetHealth(lambda: driver.networks, store.path, fake.metrics, fake,
                          clock=clock, startup_grace=30.0)
    await make_net(driver, docker)
    fake.answers = False
    clock.now += 20  # long after the network's last change, but FAUCET may still be starting
    await health.check()
    assert driver.networks[NET].faucet_error is None
    clock.now += 20
    await health.check()
    assert driver.networks[NET].faucet_error is not None


async def test_wait_flows(driver: Driver, docker: FakeDocker, store: FaucetConfigStore) -> None:
    health, fake, _clock, _events = await _health(driver, store)
    assert not await health.wait_flows("br0", 3, True, 0.05)
    assert await health.wait_flows("br0", 3, False, 0.05)
    fake.flows["br0"] = {3}
    assert await health.wait_flows("br0", 3, True, 0.05)
    assert not await health.wait_flows("br0", 3, False, 0.05)


async def test_a_port_without_flows_whose_link_is_up_is_put_back(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    fake, clock = FakeFaucet(store.path), Clock()
    put_back: list[str] = []

    async def reinstall(net: Any, ep: Any) -> bool:
        put_back.append(ep.endpoint_id)
        return True

    health = FaucetHealth(lambda: driver.networks, store.path, fake.metrics, fake, clock=clock,
                          startup_grace=0.0, reinstall=reinstall)
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    fake.load()
    clock.now += 10
    await health.check()
    await asyncio.sleep(0)
    assert put_back == [EP[0]]  # configured, link up, no flows: FAUCET missed the link-up
    await health.check()
    await asyncio.sleep(0)
    assert put_back == [EP[0]]  # not again within a minute
    await health.stop()


async def test_a_running_port_faucet_shows_no_status_for_is_announced_once(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    """FAUCET exports a port's status only after a port-status message for it; a port whose
    link came up before FAUCET loaded it gets one sent, once, when its flows are in."""
    health, fake, clock, _events = await _health(driver, store)
    await make_net(driver, docker)
    await attach(driver, docker, EP[0], "web")
    await attach(driver, docker, EP[1], "db")
    fake.load()
    fake.flows["odsbra1b2c"] = {1}
    await health.check()
    assert fake.announced == []  # port 2 has no flows yet: FAUCET may not have it
    fake.flows["odsbra1b2c"] = {1, 2}
    await health.check()
    await health.check()
    assert fake.announced == [("odsbra1b2c", 2)]  # port 1 had its status already
    clock.now += 60
    await health.check()
    assert fake.announced == [("odsbra1b2c", 2)]  # FAUCET has its status now
