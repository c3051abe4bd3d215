"""Command line: ``dovesnap serve`` and ``dovesnap status``.

Daemon flags use dashes; the Go original's underscore spellings are accepted too, and each flag
also reads an environment variable (``MIRROR_BRIDGE_OUT`` ...) so service files stay simple.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path

from dovesnap import __version__
from dovesnap.status.client import optional_faucet_config
from dovesnap.status.table import format_status
from dovesnap.tools import cleanup, doctor, graph_cli


def _flag(
    parser: argparse.ArgumentParser, name: str, env: str, default: str, help_text: str
) -> None:
    parser.add_argument(
        f"--{name}", f"--{name.replace('-', '_')}", dest=name.replace("-", "_"),
        default=os.environ.get(env, default), help=f"{help_text} (env {env})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dovesnap", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dovesnap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the Docker network plugin (foreground, as root)")
    _flag(serve, "faucet-config-dir", "FAUCET_CONFIG_DIR", "/etc/faucet", "FAUCET config dir")
    _flag(serve, "state-dir", "DOVESNAP_STATE_DIR", "/var/lib/dovesnap", "state dir (own OVS db)")
    _flag(serve, "log-dir", "DOVESNAP_LOG_DIR", "/var/log/dovesnap", "FAUCET/Gauge/OVS logs")
    _flag(serve, "status-port", "STATUS_PORT", "9401", "status server port")
    _flag(serve, "status-auth-ips", "STATUS_AUTH_IPS", "127.0.0.0/8,::1/128",
          "networks allowed to read status")
    _flag(serve, "default-ofcontrollers", "DEFAULT_OFCONTROLLERS", "",
          "controllers for networks that set none")
    _flag(serve, "mirror-bridge-out", "MIRROR_BRIDGE_OUT", "", "mirror output interface")
    _flag(serve, "mirror-bridge-in", "MIRROR_BRIDGE_IN", "", "mirror river input interface")
    _flag(serve, "stacking-interfaces", "STACKING_INTERFACES", "", "DP:PORT:IF,... stack links")
    _flag(serve, "stack-priority1", "STACK_PRIORITY1", "", "DP to make stack root")
    _flag(serve, "stack-mirror-interface", "STACK_MIRROR_INTERFACE", "", "DP:PORT mirror tunnel")
    serve.add_argument(
        "--external-faucet", action="store_true",
        default=os.environ.get("EXTERNAL_FAUCET", "") in ("1", "true", "yes"),
        help="do not run the embedded FAUCET and Gauge (env EXTERNAL_FAUCET)",
    )
    _flag(serve, "plugin-socket", "DOVESNAP_PLUGIN_SOCKET", "/run/docker/plugins/dovesnap.sock",
          "plugin socket; its file name is the driver name")
    _flag(serve, "ovs-db-sock", "OVS_DB_SOCK", "/var/run/openvswitch/db.sock",
          "OVSDB socket (dovesnap starts its own OVS there when none answers)")
    _flag(serve, "faucet-of-port", "FAUCET_OF_PORT", "6653", "embedded FAUCET OpenFlow port")
    _flag(serve, "gauge-of-port", "GAUGE_OF_PORT", "6654", "embedded Gauge OpenFlow port")
    _flag(serve, "faucet-prom-port", "FAUCET_PROM_PORT", "9302", "embedded FAUCET metrics port")
    _flag(serve, "gauge-prom-port", "GAUGE_PROM_PORT", "9303", "embedded Gauge metrics port")
    serve.add_argument("--debug", action="store_true")
    serve.add_argument("--trace", action="store_true")

    stat = sub.add_parser("status", help="show dovesnap networks and containers")
    stat.add_argument("--status-addr", default="127.0.0.1:9401")
    stat.add_argument("--json", action="store_true", help="print the raw status JSON")
    stat.add_argument("--faucet-config", default="/etc/faucet/faucet.yaml",
                      help="FAUCET config, for the ACL and mirror in force (else from labels)")
    graph_cli.add_parser(sub)
    doctor.add_parser(sub)
    cleanup.add_parser(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from dovesnap.daemon import ServeSettings, serve
    from dovesnap.errors import DovesnapError
    from dovesnap.model.fabric_flags import parse_fabric_flags

    level = logging.DEBUG if (args.debug or args.trace) else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.trace:
        logging.getLogger("ovsdbapp").setLevel(logging.WARNING)
    if os.geteuid() != 0:
        logging.error("dovesnap serve must run as root")
        return 1
    settings = ServeSettings(
        faucet_config_dir=Path(args.faucet_config_dir),
        state_dir=Path(args.state_dir),
        log_dir=Path(args.log_dir),
        plugin_socket=Path(args.plugin_socket),
        ovs_db_sock=Path(args.ovs_db_sock),
        status_port=int(args.status_port),
        status_auth_ips=args.status_auth_ips,
        default_ofcontrollers=args.default_ofcontrollers,
        embedded_faucet=not args.external_faucet,
        faucet_of_port=int(args.faucet_of_port),
        gauge_of_port=int(args.gauge_of_port),
        faucet_prom_port=int(args.faucet_prom_port),
        gauge_prom_port=int(args.gauge_prom_port),
        mirror_bridge_out=args.mirror_bridge_out,
        mirror_bridge_in=args.mirror_bridge_in,
        stacking_interfaces=args.stacking_interfaces,
        stack_priority1=args.stack_priority1,
        stack_mirror_interface=args.stack_mirror_interface,
    )
    try:  # refuse inconsistent mirroring/stacking flags before anything starts
        parse_fabric_flags(args.mirror_bridge_out, args.mirror_bridge_in,
                           args.stacking_interfaces, args.stack_priority1,
                           args.stack_mirror_interface, args.default_ofcontrollers)
    except DovesnapError as err:
        logging.error("%s", err.message)
        return 2
    return asyncio.run(serve(settings))


def _status(args: argparse.Namespace) -> int:
    url = f"http://{args.status_addr}/networks"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.load(response)
    except OSError as err:
        print(f"dovesnap: cannot read {url}: {err}; is dovesnap serve running?", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    faucet, _ = optional_faucet_config(Path(args.faucet_config))
    sys.stdout.write(format_status(data, faucet))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # The ovs library imports eventlet, which warns about itself on every command.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "status":
        return _status(args)
    if args.command == "graph":
        return graph_cli.run(args)
    if args.command == "doctor":
        return doctor.run(args)
    if args.command == "cleanup":
        return cleanup.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
