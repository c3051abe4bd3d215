"""Command line: ``dovesnap serve``, ``status``, ``graph``, ``acl``, ``mirror``, ``doctor``,
``cleanup``, ``config``, ``init-config``.

Daemon flags use dashes; the Go original's underscore spellings are accepted too, and each flag
also reads an environment variable (``MIRROR_BRIDGE_OUT`` ...) so service files stay simple
(``config.py`` holds them all, with their defaults).
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
from dataclasses import replace
from pathlib import Path

from dovesnap import __version__, config
from dovesnap.config import ServeSettings, default_controllers
from dovesnap.status.client import optional_faucet_config
from dovesnap.status.table import format_status
from dovesnap.tools import cleanup, doctor, graph_cli, init_config, policy_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dovesnap", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dovesnap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the Docker network plugin (foreground, as root)")
    config.add_flags(serve, config.SERVE_FLAGS)

    stat = sub.add_parser("status", help="show dovesnap networks and containers")
    stat.add_argument("--status-addr", default=config.STATUS_ADDR)
    stat.add_argument("--json", action="store_true", help="print the raw status JSON")
    stat.add_argument("--faucet-config", default=str(config.FAUCET_CONFIG),
                      help="FAUCET config, for the ACL and mirror in force (else from labels)")
    graph_cli.add_parser(sub)
    policy_cli.add_parsers(sub)
    doctor.add_parser(sub)
    cleanup.add_parser(sub)
    init_config.add_parser(sub)
    shell = sub.add_parser("config", help="print every setting (defaults, environment and flags "
                           "applied); --shell for the scripts")
    config.add_config_arguments(shell)
    return parser


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    """The parsed ``dovesnap serve`` flags as settings: every flag parsed and checked once.

    Raises FlagError for inconsistent mirroring/stacking flags, OptionError for a bad
    ``--default-ofcontrollers``.
    """
    from dovesnap.model.fabric_flags import parse_fabric_flags
    from dovesnap.model.options import parse_controllers, split_items

    controllers = args.default_ofcontrollers
    rpc = config.faucetconfrpc_settings(args)
    settings = ServeSettings(
        faucet_config_dir=args.faucet_config_dir,
        state_dir=args.state_dir,
        log_dir=args.log_dir,
        plugin_socket=args.plugin_socket,
        ovs_db_sock=args.ovs_db_sock,
        status_port=args.status_port,
        status_auth_ips=args.status_auth_ips,
        status_listen=tuple(listen_address("status-listen", part)
                            for part in args.status_listen.split(",") if part.strip()),
        control_auth_ips=args.control_auth_ips,
        default_ofcontrollers=parse_controllers(controllers) if controllers else (),
        # A FAUCET whose config is edited through faucetconfrpc runs elsewhere.
        embedded_faucet=not (args.external_faucet or rpc is not None),
        faucet_of_port=args.faucet_of_port,
        gauge_of_port=args.gauge_of_port,
        faucet_prom_port=args.faucet_prom_port,
        gauge_prom_port=args.gauge_prom_port,
        controller_listen=listen_address("controller-listen", args.controller_listen),
        faucetconfrpc=rpc,
        docker_url=args.docker_url,
        managed_socket=Path(args.managed_socket) if args.managed_socket else None,
        driver_aliases=tuple(split_items(args.driver_aliases)),
        spare_ports=spare_ports(args.spare_ports),
    )
    # Stacking without --default-ofcontrollers: the stacking bridge goes to the embedded
    # FAUCET and Gauge, as every network without its own controllers does.
    embedded = default_controllers(replace(settings, default_ofcontrollers=()))
    fabric = parse_fabric_flags(args.mirror_bridge_out, args.mirror_bridge_in,
                                args.stacking_interfaces, args.stack_priority1,
                                args.stack_mirror_interface, controllers, embedded)
    return replace(settings, fabric=fabric)


def spare_ports(count: int) -> int:
    """The ``--spare-ports`` count; FlagError outside 0..MAX_SPARE."""
    from dovesnap.errors import FlagError
    from dovesnap.features.spare_ports.plan import MAX_SPARE

    if not 0 <= count <= MAX_SPARE:
        raise FlagError("spare-ports", f"{count} is not a count from 0 to {MAX_SPARE}",
                        "give a small count such as 8 (0: keep none)")
    return count


def listen_address(flag: str, text: str) -> str:
    """An address to listen on (IPv4 or IPv6, no brackets); FlagError if it is not one."""
    import ipaddress

    from dovesnap.errors import FlagError

    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise FlagError(flag, f"{text!r} is not an IP address",
                        "give one address, e.g. 127.0.0.1 or 0.0.0.0 (every address)") from None


def _serve(args: argparse.Namespace) -> int:
    from dovesnap.daemon import serve
    from dovesnap.errors import FlagError, OptionError

    level = logging.DEBUG if (args.debug or args.trace) else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.trace:
        logging.getLogger("ovsdbapp").setLevel(logging.WARNING)
    if os.geteuid() != 0:
        logging.error("dovesnap serve must run as root")
        return 1
    try:  # refuse inconsistent mirroring/stacking flags before anything starts
        settings = serve_settings(args)
    except FlagError as err:
        logging.error("%s", err.message)
        return 2
    except OptionError as err:  # a bad --default-ofcontrollers: refused as when starting
        logging.error("%s", err.message)
        return 1
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
        from dovesnap.tools.probes import SystemProbes

        return doctor.run(args, SystemProbes())
    if args.command == "cleanup":
        return cleanup.run(args)
    if args.command in ("acl", "mirror"):
        return policy_cli.run(args)
    if args.command == "config":
        return config.run(args)
    if args.command == "init-config":
        return init_config.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
