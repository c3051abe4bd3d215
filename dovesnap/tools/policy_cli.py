"""``dovesnap acl`` and ``dovesnap mirror``: change a running container's port, no restart.

    dovesnap acl set CONTAINER [NETWORK] ACL[,ACL...]
    dovesnap acl clear CONTAINER [NETWORK]          # back to its labels / endpoint options
    dovesnap mirror on|off|clear CONTAINER [NETWORK]

They ask the daemon's status server (``POST /policy``; see ``status/control.py``) and print what
FAUCET's config holds for the port afterwards. NETWORK may be left out when the container is on
one dovesnap network only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dovesnap import config
from dovesnap.errors import DovesnapError
from dovesnap.model.options import parse_acl_name, split_items
from dovesnap.status.client import post_json


def add_parsers(sub: Any) -> None:
    """Register ``dovesnap acl`` and ``dovesnap mirror`` on the main parser's subparsers."""
    acl = sub.add_parser("acl", help="set or clear a running container's port ACL")
    acl.add_argument("action", choices=("set", "clear"))
    acl.add_argument("words", nargs="+", metavar="CONTAINER [NETWORK] [ACL]",
                     help="set: CONTAINER [NETWORK] ACL[,ACL]; clear: CONTAINER [NETWORK]")
    acl.add_argument("--status-addr", default=config.STATUS_ADDR)
    mirror = sub.add_parser("mirror", help="mirror a running container's port, or stop")
    mirror.add_argument("action", choices=("on", "off", "clear"))
    mirror.add_argument("words", nargs="+", metavar="CONTAINER [NETWORK]")
    mirror.add_argument("--status-addr", default=config.STATUS_ADDR)


def request_body(command: str, action: str, words: Sequence[str]) -> dict[str, Any]:
    """The ``POST /policy`` body for a command line; ValueError saying what is wrong."""
    wanted = 2 if command == "acl" and action == "set" else 1  # positional words besides NETWORK
    if not wanted <= len(words) <= wanted + 1:
        usage = ("CONTAINER [NETWORK] ACL[,ACL]" if wanted == 2 else "CONTAINER [NETWORK]")
        raise ValueError(f"dovesnap {command} {action} takes {usage}")
    body: dict[str, Any] = {"container": words[0]}
    if len(words) == wanted + 1:
        body["network"] = words[1]
    setting = "acls" if command == "acl" else "mirror"
    if action == "clear":
        body["clear"] = [setting]
    elif command == "acl":
        acls = split_items(words[-1])
        if not acls:
            raise ValueError("name at least one ACL")
        body["acls"] = [parse_acl_name("ACL", a) for a in acls]
    else:
        body["mirror"] = action == "on"
    return body


def describe(port: Mapping[str, Any]) -> str:
    """One line: what FAUCET's config holds for the port now, and who set it."""
    force = port.get("InForce") or {}
    operator = port.get("OperatorPolicy") or {}
    acls = ",".join(force.get("acls_in") or []) or "-"
    acl_by = " (set by operator)" if "acls" in operator else ""
    mirrored = "yes" if force.get("mirrored") else "no"
    mirror_by = " (set by operator)" if "mirror" in operator else ""
    closed = f"  FAIL-CLOSED: {port['FailClosed']}" if port.get("FailClosed") else ""
    return (f"{port.get('Container')} on {port.get('Network')}: port {port.get('OFPort')} "
            f"acls_in {acls}{acl_by}, mirrored {mirrored}{mirror_by}{closed}")


def run(args: argparse.Namespace) -> int:
    try:
        body = request_body(args.command, args.action, args.words)
        answer = post_json(args.status_addr, "/policy", body)
    except ValueError as err:
        print(f"dovesnap: {err}", file=sys.stderr)
        return 2
    except DovesnapError as err:
        print(err.message, file=sys.stderr)
        return 1
    ports = answer.get("ports") if isinstance(answer, dict) else None
    failed = not ports
    for port in ports or []:
        print(describe(port))
        failed = failed or bool(port.get("FailClosed"))
        if (port.get("OperatorPolicy") or {}).get("mirror") and not (
                port.get("InForce") or {}).get("mirrored"):
            print("dovesnap: the port is not mirrored: this dovesnap has no mirror port; start "
                  "it with --mirror-bridge-out IF or --stack-mirror-interface DP:PORT",
                  file=sys.stderr)
            failed = True
    return 1 if failed else 0
