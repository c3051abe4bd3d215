"""The mirroring and stacking features, as the daemon registers them (``fabric_hooks``)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from dovesnap.adapters.faucet_metrics import FaucetMetricsPage
from dovesnap.adapters.openflow import OfctlOpenFlow
from dovesnap.driver.hooks import Hooks
from dovesnap.errors import BackendError
from dovesnap.features.fabric.context import FabricContext
from dovesnap.features.fabric.mirror import MirrorBridgeHooks
from dovesnap.features.fabric.stacking import StackHooks

if TYPE_CHECKING:
    from dovesnap.config import ServeSettings
    from dovesnap.daemon import Daemon
    from dovesnap.driver.core import Driver


def fabric_hooks(settings: ServeSettings, daemon: Daemon) -> list[Hooks]:
    """The hooks the mirroring/stacking flags ask for (none when no such flag is given)."""
    flags = settings.fabric  # parsed once, by the command line
    if flags.mirror is None and flags.stack is None:
        return []

    def driver() -> Driver:
        if daemon.driver is None:
            raise BackendError("the driver is not built yet")
        return daemon.driver

    def engine_id() -> str:
        if not daemon.engine_id:
            raise BackendError("no engine id to name the mirror/stacking bridges after",
                               "start Docker before dovesnap")
        return daemon.engine_id

    ctx = FabricContext(
        driver=driver,
        engine_id=engine_id,
        openflow=OfctlOpenFlow(),
        metrics=FaucetMetricsPage(f"http://127.0.0.1:{settings.faucet_prom_port}/"),
        hostname=socket.gethostname(),
    )
    hooks: list[Hooks] = []
    if flags.mirror is not None:
        hooks.append(MirrorBridgeHooks(flags.mirror, ctx))
    if flags.stack is not None:
        hooks.append(StackHooks(flags.stack, ctx))
    return hooks
