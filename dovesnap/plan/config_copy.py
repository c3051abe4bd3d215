"""One-level copies of FAUCET config mappings for copy-on-write edits (pure).

A section read from the operator's file is a round-trip (ruamel) mapping; its own ``copy`` keeps
the comments and key order that a plain ``dict`` would lose.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, cast


def shallow_copy(mapping: Mapping[str, Any]) -> MutableMapping[str, Any]:
    """A one-level copy; a round-trip (ruamel) mapping keeps its comments and key order."""
    copier = getattr(mapping, "copy", None)
    return cast(MutableMapping[str, Any], copier()) if callable(copier) else dict(mapping)
