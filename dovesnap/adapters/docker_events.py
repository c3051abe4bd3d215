"""Docker's event stream: tells the driver at once which container just joined a network.

Docker announces ``network connect`` (with the container id) right after our Join returns,
hundreds of milliseconds before the container shows up with its endpoint in container lists.
The stream runs in a thread; events are handed to the event loop thread-safely.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dovesnap.adapters.docker_api import API_VERSION

log = logging.getLogger(__name__)

OnConnect = Callable[[str, str], None]


class DockerEventWatcher:
    def __init__(self, base_url: str, loop: asyncio.AbstractEventLoop, on_connect: OnConnect) -> None:
        self._base_url = base_url
        self._loop = loop
        self._on_connect = on_connect
        self._stream: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dovesnap-docker-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import docker

        backoff = 0.5
        while not self._stopping.is_set():
            try:
                client = docker.APIClient(base_url=self._base_url, timeout=None, version=API_VERSION)
                self._stream = client.events(
                    decode=True, filters={"type": "network", "event": "connect"}
                )
                backoff = 0.5
                for event in self._stream:
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    network_id = (event.get("Actor") or {}).get("ID", "")
                    container_id = attrs.get("container", "")
                    if network_id and container_id:
                        self._loop.call_soon_threadsafe(self._on_connect, network_id, container_id)
            except Exception as err:  # Docker not up yet, restarting, or we are stopping
                if self._stopping.is_set():
                    return
                log.debug("docker event stream: %s; retrying in %.1fs", err, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            time.sleep(0)

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a dead stream is fine
                log.debug("closing docker event stream failed", exc_info=True)
