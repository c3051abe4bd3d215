"""faucet.yaml as text and as data, keeping what the operator wrote.

A round trip through ruamel.yaml keeps comments, key order and quotes (``"0e:00:00:00:10:01"``
stays quoted, so a YAML 1.1 reader never sees a number), and the file's own indentation is
guessed from its text and kept. A file that does not parse raises FaucetFileError naming the
line, never the YAML library's own exception.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.tokens import CommentToken

from dovesnap.errors import FaucetFileError

_KEY_ONLY = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")  # "  name:" opening a block
_DASH = re.compile(r"^( *)- ")


@dataclass(frozen=True)
class Indent:
    """ruamel's block indentation: mapping step, sequence item step, dash offset."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def guess_indent(text: str, default: Indent = Indent()) -> Indent:
    """The indentation a file uses, from its first nested mapping and first block sequence."""
    mapping: int | None = None
    offset: int | None = None
    parent: int | None = None  # indent of the key line just above, when it opened a block
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        dash = _DASH.match(line)
        if parent is not None:  # the first line inside a block: a dash may sit at its key's level
            if dash and offset is None and indent >= parent:
                offset = indent - parent
            elif not dash and mapping is None and indent > parent:
                mapping = indent - parent
        if mapping is not None and offset is not None:
            break
        parent = indent if _KEY_ONLY.match(line) and not dash else None
    mapping = mapping or default.mapping
    if offset is None:
        return Indent(mapping, max(mapping, default.sequence), default.offset)
    return Indent(mapping, offset + 2, offset)


def parse_error(source: Path, err: Exception) -> FaucetFileError:
    """dovesnap's error for a file that does not parse, naming the line (1-based)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if isinstance(err, MarkedYAMLError):
        detail = " ".join(p for p in (err.context, err.problem) if p) or type(err).__name__
    else:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return FaucetFileError(
        f"{source} is not valid YAML{where}: {detail}",
        "fix that line (FAUCET refuses the file too); dovesnap writes no FAUCET change "
        "until it parses, and keeps the last version an operator wrote in "
        f"{source.name}.dovesnap-bak",
    )


class YamlCodec:
    """Round-trip load and dump; one thread at a time (ruamel's objects keep parser state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.indent = Indent()

    def _yaml(self) -> YAML:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.default_flow_style = False
        yaml.indent(mapping=self.indent.mapping, sequence=self.indent.sequence,
                    offset=self.indent.offset)
        return yaml

    def load(self, text: str, source: Path) -> Mapping[str, Any]:
        """The config in ``text`` (read from ``source``); {} for an empty file."""
        try:
            with self._lock:
                loaded = self._yaml().load(text)
        except (YAMLError, ValueError) as err:
            raise parse_error(source, err) from None
        if loaded is None:
            return {}
        if not isinstance(loaded, Mapping):
            raise FaucetFileError(
                f"{source} does not hold a YAML mapping (FAUCET needs acls:, dps: ... at the top)",
                "fix or move the file aside",
            )
        self.indent = guess_indent(text)
        return loaded

    def dump(self, config: Mapping[str, Any]) -> str:
        stream = io.StringIO()
        with self._lock:
            self._yaml().dump(config, stream)
            _reset_comment_marks(config)
        return stream.getvalue()


def _reset_comment_marks(value: Any) -> None:
    """Clear the "already written" marks ruamel's emitter leaves on comments: a config that was
    dumped is kept and edited (deep copies included), and a copy taking the marks along would
    lose its comments when dumped in turn."""
    stack = [value]
    while stack:
        item = stack.pop()
        comments = getattr(item, "ca", None)
        if comments is not None:
            _reset_tokens([comments.comment, comments.end, list(comments.items.values())])
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _reset_tokens(value: Any) -> None:
    if isinstance(value, CommentToken):
        value.reset()
    elif isinstance(value, list | tuple):
        for item in value:
            _reset_tokens(item)


def plain(value: Any) -> Any:
    """Plain dicts, lists and scalars, for PyYAML's fast C dumper: ruamel's round-trip string,
    number and boolean types become the base types FAUCET's parser expects."""
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for base in (int, float, str):
        if isinstance(value, base):
            return base(value)
    return value
