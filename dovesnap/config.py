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

from dovesnap.fabric_settings import FabricFlags

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
# The embedded FAUCET and Gauge listen (OpenFlow and Prometheus) on loopback only: containers
# on nat/routed networks reach every host address, and whoever connects to 6653 claiming a
# bridge's dpid takes the switch over. CONTROLLER_LISTEN opens them for remote switches or a
# remote Prometheus; dovesnap itself reaches them at controller_host().
CONTROLLER_LISTEN = "127.0.0.1"
CONTROLLER_HOST = "127.0.0.1"  # where the embedded FAUCET and Gauge are reached by default
FAUCET_OF_PORT = 6653
GAUGE_OF_PORT = 6654
FAUCET_PROM_PORT = 9302
GAUGE_PROM_PORT = 9303
STATUS_PORT = 9401
FAUCET_CHECK_TIMEOUT = 30.0  # seconds FAUCET's parser may take on a candidate config
FAUCET_BATCH_WINDOW = 0.01  # seconds a FAUCET config change waits for others to join its write
FAUCET_DESCRIPTION_DELAY = 2.0  # seconds a change of port descriptions alone waits for company
STATUS_AUTH_IPS = "127.0.0.0/8,::1/128"
CONTROL_AUTH_IPS = "127.0.0.0/8,::1/128"  # who may change a port's policy (POST /policy)
STATUS_ADDR = f"127.0.0.1:{STATUS_PORT}"
STATUS_LISTEN = ""  # none given: loopback when STATUS_AUTH_IPS is loopback only, else everywhere
# What the status server takes (status/gate.py): open connections at once, seconds for a
# request's headers, seconds a kept-alive connection may idle, bytes of headers.
STATUS_MAX_CONNECTIONS = 64
STATUS_HEADER_TIMEOUT = 10.0
STATUS_IDLE_TIMEOUT = 30.0
STATUS_MAX_HEADER_BYTES = 16384
TRUE_WORDS = ("1", "true", "yes")  # how the environment turns a switch on
# faucetconfrpc (FAUCET's config over gRPC with mutual TLS), the Go original's defaults: the key
# dir holds <client>.crt, <client>.key and <addr>-ca.crt (or ca.crt).
FAUCETCONFRPC_PORT = 59999
FAUCETCONFRPC_KEYDIR = Path("/faucetconfrpc")
FAUCETCONFRPC_CLIENT = "faucetconfrpc"
FAUCETCONFRPC_CONNRETRIES = 5

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
    Flag("status-listen", "STATUS_LISTEN", STATUS_LISTEN,
         "comma list of addresses the status server listens on (default: loopback if only "
         "loopback may read it, else every address)"),
    Flag("control-auth-ips", "CONTROL_AUTH_IPS", CONTROL_AUTH_IPS,
         "networks allowed to change a running container's ACL or mirroring (also need "
         "--status-auth-ips)"),
    Flag("default-ofcontrollers", "DEFAULT_OFCONTROLLERS", "",
         "controllers for networks that set none and the stacking bridge"),
    Flag("mirror-bridge-out", "MIRROR_BRIDGE_OUT", "", "mirror output interface"),
    Flag("mirror-bridge-in", "MIRROR_BRIDGE_IN", "", "mirror river input interface"),
    Flag("stacking-interfaces", "STACKING_INTERFACES", "", "DP:PORT:IF,... stack links"),
    Flag("stack-priority1", "STACK_PRIORITY1", "", "DP to make stack root"),
    Flag("stack-mirror-interface", "STACK_MIRROR_INTERFACE", "", "DP:PORT mirror tunnel"),
    Flag("external-faucet", "EXTERNAL_FAUCET", False,
         "do not run the embedded FAUCET and Gauge (nor check their ports)"),
    Flag("plugin-socket", "DOVESNAP_PLUGIN_SOCKET", PLUGIN_SOCKET,
         "plugin socket; its file name is the driver name"),
    Flag("managed-socket", "DOVESNAP_MANAGED_SOCKET", "",
         "inside a managed plugin (docker plugin): also serve Docker on the plugin's own socket"),
    Flag("driver-aliases", "DOVESNAP_DRIVER_ALIASES", "",
         "comma list of other names Docker gives this driver's networks (a managed plugin's "
         "NAME:TAG)"),
    Flag("ovs-db-sock", "OVS_DB_SOCK", OVS_DB_SOCK,
         "OVSDB socket (dovesnap starts its own OVS there when none answers)"),
    Flag("faucet-of-port", "FAUCET_OF_PORT", FAUCET_OF_PORT, "embedded FAUCET OpenFlow port"),
    Flag("gauge-of-port", "GAUGE_OF_PORT", GAUGE_OF_PORT, "embedded Gauge OpenFlow port"),
    Flag("faucet-prom-port", "FAUCET_PROM_PORT", FAUCET_PROM_PORT, "embedded FAUCET metrics port"),
    Flag("gauge-prom-port", "GAUGE_PROM_PORT", GAUGE_PROM_PORT, "embedded Gauge metrics port"),
    Flag("controller-listen", "CONTROLLER_LISTEN", CONTROLLER_LISTEN,
         "address the embedded FAUCET and Gauge listen on, OpenFlow and metrics "
         "(0.0.0.0 or :: for remote switches or a remote Prometheus)"),
    Flag("spare-ports", "DOVESNAP_SPARE_PORTS", 0,
         "placeholder ports every network keeps free in FAUCET, so a new container waits for "
         "no FAUCET reload (refilled in the background; 0: none beyond preallocate_ports)"),
    Flag("debug", "", False, "log at debug level"),
    Flag("trace", "", False, "debug, and the OVSDB library's messages too"),
    Flag("docker-url", "DOCKER_HOST", DOCKER_URL, "Docker API URL"),
    Flag("run-dir", "DOVESNAP_RUN_DIR", RUN_DIR, "pidfiles of what `make up` started"),
    Flag("status-addrs", "DOVESNAP_STATUS_ADDRS", STATUS_ADDR,
         "comma list of dovesnap status host:port to merge into one picture"),
    Flag("faucetconfrpc-addr", "FAUCETCONFRPC_ADDR", "",
         "faucetconfrpc server: edit a remote FAUCET's config through it (implies --external-faucet)"),
    Flag("faucetconfrpc-port", "FAUCETCONFRPC_PORT", FAUCETCONFRPC_PORT, "faucetconfrpc port"),
    Flag("faucetconfrpc-keydir", "FAUCETCONFRPC_KEYDIR", FAUCETCONFRPC_KEYDIR,
         "dir with the faucetconfrpc client key/cert and the server's CA"),
    Flag("faucetconfrpc-client", "FAUCETCONFRPC_CLIENT", FAUCETCONFRPC_CLIENT,
         "basename of the client cert and key in the key dir"),
    Flag("faucetconfrpc-connretries", "FAUCETCONFRPC_CONNRETRIES", FAUCETCONFRPC_CONNRETRIES,
         "tries to reach the faucetconfrpc server at start, 2 s apart"),
)}

