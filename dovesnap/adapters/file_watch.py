"""Tell a callback when a file changes: inotify (through ctypes) on its directory.

Editors and dovesnap itself replace ``faucet.yaml`` by renaming a new file over it, which a watch
on the file itself would lose, so the directory is watched (and, for a symlinked file, its
target's directory too), and events are filtered by name. The inotify descriptor is read from the
event loop (``loop.add_reader``): no thread, nothing blocks.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

from dovesnap.errors import BackendError

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_MOVED_FROM = 0x00000040
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
WATCHED = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MODIFY
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


def event_names(buffer: bytes) -> list[tuple[int, str]]:
    """``(watch descriptor, file name)`` of each inotify event in ``buffer``."""
    found = []
    offset = 0
    while offset + _HEADER.size <= len(buffer):
        wd, _mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
        raw = buffer[offset + _HEADER.size: offset + _HEADER.size + length]
        found.append((wd, raw.split(b"\0", 1)[0].decode(errors="replace")))
        offset += _HEADER.size + length
    return found


def watched_names(path: Path) -> dict[Path, set[str]]:
    """Directory -> file names whose change means ``path`` changed (itself, and the file a
    symlink points to)."""
    wanted: dict[Path, set[str]] = {path.parent: {path.name}}
    target = path.resolve()
    if target != path:
        wanted.setdefault(target.parent, set()).add(target.name)
    return wanted


class FileWatch:
    """Calls ``on_change()`` (on the event loop) whenever the file at ``path`` may have changed."""

    def __init__(self, path: Path, on_change: Callable[[], None]) -> None:
        self.path = path
        self._on_change = on_change
        self._fd: int | None = None
        self._names: dict[int, set[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise BackendError(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        try:
            for directory, names in watched_names(self.path).items():
                wd = libc.inotify_add_watch(fd, os.fsencode(directory), WATCHED)
                if wd < 0:
                    raise BackendError(f"cannot watch {directory}: "
                                       f"{os.strerror(ctypes.get_errno())}")
                self._names.setdefault(wd, set()).update(names)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            buffer = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            log.warning("watching %s failed: %s", self.path, err)
            return
        if any(name in self._names.get(wd, ()) for wd, name in event_names(buffer)):
            try:
                self._on_change()
            except Exception:  # a callback bug must not end the watch
                log.exception("change callback for %s failed", self.path)

    def close(self) -> None:
        if self._fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
