"""Building a Driver for tests the way the daemon does: the driver first, then its features."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dovesnap.adapters.docker_api import DockerBackend
from dovesnap.adapters.faucet_store import FaucetStore
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.adapters.ovsdb import OvsBackend
from dovesnap.driver.core import Driver, DriverSettings
from dovesnap.driver.hooks import Hooks

Features = Sequence[Hooks] | Callable[[Driver], Sequence[Hooks]]


def make_driver(
    settings: DriverSettings,
    ovs: OvsBackend,
    netlink: NetlinkBackend,
    docker: DockerBackend,
    store: FaucetStore,
    features: Features = (),
) -> Driver:
    """A driver with ``features`` attached: hooks, or a function that builds them from the
    driver (as ``features/registry.py`` does in the daemon)."""
    driver = Driver(settings, ovs, netlink, docker, store)
    driver.attach_hooks(features(driver) if callable(features) else features)
    return driver
