"""What ``dovesnap doctor``'s probes observe (``tools/probes.py`` on the real system, fakes in
tests): plain records the pure checks in ``tools/doctor.py`` judge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dovesnap import config
from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.tools import doctor_remote as remote
from dovesnap.tools.doctor_applied import FaucetAppliedSeen


@dataclass(frozen=True)
class DockerSeen:
    version: str = ""
    error: str = ""
    internal_networks: tuple[str, ...] = ()  # this driver's networks created with --internal


@dataclass(frozen=True)
class PluginSeen:
    exists: bool
    answers: bool = False
    error: str = ""


@dataclass(frozen=True)
class BridgeSeen:
    name: str
    driver: str
    controllers: tuple[tuple[str, bool], ...] = ()  # (target, is_connected)
    mode: str = ""  # the network's ovs.bridge.mode ("" for daemon bridges)


@dataclass(frozen=True)
class OvsSeen:
    answers: bool
    version: str = ""
    datapath_types: tuple[str, ...] = ()
    kernel_module: bool = False
    bridges: tuple[BridgeSeen, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class OpenFlowSeen:
    listening: bool
    message_type: int | None = None  # type of the first OpenFlow message the controller sent
    error: str = ""


@dataclass(frozen=True)
class IptablesSeen:
    flavour: str  # "nf_tables", "legacy" or "" when iptables is missing
    docker_flavours: tuple[str, ...] = ()  # flavours in which Docker's DOCKER chain exists
    error: str = ""


@dataclass(frozen=True)
class DirSeen:
    exists: bool
    writable: bool = False
    error: str = ""


@dataclass(frozen=True)
class FaucetConfigSeen:
    exists: bool
    has_dps: bool = False
    error: str = ""  # what FAUCET's parser (or YAML) said; "" when valid
    dp_names: frozenset[str] | None = None  # the DPs the file names; None: not readable


class Probes(Protocol):
    def docker(self, url: str, driver: str) -> DockerSeen: ...
    def plugin(self, socket_path: Path) -> PluginSeen: ...
    def ovs(self, db_sock: Path) -> OvsSeen: ...
    def openflow(self, host: str, port: int) -> OpenFlowSeen: ...
    def iptables(self) -> IptablesSeen: ...
    def config_dir(self, path: Path) -> DirSeen: ...
    def faucet_config(self, path: Path) -> FaucetConfigSeen: ...
    def listening(self) -> tuple[BoundSocket, ...]: ...
    def faucetconfrpc(self, rpc: config.FaucetConfRpcSettings) -> remote.RemoteConfigSeen: ...
    def faucet_metrics(self, url: str) -> remote.FaucetMetricsSeen: ...
    def faucet_applied(self, metrics_url: str, status_url: str) -> FaucetAppliedSeen: ...
