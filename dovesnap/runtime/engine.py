"""The short engine id (``<engine>`` in daemon bridge names): from Docker, else from the host.

Docker's engine id is stable for the life of its data directory, so names stay the same across
restarts. Docker may start after dovesnap: it is asked for a few seconds, and then the host's
machine id (or OVS's system id) stands in, with a warning, because names derived from it
differ from those a later start with Docker answering would use. With neither, the id is
empty and only the features that name bridges after it refuse to start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from dovesnap.adapters.docker_api import DockerBackend
from dovesnap.blocking import run_blocking
from dovesnap.plan.daemon_bridges import short_engine_id, short_host_id

log = logging.getLogger(__name__)

HOST_ID_FILES = (
    Path("/etc/machine-id"),
    Path("/var/lib/dbus/machine-id"),
    Path("/etc/openvswitch/system-id.conf"),
)


def host_short_id(files: Sequence[Path] = HOST_ID_FILES) -> str | None:
    for path in files:
        try:
            found = short_host_id(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if found:
            return found
    return None


async def determine_engine_id(
    docker: DockerBackend, wait: float = 5.0, files: Sequence[Path] = HOST_ID_FILES
) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.1
    while True:
        try:
            found = short_engine_id(await run_blocking(docker.engine_id))
            if found:
                return found
            problem = "Docker reported an engine id without six hex digits"
        except Exception as err:  # Docker may not be up yet
            problem = f"Docker does not answer: {err}"
        if loop.time() >= deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    fallback = host_short_id(files)
    if fallback is None:
        log.error("no engine id: %s, and no machine id was found", problem)
        return ""
    log.warning("%s: using %s from the host's machine id as the engine id; bridge names will "
                "change once Docker answers at a later start", problem, fallback)
    return fallback
