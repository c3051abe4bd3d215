"""``dovesnap init-config``: make the FAUCET config dir ready, as ``dovesnap serve`` does at start.

FAUCET's untouched example files (which its package install copies into ``/etc/faucet``) are
kept beside as ``NAME.example``; dovesnap's starter ``faucet.yaml`` (ACLs ``allowall`` and
``denyall``, no DPs) and ``gauge.yaml`` are written where there are none. An operator's files
are left as they are. The install scripts run it right after pip.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from dovesnap import config


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "init-config", help="set FAUCET's example config aside and write dovesnap's starter "
        "faucet.yaml and gauge.yaml where there are none (as serve does at start)")
    config.add_flags(parser, config.INIT_CONFIG_FLAGS)


def run(args: argparse.Namespace) -> int:
    from dovesnap.adapters.faucet_config import FaucetConfigStore
    from dovesnap.errors import DovesnapError
    from dovesnap.runtime.faucet import prepare_config

    path = args.faucet_config_dir / "faucet.yaml"
    had = {name: (args.faucet_config_dir / name).exists() for name in ("faucet.yaml", "gauge.yaml")}
    # Nothing to validate: the starter has no DPs, and an existing file is not rewritten.
    store = FaucetConfigStore(path, lambda _path: None, lambda: None)
    try:
        moved = asyncio.run(prepare_config(store, args.gauge_prom_port))
    except DovesnapError as err:
        print(err.message)
        return 1
    for source, kept in moved:
        print(f"{source}: FAUCET's example, kept as {kept or 'the identical copy beside it'}")
    for name, existed in had.items():
        target = args.faucet_config_dir / name
        if not existed or any(source == target for source, _ in moved):
            print(f"{target}: dovesnap's starter written")
        else:
            print(f"{target}: kept (the operator's)")
    return 0
