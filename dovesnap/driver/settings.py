"""The driver's settings, and the parts of the driver that its helper modules use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dovesnap.adapters.docker_api import DockerBackend
from dovesnap.adapters.netlink import NetlinkBackend
from dovesnap.driver.bridges import Bridges
from dovesnap.driver.dp_sync import DpSync
from dovesnap.driver.hooks import Hooks, Notify
from dovesnap.driver.state import Network


@dataclass(frozen=True)
class DriverSettings:
    default_controllers: tuple[str, ...]
    kernel_datapath: bool = True
    attach_timeout: float = 60.0
    name_timeout: float = 60.0
    driver_name: str = "dovesnap"
    join_hold: float = 5.0  # at most this long, Join waits for FAUCET to run the new port


class DriverParts(Protocol):
    """What ``attach.py`` and ``join_policy.py`` use of the ``Driver`` (which has all of it)."""

    settings: DriverSettings
    docker: DockerBackend
    netlink: NetlinkBackend
    hooks: list[Hooks]
    dp_sync: DpSync
    bridges: Bridges
    notify: Notify
    port_forwarding: Callable[[str, int, bool, float], Awaitable[bool]]
    faucet_loaded: Callable[[float], Awaitable[bool]]

    async def sync_dp(self, net: Network) -> None: ...
