"""Wait until the plugin socket answers: the systemd unit's ``ExecStartPost=``.

dockerd looks for network plugins when it starts and gives up on ``--restart always``
containers whose plugin does not answer yet. The unit orders dovesnap before docker.service;
systemd holds docker back until this check returns, i.e. until the plugin really answers
``Plugin.Activate`` (a socket file alone may be stale, left by a crash).

    python -m dovesnap.tools.service_ready [--timeout SECONDS] [SOCKET]

SOCKET defaults to ``$DOVESNAP_PLUGIN_SOCKET``, else ``/run/docker/plugins/dovesnap.sock``.
Exit status 0 once it answers, 1 on timeout.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_SOCKET = Path("/run/docker/plugins/dovesnap.sock")
ACTIVATE = b"POST /Plugin.Activate HTTP/1.0\r\nContent-Length: 0\r\n\r\n"


def plugin_answers(sock: Path, timeout: float = 2.0) -> bool:
    """True when a libnetwork remote driver answers Plugin.Activate on ``sock``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(sock))
            client.sendall(ACTIVATE)
            reply = b""
            while chunk := client.recv(4096):
                reply += chunk
        except OSError:
            return False
    return reply.startswith(b"HTTP/1.") and b"NetworkDriver" in reply


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
    parser.add_argument("socket", nargs="?", type=Path, default=Path(
        os.environ.get("DOVESNAP_PLUGIN_SOCKET") or DEFAULT_SOCKET))
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if wait_for_plugin(args.socket, args.timeout):
        return 0
    print(f"dovesnap: the plugin did not answer on {args.socket} within {args.timeout:g}s; "
          "see `journalctl -u dovesnap`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
