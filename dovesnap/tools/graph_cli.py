"""``dovesnap graph`` (also ``graph_dovesnap``): draw every dovesnap network to a PNG or SVG file.

Reads the status JSON of one or more dovesnap hosts and the FAUCET config(s), builds the
topology model and renders it with Graphviz.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dovesnap.config import FAUCET_CONFIG, add_flags
from dovesnap.errors import DovesnapError
from dovesnap.graph.model import BRIDGE, build_topology, merge_faucet_configs
from dovesnap.graph.render import FORMATS, render
from dovesnap.status.client import fetch_status, optional_faucet_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", default="dovesnap.png",
        help="file to write (default dovesnap.png); '-' writes to standard output",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default=None,
        help="png or svg (default: svg when the output ends in .svg, else png)",
    )
    add_flags(parser, ["status-addrs"])
    parser.add_argument(
        "--faucet-config", "--faucet_config", action="append", default=None,
        help=f"FAUCET config file, for ACLs, mirrors and stack links (default "
             f"{FAUCET_CONFIG}); repeat for several hosts' configs",
    )


def add_parser(sub: Any) -> None:
    """Register ``dovesnap graph`` on the main parser's subparsers."""
    graph = sub.add_parser("graph", help="draw dovesnap's networks to a PNG/SVG file")
    add_arguments(graph)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "svg" if str(args.output).lower().endswith(".svg") else "png"


def run(args: argparse.Namespace) -> int:
    addrs = [a.strip() for a in str(args.status_addrs).split(",") if a.strip()]
    statuses: list[dict[str, Any]] = []
    for addr in addrs:
        try:
            statuses.append(fetch_status(addr))
        except DovesnapError as err:
            print(err.message, file=sys.stderr)
    if not statuses:
        print("dovesnap: no status could be read; nothing to draw", file=sys.stderr)
        return 1
    paths = [Path(p) for p in args.faucet_config] if args.faucet_config else [FAUCET_CONFIG]
    configs = []
    for path in paths:
        config, warning = optional_faucet_config(path)
        if warning:
            print(f"{warning} (ACLs and mirrors are shown from container labels)",
                  file=sys.stderr)
        configs.append(config)
    faucet = merge_faucet_configs(configs) if any(c is not None for c in configs) else None
    topology = build_topology(statuses, faucet)
    fmt = _format(args)
    try:
        data = render(topology, fmt)
    except DovesnapError as err:
        print(err.message, file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.buffer.write(data)
        return 0
    try:
        Path(args.output).write_bytes(data)
    except OSError as err:
        print(f"dovesnap: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
        return 1
    nets = sum(1 for n in topology.nodes if n.kind == BRIDGE)
    print(f"wrote {args.output} ({fmt}, {nets} networks, {len(topology.nodes)} nodes)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="graph_dovesnap", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
