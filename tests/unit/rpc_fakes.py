"""A stateful fake of a faucetconfrpc server, for the store and driver tests.

It keeps a config (plain data) and answers the three calls as the real server does: GetConfigFile
sends it as YAML; SetConfigFile replaces it, or deletes one key path and merges a document in
(mappings key by key; lists and scalars replaced; a mapping or scalar merged into a list is an
error). It can be down (every call raises FaucetConfigUnavailable), refuse every change (the
server's own check saying no), or run ``between`` just before a change lands (another writer).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from dovesnap.errors import FaucetConfigError, FaucetConfigUnavailable


def merge_into(into: Any, new: Any) -> Any:
    if into is None or isinstance(into, str | int | float):
        return new
    if into == new:
        return into
    if isinstance(into, list) and isinstance(new, list):
        return new
    if isinstance(into, dict) and isinstance(new, dict):
        for key, value in new.items():
            into[key] = merge_into(into[key], value) if key in into else value
        return into
    raise FaucetConfigError(f"cannot merge {into} and {new}")


@dataclass
class FakeConfRpc:
    config: dict[str, Any] = field(default_factory=dict)
    down: bool = False
    refuse: str = ""
    ignore_sets: bool = False
    between: Callable[[FakeConfRpc], None] | None = None
    sets: list[tuple[str, bool, str]] = field(default_factory=list)
    gets: int = 0

    def describe(self) -> str:
        return "faucetconfrpc at fake:59999"

    def _reachable(self, what: str) -> None:
        if self.down:
            raise FaucetConfigUnavailable(f"{self.describe()} did not {what}: UNAVAILABLE")

    def get_config(self) -> str:
        self._reachable("send the FAUCET config")
        self.gets += 1
        return yaml.safe_dump(self.config)

    def set_config(self, config_yaml: str, merge: bool, del_keys_yaml: str = "") -> None:
        self._reachable("change the FAUCET config")
        self.sets.append((config_yaml, merge, del_keys_yaml))
        if self.between is not None:
            between, self.between = self.between, None
            between(self)
        if self.refuse:
            raise FaucetConfigError(f"{self.describe()} refused: {self.refuse}")
        new = yaml.safe_load(config_yaml)
        if merge:
            current = copy.deepcopy(self.config)
            if del_keys_yaml:
                keys = yaml.safe_load(del_keys_yaml)
                node = current
                try:
                    for key in keys[:-1]:
                        node = node[key]
                    del node[keys[-1]]
                except (KeyError, TypeError) as err:
                    raise FaucetConfigError(f"Exception calling application: {err!r}") from None
            new = merge_into(current, new)
        if not self.ignore_sets:
            self.config = new
