"""The FAUCET config file: read, validate with FAUCET's own parser, write atomically, reload.

Edits are functions from the current config (plain data) to the new one, serialised by one lock.
Comments and key order in the operator's file survive (ruamel.yaml round trip).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML

from dovesnap.blocking import run_blocking
from dovesnap.errors import FaucetConfigError

log = logging.getLogger(__name__)

Edit = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class Validator(Protocol):
    def __call__(self, path: str) -> None:
        """Raise FaucetConfigError if the file at ``path`` is not a valid FAUCET config."""


class Reloader(Protocol):
    def __call__(self) -> None:
        """Tell FAUCET (and Gauge) to reload their config now."""


def _has_dps(config: Mapping[str, Any]) -> bool:
    dps = config.get("dps") if config else None
    return isinstance(dps, Mapping) and bool(dps)


class FaucetConfigStore:
    """One FAUCET config file and the only way dovesnap changes it."""

    def __init__(self, path: Path, validator: Validator, reloader: Reloader) -> None:
        self.path = path
        self._validator = validator
        self._reloader = reloader
        self._lock = asyncio.Lock()
        # ruamel's YAML object keeps parser state: one thread at a time (reads run in workers).
        self._yaml_lock = threading.Lock()
        self._yaml = YAML(typ="rt")
        self._yaml.default_flow_style = False
        self._yaml.width = 4096
        self.reloads = 0
        self.last_reload_seconds = 0.0

    def read(self) -> Mapping[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        with self._yaml_lock:
            loaded = self._yaml.load(text)
        if loaded is None:
            return {}
        if not isinstance(loaded, Mapping):
            raise FaucetConfigError(
                f"{self.path} does not hold a YAML mapping", "fix or move the file aside"
            )
        return loaded

    def render(self, config: Mapping[str, Any]) -> str:
        stream = io.StringIO()
        with self._yaml_lock:
            self._yaml.dump(config, stream)
        return stream.getvalue()

    def _temp_copy(self, prefix: str, text: str, sync: bool) -> str:
        """A new file beside the config (so it can replace it) holding ``text``; its path."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".yaml", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    def _write_validated(self, config: Mapping[str, Any]) -> None:
        tmp = self._temp_copy(".dovesnap-", self.render(config), sync=True)
        try:
            if _has_dps(config):
                # An empty DP list is a normal state for dovesnap (no networks yet), but FAUCET's
                # parser refuses it; FAUCET keeps running with no DPs in that case.
                self._validator(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def validate(self, config: Mapping[str, Any]) -> None:
        """Check a candidate without writing it (for refusing a bad network create)."""
        if not _has_dps(config):
            return
        tmp = self._temp_copy(".dovesnap-check-", self.render(config), sync=False)
        try:
            self._validator(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    async def check(self, edit: Edit) -> None:
        """Raise FaucetConfigError if ``edit`` applied to the current file would be refused."""
        async with self._lock:
            current = await run_blocking(self.read)
            await run_blocking(self.validate, edit(current))

    async def update(self, edit: Edit) -> bool:
        """Apply ``edit``; validate, write and reload. Returns False when nothing changed."""
        async with self._lock:
            current = await run_blocking(self.read)
            new = edit(current)
            if self.render(new) == self.render(current) and self.path.exists():
                return False
            await run_blocking(self._write_validated, new)
            started = time.monotonic()
            self._reloader()
            self.reloads += 1
            self.last_reload_seconds = time.monotonic() - started
            return True

    async def ensure_exists(self, initial: Mapping[str, Any]) -> bool:
        """Write ``initial`` only when there is no config file yet."""
        async with self._lock:
            if self.path.exists():
                return False
            await run_blocking(self._write_validated, initial)
            return True