# The Go original's faucetconfrpc flags, in every command that reads or writes FAUCET's config.
FAUCETCONFRPC_FLAGS = ("faucetconfrpc-addr", "faucetconfrpc-port", "faucetconfrpc-keydir",
                       "faucetconfrpc-client", "faucetconfrpc-connretries")

# Which settings each command takes, in --help order.
SERVE_FLAGS = (
    "faucet-config-dir", "state-dir", "log-dir", "status-port", "status-auth-ips", "status-listen",
    "control-auth-ips", "default-ofcontrollers", "mirror-bridge-out", "mirror-bridge-in",
    "stacking-interfaces",
    "stack-priority1", "stack-mirror-interface", "external-faucet", "plugin-socket",
    "managed-socket", "driver-aliases",
    "ovs-db-sock", "faucet-of-port", "gauge-of-port", "faucet-prom-port", "gauge-prom-port",
    "controller-listen", "spare-ports", "docker-url", "debug", "trace", *FAUCETCONFRPC_FLAGS,
)
DOCTOR_FLAGS = ("docker-url", "plugin-socket", "ovs-db-sock", "faucet-config-dir",
                "faucet-of-port", "gauge-of-port", "faucet-prom-port", "gauge-prom-port",
                "controller-listen", "external-faucet", "default-ofcontrollers", "status-port",
                *FAUCETCONFRPC_FLAGS)
CLEANUP_FLAGS = ("faucet-config-dir", "ovs-db-sock", "docker-url", *FAUCETCONFRPC_FLAGS)
INIT_CONFIG_FLAGS = ("faucet-config-dir", "gauge-prom-port")
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


