"""Per-interface kernel settings under ``/proc/sys/net`` (blocking; run in a worker thread).

``ifname`` may also be ``all`` or ``default``, as in ``net.ipv6.conf.all.forwarding``.
"""

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
    def get_interface(self, family: str, ifname: str, key: str) -> str | None: ...


class ProcSysctl:
    def __init__(self, root: Path = Path("/proc/sys/net")) -> None:
        self.root = root

    def _path(self, family: str, ifname: str, key: str) -> Path:
        if family not in FAMILIES or not IFNAME_RE.match(ifname) or not _KEY_RE.match(key):
            raise BackendError(f"refusing odd sysctl net.{family}.conf.{ifname!r}.{key!r}")
        return self.root / family / "conf" / ifname / key

    def set_interface(self, family: str, ifname: str, key: str, value: str) -> None:
        path = self._path(family, ifname, key)
        try:
            path.write_text(value)
        except OSError as err:
            raise BackendError(f"cannot set net.{family}.conf.{ifname}.{key}={value}: {err}") from None

    def get_interface(self, family: str, ifname: str, key: str) -> str | None:
        """The setting's value; None when the kernel has no such setting (no such interface, or
        no IPv6 at all when booted with ``ipv6.disable=1``)."""
        path = self._path(family, ifname, key)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise BackendError(f"cannot read net.{family}.conf.{ifname}.{key}: {err}") from None
