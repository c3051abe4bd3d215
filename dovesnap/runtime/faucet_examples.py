"""FAUCET's example config, told from an operator's, and set aside before dovesnap starts.

Building the ``faucet`` package from its sdist (PyPI has no wheel of it) as root copies FAUCET's
examples into ``/etc/faucet`` when they are not there yet: ``faucet.yaml`` (DPs ``sw1``/``sw2``
on dp_ids 0x1/0x2, VLANs ``office``/``guest``, a router, ``include: [acls.yaml]``),
``acls.yaml``, ``gauge.yaml``, ``ryu.conf`` and ``os_ken.conf``; it also makes
``/var/log/faucet``. The installed package keeps the same three YAML files as data
(``<prefix>/etc/faucet``). Taken for the operator's config, that example would make every
dovesnap network part of FAUCET's demo office network.

A file is FAUCET's untouched example when its bytes are those the installed ``faucet`` package
ships, or those of an example some FAUCET release shipped (``EXAMPLE_DIGESTS``). Any other
content is the operator's and is never moved. An untouched example is renamed to
``NAME.example`` beside it (``NAME.example.1``... if that name holds something else) so that
dovesnap's starter config can take its place. ``ryu.conf``/``os_ken.conf`` only tune FAUCET's
OpenFlow keepalive and are left where they are.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Mapping
from pathlib import Path

FAUCET_YAML, ACLS_YAML, GAUGE_YAML = "faucet.yaml", "acls.yaml", "gauge.yaml"
EXAMPLE_FILES = (FAUCET_YAML, ACLS_YAML, GAUGE_YAML)
ASIDE_SUFFIX = ".example"

# sha256 of each example file as FAUCET released it (etc/faucet/ of every tag 1.9.0 ... 1.10.12),
# for an /etc/faucet that another FAUCET version's install wrote.
EXAMPLE_DIGESTS: Mapping[str, frozenset[str]] = {
    FAUCET_YAML: frozenset({
        "192017754c53fc42083762683fc16683f2aefebccb01338f382b8007a6bf016c",  # 1.9.x
        "b9ee6caf82ab11e7aeb1474d42f00165661b1590779362786a7de64ac266fb47",  # 1.10.1 - 1.10.12
    }),
    ACLS_YAML: frozenset({
        "c949f5851fcc81ebf92ef6c2e1e35e14fc564bd7f68eec5c67621c22cca6b0f2",  # 1.9.x
        "b7d97e7ed70a32256386dc2ea251f6beb8bba32c9ab27a491a57a0a193a5fa02",  # 1.10.1 - 1.10.12
    }),
    GAUGE_YAML: frozenset({
        "8ebbcfcb7fce1ee5544d77ae08229072e49aa9d67e04c580889d3c6e4eace509",  # 1.9.0 - 1.9.22
        "45a0d8830ac3bf57f74766f70b6506300e6d79fa5d1ee2e8e1dcfe585dd0f102",  # 1.9.23 - 1.9.55
        "0199609c274876b552e569fb4e9dd5f1b43c102068d95f548c7b9b8b84432a97",  # 1.10.1 - 1.10.11
        "36e09a62ef3a28b42d8204bec4c9e19852d509c95972921f0db78561a4f3588a",  # 1.10.12
    }),
}


def shipped_examples() -> dict[str, bytes]:
    """The example files the installed ``faucet`` package ships as data, by file name."""
    try:
        dist = importlib.metadata.distribution("faucet")
    except importlib.metadata.PackageNotFoundError:
        return {}
    found: dict[str, bytes] = {}
    for entry in dist.files or ():
        parts = entry.parts
        if len(parts) >= 3 and parts[-3:-1] == ("etc", "faucet") and parts[-1] in EXAMPLE_FILES:
            try:
                found[parts[-1]] = Path(str(dist.locate_file(entry))).read_bytes()
            except OSError:
                continue
    return found


def is_untouched_example(name: str, content: bytes, shipped: Mapping[str, bytes]) -> bool:
    """Pure: ``content`` of file ``name`` is FAUCET's example, byte for byte."""
    if name in shipped and content == shipped[name]:
        return True
    return hashlib.sha256(content).hexdigest() in EXAMPLE_DIGESTS.get(name, frozenset())


def examples_to_set_aside(
    contents: Mapping[str, bytes | None], shipped: Mapping[str, bytes]
) -> list[str]:
    """Pure: which of the files (name -> bytes, None when absent) to set aside.

    ``faucet.yaml`` and ``gauge.yaml`` when they are untouched examples; ``acls.yaml`` too, but
    only when no operator's ``faucet.yaml`` stays (that one may include it).
    """
    def example(name: str) -> bool:
        content = contents.get(name)
        return content is not None and is_untouched_example(name, content, shipped)

    names = [name for name in (FAUCET_YAML, GAUGE_YAML) if example(name)]
    operators_faucet_yaml = contents.get(FAUCET_YAML) is not None and FAUCET_YAML not in names
    if example(ACLS_YAML) and not operators_faucet_yaml:
        names.insert(1, ACLS_YAML)
    return names


def aside_path(directory: Path, name: str, content: bytes) -> Path | None:
    """Where to keep an example: ``NAME.example``, or the first ``NAME.example.N`` that is
    free; None when one of those already holds the same bytes."""
    candidates = [directory / f"{name}{ASIDE_SUFFIX}"]
    candidates += [directory / f"{name}{ASIDE_SUFFIX}.{n}" for n in range(1, 100)]
    for candidate in candidates:
        try:
            if candidate.read_bytes() == content:
                return None
        except FileNotFoundError:
            return candidate
        except OSError:
            continue
    raise OSError(f"no free name to keep FAUCET's example {directory / name} beside it")


def set_aside_examples(
    directory: Path, shipped: Mapping[str, bytes] | None = None
) -> list[tuple[Path, Path | None]]:
    """Rename FAUCET's untouched example files in ``directory`` to ``NAME.example``.

    Returns (file, kept as) for each; kept as None means an identical copy was already beside
    it, so the file was removed. Operators' files are never touched."""
    if shipped is None:
        shipped = shipped_examples()
    contents: dict[str, bytes | None] = {}
    for name in EXAMPLE_FILES:
        try:
            contents[name] = (directory / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            contents[name] = None
    moved: list[tuple[Path, Path | None]] = []
    for name in examples_to_set_aside(contents, shipped):
        source, content = directory / name, contents[name]
        assert content is not None  # only files that exist are set aside
        target = aside_path(directory, name, content)
        if target is None:
            source.unlink()
        else:
            os.rename(source, target)
        moved.append((source, target))
    return moved
