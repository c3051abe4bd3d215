"""FAUCET's config on another host, read and changed through faucetconfrpc.

The same store interface as the local file (``faucet_store.FaucetStore``): an edit is a function
from the current config to the new one. The current config is read from the server, the new one
is validated here with FAUCET's own parser (unless it pulls in ``include`` files that only the
server has: the server validates too), and only the keys that changed are sent, in one request
(``plan/faucet_delta.py``). The config is then read back: a change the server did not keep is
sent again (another dovesnap may have changed the same keys meanwhile), and after three tries it
is an error. FAUCET there must reload by itself (``FAUCET_CONFIG_STAT_RELOAD=1``): faucetconfrpc
only writes the file.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dovesnap.adapters.faucet_store import Edit, Validator
from dovesnap.blocking import run_blocking
from dovesnap.errors import FaucetConfigError, FaucetConfigUnavailable
from dovesnap.plan.faucet_delta import ConfigChange, plain, plan_change, unapplied

log = logging.getLogger(__name__)

INCLUDES = ("include", "include-optional")


class Transport(Protocol):
    """The faucetconfrpc calls the store makes (``FaucetConfRpcClient``; a fake in tests)."""

    def describe(self) -> str: ...
    def get_config(self) -> str: ...
    def set_config(self, config_yaml: str, merge: bool, del_keys_yaml: str = "") -> None: ...


def render(data: Any, flow: bool = False) -> str:
    """YAML that FAUCET's loader reads back as ``data`` (PyYAML quotes what YAML 1.1 would bend)."""
    return yaml.safe_dump(plain(data), default_flow_style=flow, sort_keys=False, width=4096)


def _has_dps(config: Mapping[str, Any]) -> bool:
    dps = config.get("dps")
    return isinstance(dps, Mapping) and bool(dps)


class RemoteFaucetConfig:
    """The FAUCET config behind a faucetconfrpc server."""

    def __init__(self, transport: Transport, validator: Validator, attempts: int = 3) -> None:
        self._transport = transport
        self._validator = validator
        self._attempts = attempts
        self._lock = asyncio.Lock()
        self.reloads = 0
        self.last_reload_seconds = 0.0

    def describe(self) -> str:
        return self._transport.describe()

    def read(self) -> Mapping[str, Any]:
        text = self._transport.get_config()
        try:
            loaded = YAML(typ="safe", pure=True).load(text)
        except YAMLError as err:
            raise FaucetConfigError(
                f"the FAUCET config {self.describe()} serves is not YAML: {err}",
                "fix the file on the server") from None
        if loaded is None:
            return {}
        if not isinstance(loaded, Mapping):
            raise FaucetConfigError(f"the FAUCET config {self.describe()} serves is not a "
                                    "YAML mapping", "fix the file on the server")
        return loaded

    def validate(self, config: Mapping[str, Any]) -> None:
        """FAUCET's parser on the candidate, here, before anything is sent."""
        if not _has_dps(config):
            return  # FAUCET refuses an empty DP list, but runs on with it: dovesnap's normal start
        if any(key in config for key in INCLUDES):
            log.debug("config includes files only the server has: its own check decides")
            return
        with tempfile.TemporaryDirectory(prefix="dovesnap-rpc-check-") as directory:
            path = Path(directory, "faucet.yaml")
            path.write_text(render(config), encoding="utf-8")
            self._validator(str(path))

    def _send(self, change: ConfigChange) -> None:
        if change.replace:
            self._transport.set_config(render(change.merge), merge=False)
            return
        keys = render(list(change.delete), flow=True) if change.delete else ""
        self._transport.set_config(render(change.merge) if change.merge else "{}\n",
                                   merge=True, del_keys_yaml=keys)

    async def check(self, edit: Edit) -> None:
        async with self._lock:
            current = await run_blocking(self.read)
            await run_blocking(self.validate, edit(current))

    async def update(self, edit: Edit) -> bool:
        async with self._lock:
            wrong: list[Any] = []
            for _attempt in range(self._attempts):
                current = await run_blocking(self.read)
                new = edit(current)
                change = plan_change(current, new)
                if change is None:
                    return False
                await run_blocking(self.validate, new)
                started = time.monotonic()
                try:
                    await run_blocking(self._send, change)
                except FaucetConfigError:
                    # Refused: because the config changed under us (a key to delete is gone)?
                    if plan_change(await run_blocking(self.read), new) == change:
                        raise
                    continue
                wrong = unapplied(current, new, await run_blocking(self.read))
                if not wrong:
                    self.reloads += 1
                    self.last_reload_seconds = time.monotonic() - started
                    return True
                log.warning("%s did not keep %s; sending again", self.describe(), wrong)
            raise FaucetConfigUnavailable(
                f"{self.describe()} did not keep dovesnap's change "
                f"({', '.join('/'.join(map(str, p)) for p in wrong) or 'refused'}) "
                f"in {self._attempts} tries",
                "something else keeps rewriting those keys of FAUCET's config: stop it")

    async def ensure_exists(self, initial: Mapping[str, Any]) -> bool:
        """Write ``initial`` when the server's config is empty (``dps:`` and nothing else)."""
        async with self._lock:
            current = await run_blocking(self.read)
            if any(value not in (None, {}, []) for value in current.values()):
                return False
            await run_blocking(self.validate, initial)
            await run_blocking(self._send, ConfigChange(plain(initial), replace=True))
            return True