# -- faucetconfrpc ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaucetConfRpcSettings:
    """Where the faucetconfrpc server is and which certificates prove who we are (mutual TLS)."""

    addr: str
    port: int = FAUCETCONFRPC_PORT
    keydir: Path = FAUCETCONFRPC_KEYDIR
    client: str = FAUCETCONFRPC_CLIENT
    conn_retries: int = FAUCETCONFRPC_CONNRETRIES

    @property
    def target(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"{host}:{self.port}"

    @property
    def cert(self) -> Path:
        return self.keydir / f"{self.client}.crt"

    @property
    def key(self) -> Path:
        return self.keydir / f"{self.client}.key"

    @property
    def ca_candidates(self) -> tuple[Path, Path]:
        """The server's CA: ``<addr>-ca.crt`` as the Go original names it, else ``ca.crt``."""
        return self.keydir / f"{self.addr}-ca.crt", self.keydir / "ca.crt"


def faucetconfrpc_settings(args: argparse.Namespace) -> FaucetConfRpcSettings | None:
    """The faucetconfrpc flags of a parsed command line; None when no server is named."""
    if not getattr(args, "faucetconfrpc_addr", ""):
        return None
    return FaucetConfRpcSettings(args.faucetconfrpc_addr, args.faucetconfrpc_port,
                                 args.faucetconfrpc_keydir, args.faucetconfrpc_client,
                                 args.faucetconfrpc_connretries)


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
    status_listen: tuple[str, ...] = ()  # () when none given
    control_auth_ips: str = CONTROL_AUTH_IPS
    default_ofcontrollers: tuple[str, ...] = ()  # () when none given
    embedded_faucet: bool = True
    faucet_of_port: int = FAUCET_OF_PORT
    gauge_of_port: int = GAUGE_OF_PORT
    faucet_prom_port: int = FAUCET_PROM_PORT
    gauge_prom_port: int = GAUGE_PROM_PORT
    controller_listen: str = CONTROLLER_LISTEN
    docker_url: str = DOCKER_URL
    fabric: FabricFlags = field(default_factory=FabricFlags)  # mirroring and stacking
    faucetconfrpc: FaucetConfRpcSettings | None = None  # None: edit faucet.yaml in the config dir

    managed_socket: Path | None = None  # inside a managed plugin: the plugin's own socket
    driver_aliases: tuple[str, ...] = ()  # other names of this driver in Docker (NAME:TAG)
    spare_ports: int = 0  # placeholders every network keeps free (features/spare_ports)

    @property
    def driver_name(self) -> str:
        return self.plugin_socket.stem

    @property
    def plugin_sockets(self) -> tuple[Path, ...]:
        """Every socket Docker reaches this driver on."""
        return (self.plugin_socket,) + ((self.managed_socket,) if self.managed_socket else ())


def controller_host(listen: str) -> str:
    """Where dovesnap (OVS, its probes) reaches the embedded controllers listening on ``listen``:
    loopback when they listen on every address, else that address."""
    if listen in ("", "0.0.0.0"):
        return CONTROLLER_HOST
    if listen == "::":
        return "::1"
    return listen


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (URLs and OVS controller targets alike)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_controllers(settings: ServeSettings) -> tuple[str, ...]:
    """Controllers of networks that name none: the flag's, else the embedded FAUCET and Gauge."""
    if settings.default_ofcontrollers:
        return settings.default_ofcontrollers
    if settings.embedded_faucet:
        host = controller_host(settings.controller_listen)
        return (
            f"tcp:{host_port(host, settings.faucet_of_port)}",
            f"tcp:{host_port(host, settings.gauge_of_port)}",
        )
    return ()


def faucet_metrics_url(settings: ServeSettings) -> str:
    """FAUCET's Prometheus page: the embedded FAUCET's, else on the host of the first default
    controller (an external FAUCET), at --faucet-prom-port."""
    if not settings.embedded_faucet and settings.default_ofcontrollers:
        # tcp:IP:PORT or tcp:[IPv6]:PORT, checked when the flags were parsed
        host = settings.default_ofcontrollers[0].split(":", 1)[1].rsplit(":", 1)[0]
        return f"http://{host}:{settings.faucet_prom_port}/"
    # the embedded FAUCET, where it listens (--controller-listen)
    contact = controller_host(settings.controller_listen)
    return f"http://{host_port(contact, settings.faucet_prom_port)}/"


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
