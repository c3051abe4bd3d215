"""FAUCET's exception log: the last error it died of or hit, in its own words (blocking read).

FAUCET writes an unhandled exception's traceback there before it restarts itself (or a valve
gives up on a DP); its last line names the error, e.g. ``AssertionError: vlan_vid match in
table egress_acl``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*")
TAIL_BYTES = 16384


def last_error(text: str) -> str:
    """The last ``SomethingError: ...`` line of a log's text ("" when there is none)."""
    found = ""
    for line in text.splitlines():
        if _ERROR_LINE.match(line.strip()):
            found = line.strip()
    return found


class FaucetExceptionLog:
    """``(size, last error)`` of FAUCET's exception log; a growing size means a new error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> tuple[int, str]:
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - TAIL_BYTES))
                tail = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return 0, ""
        return size, last_error(tail)
