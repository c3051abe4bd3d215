"""A FAUCET config edit as one faucetconfrpc request that touches only what changed (pure).

faucetconfrpc's SetConfigFile either replaces the whole file or, with ``merge``, first deletes one
key path (``del_config_yaml_keys``) and then merges a YAML document in (mappings key by key, lists
and scalars replaced). The server applies one request under its lock, so sending only the keys an
edit changed keeps apart two dovesnaps (two hosts) that edit different DPs of one FAUCET at once,
where sending the whole file would let the later one undo the earlier one's change.

:func:`plan_change` turns (config before, config after) into that request: every changed leaf or
added key is merged; a removed key is the deletion; several removals become the deletion of
their deepest common key, merged back as it should be; removals with nothing in common (or a
change of the root itself) replace the whole file. :func:`unapplied` checks a config read back
afterwards against the edit, key by key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Path = tuple[Any, ...]  # keys from the root: ("dps", "net1", "interfaces", 3)


def plain(value: Any) -> Any:
    """Mappings as dicts and sequences as lists, all the way down (ruamel's types included)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


@dataclass(frozen=True)
class Diff:
    """Key paths whose value is new (``sets``, with the value) or gone (``deletes``)."""

    sets: tuple[tuple[Path, Any], ...] = ()
    deletes: tuple[Path, ...] = ()


def diff(old: Any, new: Any) -> Diff:
    sets: list[tuple[Path, Any]] = []
    deletes: list[Path] = []

    def walk(before: Any, after: Any, path: Path) -> None:
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            for key in before:
                if key not in after:
                    deletes.append((*path, key))
            for key, value in after.items():
                if key in before:
                    walk(before[key], value, (*path, key))
                else:
                    sets.append(((*path, key), plain(value)))
            return
        if plain(before) == plain(after):
            return
        if isinstance(before, Mapping | list) and path:
            # The server merges a mapping into a mapping and cannot merge a list into anything
            # but a list: take the old value out first.
            deletes.append(path)
        sets.append((path, plain(after)))

    walk(old, new, ())
    return Diff(tuple(sets), tuple(deletes))


@dataclass(frozen=True)
class ConfigChange:
    """One SetConfigFile: delete ``delete`` (when not empty), then merge ``merge`` in; or, with
    ``replace``, ``merge`` is the whole new file."""

    merge: dict[Any, Any] = field(default_factory=dict)
    delete: Path = ()
    replace: bool = False


def value_at(config: Any, path: Path) -> tuple[bool, Any]:
    """(found, value) at ``path``."""
    node = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _nested(sets: Sequence[tuple[Path, Any]]) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    for path, value in sets:
        node = root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return root


def _common_prefix(paths: Sequence[Path]) -> Path:
    first = paths[0]
    length = min(len(path) for path in paths)
    for index in range(length):
        if any(path[index] != first[index] for path in paths):
            return first[:index]
    return first[:length]


def plan_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> ConfigChange | None:
    """The one request that turns ``old`` into ``new``; None when they are the same."""
    found = diff(old, new)
    if not found.sets and not found.deletes:
        return None
    if any(not path for path, _ in found.sets):
        return ConfigChange(plain(new), replace=True)
    if len(found.deletes) <= 1:
        delete = found.deletes[0] if found.deletes else ()
        return ConfigChange(_nested(found.sets), delete)
    common = _common_prefix(found.deletes)
    exists, value = value_at(new, common)
    if not common or not exists:
        return ConfigChange(plain(new), replace=True)
    outside = [(path, item) for path, item in found.sets if path[:len(common)] != common]
    return ConfigChange(_nested([*outside, (common, plain(value))]), common)


def unapplied(old: Mapping[str, Any], new: Mapping[str, Any],
              current: Mapping[str, Any]) -> list[Path]:
    """Key paths where ``current`` (read back after the request) does not hold ``old`` -> ``new``."""
    found = diff(old, new)
    wrong = [path for path, value in found.sets if value_at(current, path) != (True, value)]
    set_paths = {path for path, _ in found.sets}
    wrong += [path for path in found.deletes
              if path not in set_paths and value_at(current, path)[0]]
    return wrong
