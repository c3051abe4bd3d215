"""Docker's event stream: tells the driver at once which container just joined a network.

Docker announces ``network connect`` (with the container id) right after our Join returns,
hundreds of milliseconds before the container shows up with its endpoint in container lists.
The stream runs in a thread; events are handed to the event loop thread-safely. It speaks the
Engine API version negotiated for this Docker URL (shared with the backend's calls), and a stream
cut by a Docker restart is reopened after a versioned call, which renegotiates if Docker now
refuses that version.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from dovesnap.adapters.docker_api import EngineApi

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
        api = EngineApi(self._base_url)
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                # A versioned call first: the SDK's event stream ends quietly, raising nothing,
                # when Docker refuses it (as for an API version it does not serve), so on its own
                # it would be reopened in a busy loop. The call raises instead, and renegotiates.
                api.version()
                backoff = 0.5
                self._stream = api.client(api.negotiated()).events(
                    decode=True, filters={"type": "network", "event": "connect"}
                )
                for event in self._stream:
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    network_id = (event.get("Actor") or {}).get("ID", "")
                    container_id = attrs.get("container", "")
                    if network_id and container_id:
                        self._loop.call_soon_threadsafe(self._on_connect, network_id, container_id)
                why = "ended (Docker stopped, or refused the stream)"
            except Exception as err:  # Docker not up yet, restarting, or we are stopping
                why = str(err)
            if self._stopping.is_set():
                return
            log.debug("docker event stream: %s; retrying in %.1fs", why, backoff)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a dead stream is fine
                log.debug("closing docker event stream failed", exc_info=True)
