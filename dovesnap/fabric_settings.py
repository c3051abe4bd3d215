"""The daemon's mirroring and stacking flags once parsed (by ``model/fabric_flags.py``): plain
frozen data that ``config.ServeSettings`` carries and the fabric feature reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MirrorFlags:
    out_ifname: str
    in_ifname: str | None = None


@dataclass(frozen=True)
class StackLinkRequest:
    """``DP:PORT:IF``: host interface IF is cabled to port PORT of FAUCET DP ``DP``."""

    remote_dp: str
    remote_port: int
    ifname: str


@dataclass(frozen=True)
class StackMirrorTarget:
    """``DP:PORT``: where tunnelled mirror traffic leaves the stack."""

    dp: str
    port: int


@dataclass(frozen=True)
class StackFlags:
    links: tuple[StackLinkRequest, ...]
    controllers: tuple[str, ...]
    priority1: str | None = None
    mirror: StackMirrorTarget | None = None


@dataclass(frozen=True)
class FabricFlags:
    mirror: MirrorFlags | None = None
    stack: StackFlags | None = None
