"""``dovesnap doctor``: check what dovesnap needs, say what is wrong and how to fix it.

Each check is a pure function from what a probe observed (``tools/probes.py`` looks at the
real system; tests hand in fakes) to a :class:`CheckResult`. The command exits non-zero when any
check fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dovesnap import config

OFPT_HELLO = 0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorSettings:
    docker_url: str = config.DOCKER_URL
    plugin_socket: Path = config.PLUGIN_SOCKET
    ovs_db_sock: Path = config.OVS_DB_SOCK
    faucet_config_dir: Path = config.FAUCET_CONFIG_DIR
    faucet_of_port: int = config.FAUCET_OF_PORT
    gauge_of_port: int = config.GAUGE_OF_PORT
    controller_host: str = config.CONTROLLER_HOST
    embedded_faucet: bool = True
    faucet_prom_port: int = config.FAUCET_PROM_PORT
    status_port: int = config.STATUS_PORT

    @property
    def driver_name(self) -> str:
        return self.plugin_socket.stem


# -- what probes observe -------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerSeen:
    version: str = ""
    error: str = ""


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


@dataclass(frozen=True)
class FaucetAppliedSeen:
    """What FAUCET says about the config it runs, and what dovesnap says about its ports."""

    metrics_answer: bool
    load_error: str = ""  # FAUCET's reason for refusing its config, "" when it loaded it
    dps_down: tuple[str, ...] = ()  # DPs whose switch is not connected
    status_answers: bool = False  # dovesnap's status server answered
    problems: tuple[str, ...] = ()  # "network X: why", "network X port N (name): why"


class Probes(Protocol):
    def docker(self, url: str) -> DockerSeen: ...
    def plugin(self, socket_path: Path) -> PluginSeen: ...
    def ovs(self, db_sock: Path) -> OvsSeen: ...
    def openflow(self, host: str, port: int) -> OpenFlowSeen: ...
    def iptables(self) -> IptablesSeen: ...
    def config_dir(self, path: Path) -> DirSeen: ...
    def faucet_config(self, path: Path) -> FaucetConfigSeen: ...
    def faucet_applied(self, metrics_url: str, status_url: str) -> FaucetAppliedSeen: ...


# -- checks (pure) -------------------------------------------------------------------------------


def check_docker(seen: DockerSeen, url: str) -> CheckResult:
    if seen.error:
        return CheckResult("docker", False, f"Docker does not answer at {url}: {seen.error}",
                           "start dockerd (systemctl start docker), or pass --docker-url")
    return CheckResult("docker", True, f"Docker {seen.version} answers at {url}")


def check_plugin(seen: PluginSeen, path: Path) -> CheckResult:
    if not seen.exists:
        return CheckResult("plugin", False, f"no plugin socket at {path}",
                           "start dovesnap: sudo make up (or dovesnap serve)")
    if not seen.answers:
        why = f": {seen.error}" if seen.error else ""
        return CheckResult("plugin", False, f"plugin socket {path} does not answer{why}",
                           "a stale socket from a dovesnap that died: restart dovesnap")
    return CheckResult("plugin", True, f"plugin answers on {path} (driver {path.stem})")


def check_ovs(seen: OvsSeen, sock: Path) -> CheckResult:
    if not seen.answers:
        why = f": {seen.error}" if seen.error else ""
        return CheckResult("ovs", False, f"Open vSwitch does not answer at {sock}{why}",
                           "start it (/usr/share/openvswitch/scripts/ovs-ctl start), or let "
                           "dovesnap serve start its own")
    kinds = []
    if seen.kernel_module and ("system" in seen.datapath_types or not seen.datapath_types):
        kinds.append("system (kernel module loaded)")
    if "netdev" in seen.datapath_types:
        kinds.append("netdev (userspace)")
    version = f"OVS {seen.version}" if seen.version else "OVS"
    if not kinds:
        return CheckResult("ovs", False, f"{version} answers but offers no usable datapath "
                           f"(datapath types {', '.join(seen.datapath_types) or 'none'})",
                           "load the kernel module: modprobe openvswitch")
    note = "" if seen.kernel_module else "; no kernel module: bridges use the userspace datapath"
    return CheckResult("ovs", True, f"{version} answers at {sock}; datapaths: "
                       f"{', '.join(kinds)}{note}")


def check_controller(seen: OpenFlowSeen, what: str, host: str, port: int) -> CheckResult:
    name = what.lower()
    where = f"{host}:{port}"
    fix = ("dovesnap serve restarts its embedded FAUCET and Gauge: see the logs in "
           f"{config.LOG_DIR}, or restart dovesnap")
    if not seen.listening:
        why = f" ({seen.error})" if seen.error else ""
        return CheckResult(name, False, f"{what} is not listening on {where}{why}", fix)
    if seen.message_type != OFPT_HELLO:
        got = "nothing" if seen.message_type is None else f"message type {seen.message_type}"
        return CheckResult(name, False, f"{what} on {where} accepts connections but does not "
                           f"speak OpenFlow (got {got}): it is hung or stopped", fix)
    return CheckResult(name, True, f"{what} answers OpenFlow on {where}")


def _port_of(target: str) -> int | None:
    tail = target.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def check_bridges(seen: OvsSeen, settings: DoctorSettings) -> CheckResult:
    if not seen.answers:
        return CheckResult("bridges", False, "cannot list bridges: OVS does not answer",
                           "fix Open vSwitch first")
    ours = [b for b in seen.bridges if b.driver == settings.driver_name]
    if not ours:
        return CheckResult("bridges", True, f"no {settings.driver_name} bridges yet")
    roles = {settings.faucet_of_port: "FAUCET", settings.gauge_of_port: "Gauge"}
    problems = []
    for bridge in ours:
        if not bridge.controllers:
            problems.append(f"{bridge.name} has no controller")
        for target, connected in bridge.controllers:
            if not connected:
                role = roles.get(_port_of(target) or -1, "controller")
                problems.append(f"{bridge.name} is not connected to {role} at {target}")
    if problems:
        return CheckResult("bridges", False, "; ".join(problems),
                           "check that the controller runs and listens (see the faucet/gauge "
                           "checks); OVS reconnects by itself within seconds once it does")
    return CheckResult("bridges", True, f"{len(ours)} bridges, every controller connected")


def check_iptables(seen: IptablesSeen) -> CheckResult:
    if not seen.flavour:
        why = f" ({seen.error})" if seen.error else ""
        return CheckResult("iptables", False, f"iptables is not installed{why}",
                           "apt-get install iptables")
    if not seen.docker_flavours:
        return CheckResult("iptables", True, f"iptables ({seen.flavour}); no Docker chains "
                           "found, so Docker's flavour cannot be compared (dockerd --iptables=false?)")
    if seen.flavour not in seen.docker_flavours:
        other = seen.docker_flavours[0]
        alternative = "iptables-legacy" if other == "legacy" else "iptables-nft"
        return CheckResult("iptables", False, f"iptables is {seen.flavour} but Docker's rules are "
                           f"in {other}: NAT rules would land where Docker does not look",
                           f"update-alternatives --set iptables /usr/sbin/{alternative}, then "
                           "restart dockerd and dovesnap")
    return CheckResult("iptables", True, f"iptables ({seen.flavour}) matches Docker's")


def check_config_dir(seen: DirSeen, path: Path) -> CheckResult:
    if not seen.exists:
        return CheckResult("config-dir", False, f"FAUCET config dir {path} does not exist",
                           f"mkdir -p {path}")
    if not seen.writable:
        why = f": {seen.error}" if seen.error else ""
        return CheckResult("config-dir", False, f"FAUCET config dir {path} is not writable{why}",
                           "run dovesnap as root, or make the directory writable")
    return CheckResult("config-dir", True, f"FAUCET config dir {path} is writable")


def check_faucet_config(seen: FaucetConfigSeen, path: Path) -> CheckResult:
    if not seen.exists:
        return CheckResult("faucet-config", True,
                           f"{path} does not exist yet; dovesnap serve writes a starter config")
    if seen.error:
        return CheckResult("faucet-config", False, f"FAUCET refuses {path}: {seen.error}",
                           "fix the file (check_faucet_config shows the same); dovesnap only "
                           "writes configs FAUCET accepts, so an edit by hand broke it")
    what = "valid" if seen.has_dps else "valid (no DPs yet)"
    return CheckResult("faucet-config", True, f"{path} is {what}")


def check_faucet_applied(seen: FaucetAppliedSeen, metrics_url: str) -> CheckResult:
    """Does FAUCET run what dovesnap wrote? FAUCET's own metrics, and each port's state."""
    problems = []
    if not seen.metrics_answer:
        problems.append(f"FAUCET's metrics at {metrics_url} do not answer (FAUCET is down, "
                        "restarting in a loop, or elsewhere)")
    if seen.load_error:
        problems.append(f"FAUCET refuses its config: {seen.load_error}")
    if seen.dps_down:
        problems.append("switches not connected to FAUCET: " + ", ".join(seen.dps_down))
    problems.extend(seen.problems)
    if problems:
        return CheckResult("faucet-applied", False, "; ".join(problems),
                           "see FAUCET's reason above (also in dovesnap status, the status page "
                           f"and events); logs in {config.LOG_DIR}. A fixed faucet.yaml is "
                           "applied without restarting anything")
    if not seen.status_answers:
        return CheckResult("faucet-applied", True, "FAUCET runs its config (dovesnap's status "
                           "does not answer, so its ports were not checked)")
    return CheckResult("faucet-applied", True, "FAUCET runs the config dovesnap wrote; no port "
                       "is waiting on FAUCET")


def run_checks(settings: DoctorSettings, probes: Probes) -> list[CheckResult]:
    ovs = probes.ovs(settings.ovs_db_sock)
    results = [
        check_docker(probes.docker(settings.docker_url), settings.docker_url),
        check_plugin(probes.plugin(settings.plugin_socket), settings.plugin_socket),
        check_ovs(ovs, settings.ovs_db_sock),
    ]
    if settings.embedded_faucet:
        for what, port in (("FAUCET", settings.faucet_of_port), ("Gauge", settings.gauge_of_port)):
            seen = probes.openflow(settings.controller_host, port)
            results.append(check_controller(seen, what, settings.controller_host, port))
    results.append(check_bridges(ovs, settings))
    results.append(check_iptables(probes.iptables()))
    results.append(check_config_dir(probes.config_dir(settings.faucet_config_dir),
                                    settings.faucet_config_dir))
    faucet_yaml = settings.faucet_config_dir / "faucet.yaml"
    results.append(check_faucet_config(probes.faucet_config(faucet_yaml), faucet_yaml))
    if settings.embedded_faucet:
        metrics = f"http://{settings.controller_host}:{settings.faucet_prom_port}/"
        status = f"http://127.0.0.1:{settings.status_port}/networks"
        results.append(check_faucet_applied(probes.faucet_applied(metrics, status), metrics))
    return results


def format_results(results: Sequence[CheckResult]) -> str:
    lines = []
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        lines.append(f"{mark} {result.name:<13} {result.detail}")
        if not result.ok and result.fix:
            lines.append(f"     {'':<13} fix: {result.fix}")
    failed = [r.name for r in results if not r.ok]
    lines.append("")
    lines.append(f"{len(failed)} problems: {', '.join(failed)}" if failed else "all checks passed")
    return "\n".join(lines) + "\n"


# -- command line --------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register ``dovesnap doctor`` on the main parser's subparsers."""
    doctor = sub.add_parser("doctor", help="check dovesnap's surroundings and say how to fix them")
    config.add_flags(doctor, config.DOCTOR_FLAGS)


def settings_from(args: argparse.Namespace) -> DoctorSettings:
    return DoctorSettings(
        docker_url=args.docker_url,
        plugin_socket=args.plugin_socket,
        ovs_db_sock=args.ovs_db_sock,
        faucet_config_dir=args.faucet_config_dir,
        faucet_of_port=args.faucet_of_port,
        gauge_of_port=args.gauge_of_port,
        embedded_faucet=not args.external_faucet,
        faucet_prom_port=args.faucet_prom_port,
        status_port=args.status_port,
    )


def run(args: argparse.Namespace, probes: Probes) -> int:
    """Run every check with ``probes`` (``tools.probes.SystemProbes`` looks at this host)."""
    results = run_checks(settings_from(args), probes)
    sys.stdout.write(format_results(results))
    return 0 if all(r.ok for r in results) else 1
