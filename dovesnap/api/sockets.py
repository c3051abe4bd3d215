"""The plugin's unix sockets: bound first thing at start, served once the driver is ready.

Docker finds a plugin by its socket. Binding it before dovesnap starts OVS, FAUCET and restores
its networks lets Docker connect at once: its requests wait in the listen backlog and are
answered when serving starts, instead of failing and being retried. dockerd enabling a managed
plugin at boot gives the plugin's socket about 12 seconds to appear, then disables the plugin.

A dovesnap serves its own socket (the driver name is its file name) and, inside a managed plugin
(``docker plugin``), the plugin's socket too: one driver, two names for it in Docker.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

BACKLOG = 128


def bind_socket(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (an old socket file there is replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


class PluginSockets:
    """The sockets one dovesnap serves Docker on, bound early and served late."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = tuple(paths)
        self._socks: list[socket.socket] = []

    def bind(self) -> None:
        for path in self.paths:
            self._socks.append(bind_socket(path))

    async def serve(self, runner: web.AppRunner) -> None:
        for path, sock in zip(self.paths, self._socks, strict=True):
            await web.SockSite(runner, sock).start()
            log.info("plugin listening on %s", path)

    def close(self) -> None:
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()
        self._socks.clear()
        for path in self.paths:
            path.unlink(missing_ok=True)
