"""The mirroring and stacking features, as the registry builds them (``fabric_hooks``)."""

from __future__ import annotations

from dovesnap.adapters.faucet_metrics import FaucetMetricsPage
from dovesnap.adapters.openflow import OfctlOpenFlow
from dovesnap.driver.context import FeatureContext
from dovesnap.driver.hooks import Hooks
from dovesnap.features.fabric.context import FabricContext
from dovesnap.features.fabric.mirror import MirrorBridgeHooks
from dovesnap.features.fabric.stacking import StackHooks


def fabric_hooks(ctx: FeatureContext) -> list[Hooks]:
    """The hooks the mirroring/stacking flags ask for (none when no such flag is given)."""
    flags = ctx.fabric
    if flags.mirror is None and flags.stack is None:
        return []
    fabric = FabricContext(
        driver=ctx.driver,
        engine_id=ctx.engine_id,
        openflow=OfctlOpenFlow(),
        metrics=FaucetMetricsPage(ctx.faucet_metrics_url),
        hostname=ctx.hostname,
    )
    hooks: list[Hooks] = []
    if flags.mirror is not None:
        hooks.append(MirrorBridgeHooks(flags.mirror, fabric))
    if flags.stack is not None:
        hooks.append(StackHooks(flags.stack, fabric))
    return hooks
