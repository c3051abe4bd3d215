"""Wait until the plugin socket answers: the systemd unit's ``ExecStartPost=``.

dockerd looks for network plugins when it starts and gives up on ``--restart always``
containers whose plugin does not answer yet. The unit orders dovesnap before docker.service;
systemd holds docker back until this check returns, i.e. until the plugin really answers
``Plugin.Activate`` (a socket file alone may be stale, left by a crash).

    python -m dovesnap.tools.service_ready [--timeout SECONDS] [SOCKET]

SOCKET defaults to ``$DOVESNAP_PLUGIN_SOCKET``, else the plugin socket of ``config.py``.
Exit status 0 once it answers, 1 on timeout. ``plugin_answers`` is dovesnap's one
``Plugin.Activate`` probe: ``doctor``, ``scripts/up.sh`` (through this command) and the
integration tests ask it too.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dovesnap import config

ACTIVATE = b"POST /Plugin.Activate HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
MAX_REPLY = 65536


def activate_error(sock: Path, timeout: float = 2.0) -> str:
    """Ask ``sock`` for Plugin.Activate: "" when a libnetwork network driver answers, else why not."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(sock))
            client.sendall(ACTIVATE)
            reply = b""
            while len(reply) < MAX_REPLY and (chunk := client.recv(4096)):
                reply += chunk
        except OSError as err:
            return str(err)
    if not reply.startswith(b"HTTP/1."):
        return "the reply is not HTTP"
    if b"NetworkDriver" not in reply:
        return "the reply does not name NetworkDriver"
    return ""


def plugin_answers(sock: Path, timeout: float = 2.0) -> bool:
    """True when a libnetwork remote driver answers Plugin.Activate on ``sock``."""
    return not activate_error(sock, timeout)


def wait_for_plugin(
    sock: Path,
    timeout: float,
    interval: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll ``sock`` until the plugin answers or ``timeout`` seconds have passed."""
    deadline = clock() + timeout
    while True:
        if plugin_answers(sock):
            return True
        if clock() >= deadline:
            return False
        sleep(interval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dovesnap.tools.service_ready", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", nargs="?", type=Path, default=config.setting("plugin-socket"))
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if wait_for_plugin(args.socket, args.timeout):
        return 0
    print(f"dovesnap: the plugin did not answer on {args.socket} within {args.timeout:g}s; "
          "see `journalctl -u dovesnap`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
