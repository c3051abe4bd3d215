"""ConfigWatch: a change to faucet.yaml writes every DP again, so a fixed file heals every port
without a restart; dovesnap's own writes are skipped; the operator's own edits reach FAUCET."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.config_watch import ConfigWatch
from dovesnap.driver.core import Driver
from tests.unit.fakes import FakeDocker, eventually
from tests.unit.scenario import EP, NET, attach, iface, make_net

TYPO = "acls:\n  typo:\n    - rule:\n        actions:\n          alow: 1\n"


class FakeWatch:
    def __init__(self, path: Path, on_change: Callable[[], None]) -> None:
        self.path, self.on_change = path, on_change
        self.closed = False
        WATCHES.append(self)

    def start(self) -> None: ...

    def close(self) -> None:
        self.closed = True


WATCHES: list[FakeWatch] = []


async def test_fixed_file_heals_every_port_without_restart(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    reloads: list[int] = []
    watch = ConfigWatch(driver, store.path, FakeWatch, lambda: reloads.append(1), delay=0.01)
    watch.start()
    try:
        fake = WATCHES[-1]
        assert fake.path == store.path
        await make_net(driver, docker)
        await attach(driver, docker, EP[0], "web", {"dovesnap.faucet.portacl": "allowall"})
        fake.on_change()  # dovesnap's own write: nothing to do
        await eventually(lambda: watch._debounced is not None and watch._debounced._task
                         is not None and watch._debounced._task.done())
        assert watch.resyncs == 0
        good = store.path.read_text()
        store.path.write_text(good.replace("acls:\n", TYPO, 1))
        await attach(driver, docker, EP[1], "db", {"dovesnap.faucet.portacl": "allowall"})
        net = driver.networks[NET]
        assert net.error is not None and iface(store, "net1", 2) is None
        store.path.write_text(good)  # fixed: the watch sees it
        fake.on_change()
        # The file shows port 2 a moment before the write returns and clears the error.
        await eventually(lambda: iface(store, "net1", 2) is not None and net.error is None, 10)
        assert driver.dp_sync.config_refused is None
        assert not any(ep.fail_closed for ep in net.endpoints.values())
        # An edit dovesnap has nothing to write for still reaches FAUCET.
        before = len(reloads)
        store.path.write_text(store.path.read_text().replace("allow: 0", "allow: 1"))
        fake.on_change()
        await eventually(lambda: len(reloads) > before, 10)
        # Broken, then dovesnap's own last version put back: FAUCET may have loaded the broken
        # one meanwhile (it restarted, say), so it is reloaded though the file is dovesnap's.
        good = store.path.read_text()
        store.path.write_text(good.replace("acls:\n", TYPO, 1))
        fake.on_change()
        await eventually(lambda: driver.dp_sync.config_refused is not None, 10)
        before = len(reloads)
        store.path.write_text(good)
        fake.on_change()
        await eventually(lambda: len(reloads) > before, 10)
    finally:
        await watch.stop()
    assert WATCHES[-1].closed


async def test_every_write_of_dovesnaps_own_is_known_whoever_asked_for_it(
    driver: Driver, docker: FakeDocker, store: FaucetConfigStore
) -> None:
    """Writes in quick succession, some not through a network's sync (the stacking DP is
    written that way): none of them makes the watch write every DP again or reload FAUCET."""
    reloads: list[int] = []
    watch = ConfigWatch(driver, store.path, FakeWatch, lambda: reloads.append(1), delay=0.01)
    watch.start()
    try:
        fake = WATCHES[-1]
        await make_net(driver, docker)
        for n in range(3):
            await store.update(lambda config, n=n: {**config, "vlans": {f"v{n}": {"vid": 200 + n}}})
            fake.on_change()
        await attach(driver, docker, EP[0], "web", {})
        fake.on_change()
        await eventually(lambda: watch._debounced is not None and watch._debounced._task
                         is not None and watch._debounced._task.done())
        assert (watch.resyncs, reloads) == (0, [])
        store.path.write_text(store.path.read_text() + "\n# the operator's note\n")
        fake.on_change()
        await eventually(lambda: watch.resyncs == 1)
    finally:
        await watch.stop()
