"""Per-interface kernel settings under ``/proc/sys/net`` (blocking; run in a worker thread)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from dovesnap.errors import BackendError
from dovesnap.model.names import IFNAME_RE

_KEY_RE = re.compile(r"^[a-z0-9_]{1,40}\Z")
FAMILIES = ("ipv4", "ipv6")


class SysctlBackend(Protocol):
    def set_interface(self, family: str, ifname: str, key: str, value: str) -> None: ...


class ProcSysctl:
    def __init__(self, root: Path = Path("/proc/sys/net")) -> None:
        self.root = root

    def set_interface(self, family: str, ifname: str, key: str, value: str) -> None:
        if family not in FAMILIES or not IFNAME_RE.match(ifname) or not _KEY_RE.match(key):
            raise BackendError(f"refusing odd sysctl net.{family}.conf.{ifname!r}.{key!r}")
        path = self.root / family / "conf" / ifname / key
        try:
            path.write_text(value)
        except OSError as err:
            raise BackendError(f"cannot set net.{family}.conf.{ifname}.{key}={value}: {err}") from None
