"""Every default path, port and URL; the flags and environment variables that change them; the
typed settings of ``dovesnap serve``.

The lowest layer: the standard library only, nothing else from dovesnap. Flags and environment
are read one way, here (:func:`add_flags`): each setting is a ``--flag`` (``--flag_name`` too,
the Go original's spelling) whose default comes from an environment variable, else from the
constant below. ``cli``, ``daemon`` and the tools import it; the shell scripts read it through
``dovesnap config --shell`` (or ``python3 -m dovesnap.config --shell`` in a checkout before the
venv exists), which prints every setting as ``KEY=value`` with the environment applied.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# -- defaults ------------------------------------------------------------------------------------

DRIVER_NAME = "dovesnap"  # Docker names a plugin after its socket file: dovesnap.sock
PLUGIN_DIR = Path("/run/docker/plugins")  # where Docker looks for plugin sockets
PLUGIN_SOCKET = PLUGIN_DIR / f"{DRIVER_NAME}.sock"
DOCKER_URL = "unix:///var/run/docker.sock"
FAUCET_CONFIG_DIR = Path("/etc/faucet")
FAUCET_CONFIG = FAUCET_CONFIG_DIR / "faucet.yaml"
STATE_DIR = Path("/var/lib/dovesnap")  # dovesnap's own OVS database, DHCP client state
LOG_DIR = Path("/var/log/dovesnap")  # FAUCET, Gauge and own-OVS logs; `make up`'s daemon log
RUN_DIR = Path("/run/dovesnap")  # pidfiles of what `make up` started (scripts only)
OVS_RUN_DIR = Path("/var/run/openvswitch")
OVS_DB_SOCK = OVS_RUN_DIR / "db.sock"
CONTROLLER_HOST = "127.0.0.1"  # where the embedded FAUCET and Gauge are reached
FAUCET_OF_PORT = 6653
GAUGE_OF_PORT = 6654
FAUCET_PROM_PORT = 9302
GAUGE_PROM_PORT = 9303
STATUS_PORT = 9401
STATUS_AUTH_IPS = "127.0.0.0/8,::1/128"
STATUS_ADDR = f"127.0.0.1:{STATUS_PORT}"
TRUE_WORDS = ("1", "true", "yes")  # how the environment turns a switch on

# -- flags and environment -----------------------------------------------------------------------

Value = str | int | Path | bool


@dataclass(frozen=True)
class Flag:
    """One setting: ``--name``, the environment variable ``env`` and the default.

    The default's type is the value's type; a bool is a switch (``store_true``) that the
    environment turns on with 1, true or yes.
    """

    name: str
    env: str
    default: Value
    help: str

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def from_env(self, environ: Mapping[str, str]) -> Value:
        """The value when no flag is given: the environment's, else the default."""
        if isinstance(self.default, bool):
            return bool(self.env) and environ.get(self.env, "") in TRUE_WORDS
        raw = environ.get(self.env, str(self.default)) if self.env else str(self.default)
        if isinstance(self.default, int):
            return int(raw)
        return Path(raw) if isinstance(self.default, Path) else raw

    def add_to(self, parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
        spellings = [f"--{self.name}"]
        if "-" in self.name:
            spellings.append(f"--{self.dest}")
        text = f"{self.help} (env {self.env})" if self.env else self.help
        if isinstance(self.default, bool):
            parser.add_argument(*spellings, dest=self.dest, action="store_true",
                                default=self.from_env(environ), help=text)
            return
        kind: type = int if isinstance(self.default, int) else (
            Path if isinstance(self.default, Path) else str)
        raw = environ.get(self.env, str(self.default)) if self.env else str(self.default)
        # argparse converts a string default with ``type``, so a bad value in the environment
        # gets the same error as a bad flag.
        parser.add_argument(*spellings, dest=self.dest, type=kind, default=raw, help=text)


FLAGS: dict[str, Flag] = {flag.name: flag for flag in (
    Flag("faucet-config-dir", "FAUCET_CONFIG_DIR", FAUCET_CONFIG_DIR, "FAUCET config dir"),
    Flag("state-dir", "DOVESNAP_STATE_DIR", STATE_DIR, "state dir (own OVS db)"),
    Flag("log-dir", "DOVESNAP_LOG_DIR", LOG_DIR, "FAUCET/Gauge/OVS logs"),
    Flag("status-port", "STATUS_PORT", STATUS_PORT, "status server port"),
    Flag("status-auth-ips", "STATUS_AUTH_IPS", STATUS_AUTH_IPS, "networks allowed to read status"),
    Flag("default-ofcontrollers", "DEFAULT_OFCONTROLLERS", "",
         "controllers for networks that set none"),
    Flag("mirror-bridge-out", "MIRROR_BRIDGE_OUT", "", "mirror output interface"),
    Flag("mirror-bridge-in", "MIRROR_BRIDGE_IN", "", "mirror river input interface"),
    Flag("stacking-interfaces", "STACKING_INTERFACES", "", "DP:PORT:IF,... stack links"),
    Flag("stack-priority1", "STACK_PRIORITY1", "", "DP to make stack root"),
    Flag("stack-mirror-interface", "STACK_MIRROR_INTERFACE", "", "DP:PORT mirror tunnel"),
    Flag("external-faucet", "EXTERNAL_FAUCET", False,
         "do not run the embedded FAUCET and Gauge (nor check their ports)"),
    Flag("plugin-socket", "DOVESNAP_PLUGIN_SOCKET", PLUGIN_SOCKET,
         "plugin socket; its file name is the driver name"),
    Flag("ovs-db-sock", "OVS_DB_SOCK", OVS_DB_SOCK,
         "OVSDB socket (dovesnap starts its own OVS there when none answers)"),
    Flag("faucet-of-port", "FAUCET_OF_PORT", FAUCET_OF_PORT, "embedded FAUCET OpenFlow port"),
    Flag("gauge-of-port", "GAUGE_OF_PORT", GAUGE_OF_PORT, "embedded Gauge OpenFlow port"),
    Flag("faucet-prom-port", "FAUCET_PROM_PORT", FAUCET_PROM_PORT, "embedded FAUCET metrics port"),
    Flag("gauge-prom-port", "GAUGE_PROM_PORT", GAUGE_PROM_PORT, "embedded Gauge metrics port"),
    Flag("debug", "", False, "log at debug level"),
    Flag("trace", "", False, "debug, and the OVSDB library's messages too"),
    Flag("docker-url", "DOCKER_HOST", DOCKER_URL, "Docker API URL"),
    Flag("run-dir", "DOVESNAP_RUN_DIR", RUN_DIR, "pidfiles of what `make up` started"),
    Flag("status-addrs", "DOVESNAP_STATUS_ADDRS", STATUS_ADDR,
         "comma list of dovesnap status host:port to merge into one picture"),
)}

# Which settings each command takes, in --help order.
SERVE_FLAGS = (
    "faucet-config-dir", "state-dir", "log-dir", "status-port", "status-auth-ips",
    "default-ofcontrollers", "mirror-bridge-out", "mirror-bridge-in", "stacking-interfaces",
    "stack-priority1", "stack-mirror-interface", "external-faucet", "plugin-socket",
    "ovs-db-sock", "faucet-of-port", "gauge-of-port", "faucet-prom-port", "gauge-prom-port",
    "docker-url", "debug", "trace",
)
DOCTOR_FLAGS = ("docker-url", "plugin-socket", "ovs-db-sock", "faucet-config-dir",
                "faucet-of-port", "gauge-of-port", "external-faucet", "faucet-prom-port",
                "status-port")
CLEANUP_FLAGS = ("faucet-config-dir", "ovs-db-sock")
# `dovesnap config` takes every serve flag (scripts hand it theirs) and the scripts' own.
CONFIG_FLAGS = (*SERVE_FLAGS, "run-dir", "status-addrs")


def add_flags(parser: argparse.ArgumentParser, names: Iterable[str],
              environ: Mapping[str, str] | None = None) -> None:
    """Add these settings' flags to ``parser``, defaults read from ``environ`` (os.environ)."""
    env = os.environ if environ is None else environ
    for name in names:
        FLAGS[name].add_to(parser, env)


def setting(name: str, environ: Mapping[str, str] | None = None) -> Value:
    """One setting's value when no flag is given (for commands without a parser of ours)."""
    return FLAGS[name].from_env(os.environ if environ is None else environ)


# -- the daemon's mirroring and stacking flags, parsed (by model/fabric_flags.py) ---------------


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


# -- dovesnap serve ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServeSettings:
    """What ``dovesnap serve`` runs with; the flags already parsed and checked (``cli``)."""

    faucet_config_dir: Path = FAUCET_CONFIG_DIR
    state_dir: Path = STATE_DIR
    log_dir: Path = LOG_DIR
    plugin_socket: Path = PLUGIN_SOCKET
    ovs_db_sock: Path = OVS_DB_SOCK
    status_port: int = STATUS_PORT
    status_auth_ips: str = STATUS_AUTH_IPS
    default_ofcontrollers: tuple[str, ...] = ()  # () when none given
    embedded_faucet: bool = True
    faucet_of_port: int = FAUCET_OF_PORT
    gauge_of_port: int = GAUGE_OF_PORT
    faucet_prom_port: int = FAUCET_PROM_PORT
    gauge_prom_port: int = GAUGE_PROM_PORT
    docker_url: str = DOCKER_URL
    fabric: FabricFlags = field(default_factory=FabricFlags)  # mirroring and stacking

    @property
    def driver_name(self) -> str:
        return self.plugin_socket.stem


def default_controllers(settings: ServeSettings) -> tuple[str, ...]:
    """Controllers of networks that name none: the flag's, else the embedded FAUCET and Gauge."""
    if settings.default_ofcontrollers:
        return settings.default_ofcontrollers
    if settings.embedded_faucet:
        return (
            f"tcp:{CONTROLLER_HOST}:{settings.faucet_of_port}",
            f"tcp:{CONTROLLER_HOST}:{settings.gauge_of_port}",
        )
    return ()


# -- dovesnap config [--shell] -------------------------------------------------------------------


def shell_values(args: argparse.Namespace) -> dict[str, str]:
    """Environment variable -> value as a string (a switch is 1 or 0), for every setting."""
    values: dict[str, str] = {}
    for name in CONFIG_FLAGS:
        flag = FLAGS[name]
        if not flag.env:
            continue
        value = getattr(args, flag.dest)
        values[flag.env] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return values


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shell", action="store_true",
                        help="print KEY=value lines (shell-quoted) for `eval`")
    add_flags(parser, CONFIG_FLAGS)


def run(args: argparse.Namespace) -> int:
    values = shell_values(args)
    if args.shell:
        sys.stdout.write("".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items()))
    else:
        width = max(len(key) for key in values)
        sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in values.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dovesnap.config",
        description="dovesnap's settings: defaults, with the environment and flags applied")
    add_config_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
