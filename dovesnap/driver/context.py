"""``FeatureContext``: everything a feature is built from, the driver included.

The daemon builds the driver first, then one ``FeatureContext``, then the features from it
(``features/registry.py``), and attaches them to the driver: nothing is bound late.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.driver.core import Driver
from dovesnap.driver.hooks import Notify
from dovesnap.driver.ovs_changes import OvsChanges
from dovesnap.fabric_settings import FabricFlags


@dataclass(frozen=True)
class FeatureContext:
    driver: Driver
    ovs_changes: OvsChanges  # OVSDB notifications, for features to subscribe
    publish: Notify  # events (the status port's /events)
    engine_id: str  # names the daemon's own bridges; "" if none could be found
    state_dir: Path
    docker_url: str
    fabric: FabricFlags  # --mirror-bridge-*, --stacking-interfaces, --stack-*
    faucet_metrics_url: str  # FAUCET's Prometheus page
    hostname: str
    spare_ports: int = 0  # --spare-ports

    @property
    def ovs(self) -> OvsBackend:
        return self.driver.ovs

    @property
    def netlink(self) -> NetlinkBackend:
        return self.driver.netlink
