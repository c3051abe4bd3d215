"""The FAUCET config file: the only way dovesnap changes it.

Edits are pure functions from the current config (data) to the new one. Edits that arrive
together (parallel joins, a restart's reconciliation) are applied in arrival order and written
once: one validation by FAUCET's parser, one atomic write, one FAUCET reload
(``batching.Coalescer``). When FAUCET refuses the combined result, the edits are tried one by
one, each caller whose own edit is refused gets that refusal and the rest are still written.

The file stays the operator's (``faucet_file``, ``faucet_yaml``): comments, quotes and
indentation kept, symlinks written through, mode and owner kept, an edit the operator makes
while dovesnap writes is noticed and dovesnap's change re-applied on top of it, and the last
operator-authored version is kept in ``faucet.yaml.dovesnap-bak``.

Cost follows the change: the parsed config stays in memory (the file is re-parsed only when
someone else changed it), edits copy on write, and a change to some DPs is validated with those
DPs alone when FAUCET's parser allows it (``plan.faucet_diff``). Reading, rendering and
validating run in worker threads; only the (cheap) edits run on the event loop. A batch that
changes nothing but ports' descriptions (a container started in a crowd gets its name once
Docker tells it) is held back for ``description_delay`` seconds and goes out with the next
change, or alone when none comes: FAUCET reloads for what changes forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from dovesnap.adapters.batching import Coalescer
from dovesnap.adapters.faucet_file import ConfigFile, Fingerprint, Snapshot, Staged
from dovesnap.adapters.faucet_yaml import YamlCodec, plain
from dovesnap.blocking import run_blocking
from dovesnap.config import FAUCET_BATCH_WINDOW, FAUCET_DESCRIPTION_DELAY
from dovesnap.errors import FaucetConfigError, FaucetFileError
from dovesnap.plan.faucet_diff import CrossDpMemo, diff, only_port_descriptions, partial_candidate

log = logging.getLogger(__name__)

Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]
Outcome = bool | BaseException
ATTEMPTS = 5  # writes given up when the file changed under every one of them
HOLD_LIMIT = 5  # description delays a held-back rename waits at most


class Validator(Protocol):
    def __call__(self, path: str) -> None:
        """Raise FaucetConfigError if the file at ``path`` is not a valid FAUCET config."""


class Reloader(Protocol):
    def __call__(self) -> None:
        """Tell FAUCET (and Gauge) to reload their config now; may block until FAUCET is done
        (the store calls it in a worker thread, and writes nothing else meanwhile)."""


def _has_dps(config: Mapping[str, Any]) -> bool:
    dps = config.get("dps") if config else None
    return isinstance(dps, Mapping) and bool(dps)


@dataclass(frozen=True)
class Loaded:
    """The file as last read or written: text, parsed config, and what is known about it."""

    fingerprint: Fingerprint | None
    text: str | None
    config: Mapping[str, Any]
    ours: bool  # dovesnap wrote exactly this content
    valid: bool  # FAUCET's parser accepted exactly this config


class _Changed(Exception):
    """The file changed between dovesnap's read and its rename."""


def _apply(config: Mapping[str, Any], edits: Sequence[Edit]
           ) -> tuple[list[Outcome], Mapping[str, Any]]:
    """Each edit on the previous one's result; per edit: did it change anything, or its error."""
    outcomes: list[Outcome] = []
    for edit in edits:
        try:
            new = edit(config)
        except Exception as err:  # this caller's own error; the others go on
            outcomes.append(err)
            continue
        outcomes.append(bool(diff(config, new)))
        config = new
    return outcomes, config


