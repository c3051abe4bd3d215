"""The features the daemon plugs into the driver, built from one FeatureContext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.driver.context import FeatureContext
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.errors import BackendError
from dovesnap.features.events import EventBus
from dovesnap.features.registry import build_features
from dovesnap.model.fabric_flags import FabricFlags, parse_fabric_flags
from tests.unit.factories import make_driver
from tests.unit.fakes import FakeDocker, FakeNetlink, FakeOvs

FABRIC = parse_fabric_flags(mirror_bridge_out="eth1", stacking_interfaces="odsrootsw:7:eth2",
                            default_ofcontrollers="tcp:127.0.0.1:6653")


@pytest.fixture
async def plain_driver(
    settings: DriverSettings, ovs: FakeOvs, netlink: FakeNetlink, docker: FakeDocker,
    store: FaucetConfigStore,
) -> AsyncIterator[Driver]:
    drv = make_driver(settings, ovs, netlink, docker, store)
    yield drv
    await drv.close()


def context(driver: Driver, tmp_path: Path, fabric: FabricFlags, engine_id: str) -> FeatureContext:
    return FeatureContext(
        driver=driver, ovs_changes=OvsChanges(), publish=EventBus().publish, engine_id=engine_id,
        state_dir=tmp_path, docker_url="unix:///nonexistent", fabric=fabric,
        faucet_metrics_url="http://127.0.0.1:9/", hostname="testhost",
    )


@pytest.mark.parametrize(("fabric", "names"), [
    (FabricFlags(None, None), ["spare_ports", "nat", "external_ports", "dhcp", "dhcp_guard", "events"]),
    (FABRIC, ["spare_ports", "nat", "external_ports", "mirror-bridge", "stacking", "dhcp",
              "dhcp_guard", "events"]),
])
def test_features_run_in_registry_order(
    plain_driver: Driver, tmp_path: Path, fabric: FabricFlags, names: list[str]
) -> None:
    plain_driver.attach_hooks(build_features(context(plain_driver, tmp_path, fabric, "07A395")))
    assert [hook.name for hook in plain_driver.hooks] == names
    assert plain_driver.dp_sync.hooks is plain_driver.hooks  # the DP writer sees the features


async def test_fabric_without_engine_id_says_so_when_it_needs_one(
    plain_driver: Driver, tmp_path: Path
) -> None:
    hooks = build_features(context(plain_driver, tmp_path, FABRIC, ""))
    mirror = next(hook for hook in hooks if hook.name == "mirror-bridge")
    with pytest.raises(BackendError, match="no engine id"):
        await mirror.daemon_started()
