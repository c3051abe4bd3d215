"""Shared fixtures: stateful fakes, a real FaucetConfigStore on tmp_path, a driver on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.core import Driver, DriverSettings
from tests.unit.factories import make_driver
from tests.unit.fakes import (
    CONTROLLERS,
    OPERATOR_YAML,
    CountingReloader,
    FakeDocker,
    FakeNetlink,
    FakeOvs,
)


@pytest.fixture(scope="session")
def faucet_check() -> Iterator[FaucetCheckProcess]:
    """The real validator: FAUCET's own parser, in the helper process the daemon uses."""
    check = FaucetCheckProcess()
    check._ensure()  # start it (it imports FAUCET: seconds on a busy machine) before any test's clock runs
    yield check
    check.close()


@pytest.fixture
def reloader() -> CountingReloader:
    return CountingReloader()


@pytest.fixture
def faucet_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "faucet" / "faucet.yaml"
    path.parent.mkdir()
    path.write_text(OPERATOR_YAML, encoding="utf-8")
    return path


@pytest.fixture
def store(
    faucet_yaml: Path, reloader: CountingReloader, faucet_check: FaucetCheckProcess
) -> FaucetConfigStore:
    # A description-only change waits a short moment here (2 s in the daemon).
    return FaucetConfigStore(faucet_yaml, faucet_check, reloader, description_delay=0.05)


@pytest.fixture
def netlink() -> FakeNetlink:
    return FakeNetlink(existing=("eth1", "eth2"))


@pytest.fixture
def ovs(netlink: FakeNetlink) -> FakeOvs:
    return FakeOvs(netlink)


@pytest.fixture
def docker() -> FakeDocker:
    return FakeDocker()


@pytest.fixture
def settings() -> DriverSettings:
    return DriverSettings(CONTROLLERS, kernel_datapath=True, attach_timeout=2.0, name_timeout=2.0)


@pytest.fixture
async def driver(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> AsyncIterator[Driver]:
    drv = make_driver(settings, ovs, netlink, docker, store)
    yield drv
    await drv.close()