class FaucetConfigStore:
    """One FAUCET config file. ``marker`` (optional) keeps the digest of dovesnap's last write
    across restarts, so a restarted dovesnap does not take its own file for the operator's."""

    def __init__(self, path: Path, validator: Validator, reloader: Reloader,
                 window: float = FAUCET_BATCH_WINDOW, marker: Path | None = None,
                 description_delay: float = FAUCET_DESCRIPTION_DELAY) -> None:
        self.path = path
        self.file = ConfigFile(path)
        self._codec = YamlCodec()
        self._validator = validator
        self._reloader = reloader
        self._marker = marker
        self._written: str | None = None
        # sha256 of the files this store wrote, newest last: the config watch tells its own
        # writes from someone else's by them (recorded with the write, so none is missed).
        self.written_digests: deque[str] = deque(maxlen=64)
        self._cache: Loaded | None = None
        self._cache_lock = threading.Lock()  # workers (writes, status page reads) share the cache
        self._write_lock = asyncio.Lock()
        self._memo = CrossDpMemo()
        self.queue: Coalescer[Edit, bool] = Coalescer(self._flush, window)
        self.description_delay = description_delay
        self._held: list[Edit] = []  # description-only edits, written before the next batch
        self._held_due = False  # their delay is over: write them even if that is all
        self._held_timer: asyncio.Task[None] | None = None
        self._held_since = self._held_until = 0.0  # event-loop times
        self.held_batches = 0
        self.reloads = 0
        self.last_reload_seconds = 0.0
        self.writes = 0
        self.last_write_seconds = 0.0  # from a batch's start to FAUCET being told to reload
        self.concurrent_edits = 0  # writes redone because someone else changed the file
        self.partial_checks = 0
        self.full_checks = 0

    @property
    def changes(self) -> int:
        """Edits asked for through ``update`` (several share a write when they arrive together)."""
        return self.queue.requests

    # -- reading ---------------------------------------------------------------------------------

    def _written_digest(self) -> str | None:
        if self._written is None and self._marker is not None:
            with contextlib.suppress(OSError):
                self._written = self._marker.read_text(encoding="ascii").strip() or None
        return self._written

    def _remember_written(self, digest: str) -> None:
        self._written = digest
        if self._marker is not None:
            try:
                self._marker.parent.mkdir(parents=True, exist_ok=True)
                self._marker.write_text(digest + "\n", encoding="ascii")
            except OSError as err:  # only costs an extra backup after a restart
                log.warning("cannot record dovesnap's last FAUCET config write: %s", err)

    def _parse(self, snap: Snapshot) -> Loaded:
        fp = snap.fingerprint
        ours = fp is not None and fp.digest == self._written_digest()
        if snap.text is None:
            return Loaded(None, None, {}, ours=False, valid=False)
        cached = self._cache
        if cached is not None and cached.fingerprint is not None and fp is not None \
                and cached.fingerprint.digest == fp.digest:
            return Loaded(fp, cached.text, cached.config, cached.ours, cached.valid)
        config = self._codec.load(snap.text, self.path)
        return Loaded(fp, snap.text, config, ours=ours, valid=ours)

    def load(self) -> Loaded:
        """The file as it is now; parsed again only when its content changed. Thread-safe."""
        with self._cache_lock:
            loaded = self._parse(self.file.read())
            self._cache = loaded
            return loaded

    def read(self) -> Mapping[str, Any]:
        """The current config. Shared: treat it as read-only (edits return new configs)."""
        return self.load().config

    def render(self, config: Mapping[str, Any]) -> str:
        return self._codec.dump(config)

    # -- validating ------------------------------------------------------------------------------

    def _validate(self, old: Loaded, new: Mapping[str, Any], staged: Staged | None = None) -> None:
        """Raise FaucetConfigError if FAUCET would refuse ``new`` (``old`` was the file's)."""
        if not _has_dps(new):
            # An empty DP list is a normal state for dovesnap (no networks yet), but FAUCET's
            # parser refuses it; FAUCET keeps running with no DPs in that case.
            return
        part = partial_candidate(old.config, new, self._memo) if old.valid else None
        if part is not None:
            if not part:
                return  # only DPs removed, and none of them linked to another
            scratch = self.file.stage(yaml.dump(plain(part), Dumper=yaml.CSafeDumper,
                                                sort_keys=False), durable=False)
            try:
                self._validator(str(scratch.path))
            finally:
                self.file.discard(scratch)
            self.partial_checks += 1
            return
        own = staged is None
        staged = staged or self.file.stage(self._codec.dump(new), durable=False)
        try:
            self._validator(str(staged.path))
        finally:
            if own:
                self.file.discard(staged)
        self.full_checks += 1

    def validate(self, config: Mapping[str, Any]) -> None:
        """Check a whole candidate without writing it."""
        self._validate(Loaded(None, None, {}, ours=False, valid=False), config)

    async def check(self, edit: Edit) -> None:
        """Raise FaucetConfigError if ``edit`` applied to the current file would be refused."""
        async with self._write_lock:
            base = await run_blocking(self.load)
            await run_blocking(self._validate, base, edit(base.config))

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, base: Loaded, new: Mapping[str, Any], validated: bool) -> None:
        """Render, validate (unless done already), and replace the file if nobody changed it
        since ``base`` was read. Runs in a worker thread."""
        text = self._codec.dump(new)
        staged = self.file.stage(text)
        dps = new.get("dps")
        try:
            if not validated:
                self._validate(base, new, staged)
            self._memo.keep_only([new.get("acls"),
                                  *(dps.values() if isinstance(dps, Mapping) else ())])
            if base.text is not None and not base.ours:
                self.file.back_up(base.text)  # first: the check below stays next to the rename
            with self._cache_lock:
                if not self.file.unchanged(base.fingerprint):
                    raise _Changed
                self._written = staged.digest
                fingerprint = self.file.replace(staged)
                self.written_digests.append(fingerprint.digest)
                self._cache = Loaded(fingerprint, text, new, ours=True, valid=True)
        except BaseException:
            self.file.discard(staged)
            raise
        self._remember_written(fingerprint.digest)

    async def _one_by_one(self, base: Loaded, edits: Sequence[Edit], outcomes: list[Outcome]
                          ) -> Mapping[str, Any]:
        """After FAUCET refused a batch: each changing edit validated on its own, in order; the
        refused ones get their refusal, the config of all the accepted ones is returned."""
        current = base
        for i, edit in enumerate(edits):
            if outcomes[i] is not True:
                continue
            try:
                candidate = edit(current.config)
                await run_blocking(self._validate, current, candidate)
            except Exception as err:
                outcomes[i] = err
                continue
            current = Loaded(None, None, candidate, ours=False, valid=True)
        return current.config

    async def _flush(self, batch: Sequence[Edit]) -> list[Outcome]:
        async with self._write_lock:
            held, self._held = self._held, []
            may_hold, self._held_due = not self._held_due, False
            outcomes = await self._flush_locked([*held, *batch], may_hold)
            for outcome in outcomes[:len(held)]:
                if isinstance(outcome, BaseException):
                    log.warning("a held-back description change was not written: %s", outcome)
            return outcomes[len(held):]

    def _hold(self, edits: Sequence[Edit]) -> None:
        """Keep ``edits`` for later: written ``description_delay`` after the last such batch
        (a burst of starts renames its ports in one write), at most ``HOLD_LIMIT`` delays
        after the first, or sooner with any change that alters forwarding."""
        self._held = list(edits)
        self.held_batches += 1
        now = asyncio.get_running_loop().time()
        if self._held_timer is None or self._held_timer.done():
            self._held_since = now
            self._held_timer = asyncio.get_running_loop().create_task(self._release_held())
        self._held_until = min(now + self.description_delay,
                               self._held_since + HOLD_LIMIT * self.description_delay)

    async def _release_held(self) -> None:
        loop = asyncio.get_running_loop()
        while (wait := self._held_until - loop.time()) > 0:
            await asyncio.sleep(wait)
        self._held_due = True
        await self.queue.submit(lambda config: config)

    async def _flush_locked(self, edits: Sequence[Edit], may_hold: bool) -> list[Outcome]:
        started = time.monotonic()
        for _ in range(ATTEMPTS):
            base = await run_blocking(self.load)
            outcomes, new = _apply(base.config, edits)
            if base.fingerprint is not None and True not in outcomes:
                return outcomes  # nothing to write
            if may_hold and base.valid and only_port_descriptions(base.config, new):
                self._hold(edits)
                return outcomes
            validated = False
            try:
                try:
                    await run_blocking(self._write, base, new, False)
                except FaucetConfigError as err:
                    if isinstance(err, FaucetFileError) or outcomes.count(True) < 2:
                        raise
                    new = await self._one_by_one(base, edits, outcomes)
                    validated = True
                    if True not in outcomes:
                        return outcomes
                    await run_blocking(self._write, base, new, validated)
            except _Changed:
                self.concurrent_edits += 1
                log.warning("%s changed while dovesnap was writing it: applying dovesnap's "
                            "change again on top of the new content", self.path)
                continue
            except FaucetConfigError as err:
                if isinstance(err, FaucetFileError):
                    raise
                return [err if o is True else o for o in outcomes]
            self.writes += 1
            self.last_write_seconds = time.monotonic() - started
            await run_blocking(self._reload)  # may wait for FAUCET to finish reloading
            return outcomes
        raise FaucetFileError(
            f"{self.path} changed under each of dovesnap's last {ATTEMPTS} writes; "
            "the change was not written",
            "stop whatever rewrites the file in a loop",
        )

    def _reload(self) -> None:
        started = time.monotonic()
        self._reloader()
        self.reloads += 1
        self.last_reload_seconds = time.monotonic() - started

    async def update(self, edit: Edit) -> bool:
        """Apply ``edit`` (with any others arriving together); validate, write and reload.
        False when nothing changed; raises this edit's own error (e.g. FAUCET's refusal)."""
        return await self.queue.submit(edit)

    async def ensure_exists(self, initial: Mapping[str, Any]) -> bool:
        """Write ``initial`` only when there is no config file yet."""
        async with self._write_lock:
            base = await run_blocking(self.load)
            if base.fingerprint is not None:
                return False
            await run_blocking(self._write, base, initial, False)
            return True

    async def close(self) -> None:
        """Stop; held-back descriptions are dropped (a restarted dovesnap writes them again)."""
        if self._held_timer is not None:
            self._held_timer.cancel()
            await asyncio.gather(self._held_timer, return_exceptions=True)
        await self.queue.close()
