"""When faucet.yaml changes, write every network's DP again: a fixed file heals every port.

The file is watched (inotify, ``adapters/file_watch.py``); a burst of changes is one re-sync,
and dovesnap's own writes are recognised by their hash and skipped (unless the file was someone
else's just before: an operator putting back dovesnap's last version after a broken one, which
FAUCET may have loaded in between, still gets FAUCET reloaded). While FAUCET refuses the
file as a whole (``DpSync.config_refused``), it is also tried again every ``retry`` seconds.
When the operator's edit needs nothing written by dovesnap (an ACL's rules changed), FAUCET is
told to reload, so it runs the operator's file too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from dovesnap.blocking import run_blocking
from dovesnap.driver.core import Driver
from dovesnap.driver.debounce import Debounced
from dovesnap.errors import DovesnapError, FaucetConfigError

log = logging.getLogger(__name__)


class Watch(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


WatchFactory = Callable[[Path, Callable[[], None]], Watch]


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class ConfigWatch:
    def __init__(
        self,
        driver: Driver,
        path: Path,
        watch_factory: WatchFactory | None,
        reload: Callable[[], None],
        delay: float = 0.2,
        retry: float = 30.0,
    ) -> None:
        self.driver = driver
        self.path = path
        self._watch_factory = watch_factory
        self._reload = reload
        self._delay = delay
        self._retry = retry
        self._watch: Watch | None = None
        self._debounced: Debounced | None = None
        self._retrier: asyncio.Task[None] | None = None
        self._seen: str | None = None  # the file's hash at the last change seen
        self.resyncs = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._debounced = Debounced(self.resync, self._delay, loop)
        if self._watch_factory is not None:
            try:
                self._watch = self._watch_factory(self.path, self._debounced.trigger)
                self._watch.start()
            except (OSError, DovesnapError) as err:
                log.warning("cannot watch %s (%s): a fixed file is picked up every %.0fs",
                            self.path, err, self._retry)
                self._watch = None
        self._retrier = loop.create_task(self._retry_while_refused())

    async def resync(self) -> None:
        """Write every network's DP again if the file is not dovesnap's own last write."""
        drv = self.driver
        digest = await run_blocking(_digest, self.path)
        before, self._seen = self._seen, digest
        refused = drv.dp_sync.config_refused is not None or any(
            net.error for net in drv.networks.values())
        ours = drv.dp_sync.written
        if digest in ours and (before is None or before in ours) and not refused:
            return  # one of dovesnap's writes after another: nothing new for anyone
        self.resyncs += 1
        log.info("%s changed: writing every network's DP again", self.path)
        for net in list(drv.networks.values()):
            async with net.lock:
                if drv.networks.get(net.network_id) is net:
                    await drv.sync_dp(net)
        if await run_blocking(_digest, self.path) != digest:
            return  # dovesnap wrote (and so validated and reloaded) it
        # Nothing of dovesnap's changed, so nothing was checked or reloaded: the operator's
        # edit (e.g. an ACL's rules) reaches FAUCET only if it is valid and FAUCET is told.
        try:
            await drv.faucet.check(lambda config: config)
        except DovesnapError as err:
            reason = err.refusal if isinstance(err, FaucetConfigError) else err.what
            for net in drv.networks.values():
                drv.dp_sync.refused_as_a_whole(net, reason)
            return
        if drv.dp_sync.config_refused is None and not any(
                net.error for net in drv.networks.values()):
            drv.dp_sync.written.append(digest)
            self._reload()

    async def _retry_while_refused(self) -> None:
        while True:
            await asyncio.sleep(self._retry)
            if self.driver.dp_sync.config_refused is not None and self._debounced is not None:
                self._debounced.trigger()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.close()
        if self._debounced is not None:
            self._debounced.cancel()
        if self._retrier is not None:
            self._retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrier
