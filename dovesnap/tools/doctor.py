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
from typing import Any

from dovesnap import config
from dovesnap.adapters.host_sockets import BoundSocket
from dovesnap.tools import doctor_remote as remote
from dovesnap.tools.doctor_applied import check_faucet_applied
from dovesnap.tools.observed import (
    BridgeSeen as BridgeSeen,
)
from dovesnap.tools.observed import (
    DirSeen as DirSeen,
)
from dovesnap.tools.observed import (  # what the checks judge; re-exported for the probes
    DockerSeen as DockerSeen,
)
from dovesnap.tools.observed import (
    FaucetConfigSeen as FaucetConfigSeen,
)
from dovesnap.tools.observed import (
    IptablesSeen as IptablesSeen,
)
from dovesnap.tools.observed import (
    OpenFlowSeen as OpenFlowSeen,
)
from dovesnap.tools.observed import (
    OvsSeen as OvsSeen,
)
from dovesnap.tools.observed import (
    PluginSeen as PluginSeen,
)
from dovesnap.tools.observed import (
    Probes as Probes,
)

OFPT_HELLO = 0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # ok, but worth a look: printed as WARN, does not fail the run


@dataclass(frozen=True)
class DoctorSettings:
    docker_url: str = config.DOCKER_URL
    plugin_socket: Path = config.PLUGIN_SOCKET
    ovs_db_sock: Path = config.OVS_DB_SOCK
    faucet_config_dir: Path = config.FAUCET_CONFIG_DIR
    faucet_of_port: int = config.FAUCET_OF_PORT
    gauge_of_port: int = config.GAUGE_OF_PORT
    faucet_prom_port: int = config.FAUCET_PROM_PORT
    gauge_prom_port: int = config.GAUGE_PROM_PORT
    controller_host: str = config.CONTROLLER_HOST
    embedded_faucet: bool = True
    default_ofcontrollers: tuple[str, ...] = ()
    faucetconfrpc: config.FaucetConfRpcSettings | None = None
    status_port: int = config.STATUS_PORT

    @property
    def driver_name(self) -> str:
        return self.plugin_socket.stem


# -- checks (pure) -------------------------------------------------------------------------------


def check_docker(seen: DockerSeen, url: str) -> CheckResult:
    if seen.error:
        return CheckResult("docker", False, f"Docker does not answer at {url}: {seen.error}",
                           "start dockerd (systemctl start docker), or pass --docker-url")
    return CheckResult("docker", True, f"Docker {seen.version} answers at {url}")


def _version(text: str) -> tuple[int, ...]:
    """``26.1.5+dfsg1`` -> (26, 1, 5); () when unreadable."""
    parts = []
    for part in text.split("+")[0].split("-")[0].split(".")[:3]:
        if not part.isdigit():
            return ()
        parts.append(int(part))
    return tuple(parts)


def check_internal_dns(seen: DockerSeen) -> CheckResult:
    """Docker 25+ gives containers attached only to --internal networks no names from the host's
    loopback resolver (25.0 to 26.0.1: no forwarded names at all)."""
    version = _version(seen.version)
    if seen.error or not version or version < (25,) or not seen.internal_networks:
        return CheckResult("internal-dns", True, "no --internal network loses DNS here")
    names = ", ".join(seen.internal_networks[:5]) + (", ..." if len(seen.internal_networks) > 5
                                                      else "")
    lost = ("forwards no names at all for them" if version < (26, 0, 2) else
            "does not use the host's loopback resolver for them (e.g. systemd-resolved's "
            "127.0.0.53 named in /etc/resolv.conf)")
    return CheckResult(
        "internal-dns", True,
        f"Docker {seen.version}: a container attached only to --internal networks ({names}) "
        f"gets other containers' names but Docker {lost}",
        "for DNS and egress create a nat network without --internal (docker network create -d "
        "dovesnap -o ovs.bridge.mode=nat ...): names are then forwarded through dovesnap's "
        "gateway, under FAUCET's ACLs; or give containers --dns with a server they can reach",
        warning=True)


def check_plugin(seen: PluginSeen, path: Path) -> CheckResult:
    if not seen.exists:
        return CheckResult("plugin", False, f"no plugin socket at {path}",
                           "start dovesnap: make up (or dovesnap serve)")
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


def check_controller(seen: OpenFlowSeen, what: str, host: str, port: int,
                     fix: str = "") -> CheckResult:
    name = what.lower()
    where = f"{host}:{port}"
    fix = fix or ("dovesnap serve restarts its embedded FAUCET and Gauge: see the logs in "
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


def check_exposure(sockets: Sequence[BoundSocket], ovs: OvsSeen, settings: DoctorSettings
                   ) -> CheckResult:
    """Warn when the embedded FAUCET/Gauge listen where containers can reach them."""
    roles = {settings.faucet_of_port: "FAUCET OpenFlow", settings.gauge_of_port: "Gauge OpenFlow",
             settings.faucet_prom_port: "FAUCET metrics", settings.gauge_prom_port: "Gauge metrics"}
    exposed = sorted({f"{roles[s.port]} {s.address}:{s.port}" for s in sockets
                      if s.proto == "tcp" and s.port in roles and not s.loopback})
    if not exposed:
        return CheckResult("exposure", True, "FAUCET and Gauge listen on loopback only")
    gateways = sorted(b.name for b in ovs.bridges
                      if b.driver == settings.driver_name and b.mode in ("nat", "routed"))
    if not gateways:
        return CheckResult("exposure", True, f"{', '.join(exposed)}: reachable from the network "
                           "(no dovesnap network has a gateway, so not from containers)")
    return CheckResult(
        "exposure", True,
        f"{', '.join(exposed)}: containers on nat/routed networks ({', '.join(gateways)}) can "
        "connect; one claiming a bridge's dpid on OpenFlow takes that switch over",
        "unless remote switches or a remote Prometheus need them, listen on loopback "
        "(unset CONTROLLER_LISTEN, or --controller-listen 127.0.0.1; for an operator's "
        "gauge.yaml, prometheus_addr: 127.0.0.1)", warning=True)


def run_checks(settings: DoctorSettings, probes: Probes) -> list[CheckResult]:
    ovs = probes.ovs(settings.ovs_db_sock)
    docker = probes.docker(settings.docker_url, settings.driver_name)
    results = [
        check_docker(docker, settings.docker_url),
        check_plugin(probes.plugin(settings.plugin_socket), settings.plugin_socket),
        check_ovs(ovs, settings.ovs_db_sock),
    ]
    if settings.embedded_faucet:
        for what, port in (("FAUCET", settings.faucet_of_port), ("Gauge", settings.gauge_of_port)):
            seen = probes.openflow(settings.controller_host, port)
            results.append(check_controller(seen, what, settings.controller_host, port))
        results.append(check_exposure(probes.listening(), ovs, settings))
    else:
        results += _remote_checks(settings, probes)
    results.append(check_bridges(ovs, settings))
    results.append(check_iptables(probes.iptables()))
    configured: frozenset[str] | None = None  # the DPs faucet.yaml names
    if settings.faucetconfrpc is None:
        results.append(check_config_dir(probes.config_dir(settings.faucet_config_dir),
                                        settings.faucet_config_dir))
        faucet_yaml = settings.faucet_config_dir / "faucet.yaml"
        config_seen = probes.faucet_config(faucet_yaml)
        configured = config_seen.dp_names
        results.append(check_faucet_config(config_seen, faucet_yaml))
    results.append(check_internal_dns(docker))
    if settings.embedded_faucet:
        metrics = f"http://{settings.controller_host}:{settings.faucet_prom_port}/"
        status = f"http://127.0.0.1:{settings.status_port}/networks"
        applied = check_faucet_applied(probes.faucet_applied(metrics, status), metrics,
                                       configured)
        results.append(CheckResult(applied.name, applied.ok, applied.detail, applied.fix))
    return results


def _remote_checks(settings: DoctorSettings, probes: Probes) -> list[CheckResult]:
    """An external FAUCET: the controllers named by --default-ofcontrollers answer (whether each
    bridge is connected to its own is check_bridges'); through faucetconfrpc, the config is served
    and loaded."""
    results = []
    for role, host, port in remote.controller_targets(settings.default_ofcontrollers):
        results.append(check_controller(
            probes.openflow(host, port), role, host, port,
            f"start the {role} that runs there, or correct --default-ofcontrollers"))
    rpc = settings.faucetconfrpc
    if rpc is None:
        return results
    seen = probes.faucetconfrpc(rpc)
    checks = [remote.check_faucetconfrpc(seen, rpc)]
    if seen.answers and settings.default_ofcontrollers:
        host = settings.default_ofcontrollers[0].split(":", 1)[1].rsplit(":", 1)[0]
        url = f"http://{host}:{settings.faucet_prom_port}/"
        checks.append(remote.check_faucet_loaded(probes.faucet_metrics(url), seen.dp_names, url))
    results += [CheckResult(c.name, c.ok, c.detail, c.fix) for c in checks]
    return results


def format_results(results: Sequence[CheckResult]) -> str:
    lines = []
    for result in results:
        mark = ("WARN" if result.warning else "ok  ") if result.ok else "FAIL"
        lines.append(f"{mark} {result.name:<13} {result.detail}")
        if (result.warning or not result.ok) and result.fix:
            lines.append(f"     {'':<13} fix: {result.fix}")
    failed = [r.name for r in results if not r.ok]
    warned = [r.name for r in results if r.ok and r.warning]
    lines.append("")
    lines.append(f"{len(failed)} problems: {', '.join(failed)}" if failed else "all checks passed")
    if warned:
        lines.append(f"{len(warned)} warnings: {', '.join(warned)}")
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
        faucet_prom_port=args.faucet_prom_port,
        gauge_prom_port=args.gauge_prom_port,
        controller_host=config.controller_host(args.controller_listen),
        embedded_faucet=not (args.external_faucet or args.faucetconfrpc_addr),
        default_ofcontrollers=tuple(c for c in args.default_ofcontrollers.split(",") if c),
        faucetconfrpc=config.faucetconfrpc_settings(args),
        status_port=args.status_port,
    )


def run(args: argparse.Namespace, probes: Probes) -> int:
    """Run every check with ``probes`` (``tools.probes.SystemProbes`` looks at this host)."""
    results = run_checks(settings_from(args), probes)
    sys.stdout.write(format_results(results))
    return 0 if all(r.ok for r in results) else 1
