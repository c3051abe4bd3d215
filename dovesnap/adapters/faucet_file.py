"""The bytes of faucet.yaml on disk: read with a fingerprint, replaced atomically and durably.

- Through symlinks: the link's target is replaced and the link stays (a config kept in a repo
  and linked into /etc/faucet keeps working).
- The target keeps its mode and owner; a new file gets 0644.
- The new content is fsynced before the rename and the directory after it.
- A fingerprint (device, inode, size, mtime and a digest of the content) taken when the file was
  read is compared just before the rename, so an operator's edit made meanwhile is noticed
  (the caller then re-reads and re-applies its change) instead of overwritten. The window left
  between that comparison and the rename is one system call wide.
- The last operator-authored version (any content dovesnap did not write itself) is copied to
  ``faucet.yaml.dovesnap-bak`` beside the configured path before dovesnap replaces it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dovesnap.errors import BackendError

BACKUP_SUFFIX = ".dovesnap-bak"
NEW_FILE_MODE = 0o644


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    device: int
    inode: int
    size: int
    mtime_ns: int
    digest: str

    def same_stat(self, st: os.stat_result) -> bool:
        return (self.device, self.inode, self.size, self.mtime_ns) == (
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Staged:
    """A synced temporary file beside the target, and the digest of its content."""

    path: Path
    digest: str


@dataclass(frozen=True)
class Snapshot:
    """What the file held when read: its text (None when there is no file) and fingerprint."""

    text: str | None
    fingerprint: Fingerprint | None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(what: str, err: OSError) -> BackendError:
    return BackendError(f"cannot {what}: {err.strerror or err}",
                        "check the FAUCET config directory's permissions and free space")


class ConfigFile:
    """One config file, reached through ``path`` (which may be a symlink)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def target(self) -> Path:
        """The regular file behind ``path`` (``path`` itself when it is no symlink)."""
        return Path(os.path.realpath(self.path))

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(self.path.name + BACKUP_SUFFIX)

    def read(self) -> Snapshot:
        try:
            with open(self.target, "rb") as handle:
                st = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            return Snapshot(None, None)
        except OSError as err:
            raise _fail(f"read {self.path}", err) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BackendError(f"{self.path} is not UTF-8 text: {err}", "fix the file") from None
        return Snapshot(text, Fingerprint(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                          digest(data)))

    def unchanged(self, seen: Fingerprint | None) -> bool:
        """Is the file still what ``seen`` describes (None: still absent)?"""
        try:
            st = os.stat(self.target)
        except FileNotFoundError:
            return seen is None
        if seen is None or not seen.same_stat(st):
            return False
        # Same inode, size and mtime: the content decides (mtime ticks coarsely).
        now = self.read().fingerprint
        return now is not None and now.digest == seen.digest

    def stage(self, text: str, durable: bool = True) -> Staged:
        """A temporary file beside the target holding ``text``; ``replace`` puts it in place,
        ``discard`` removes it. ``durable``: synced, with the target's mode and owner (a file only
        to be checked, never renamed, needs neither)."""
        target = self.target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".dovesnap-", suffix=".yaml", dir=target.parent)
        except OSError as err:
            raise _fail(f"write beside {target}", err) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                if durable:
                    handle.flush()
                    self._copy_owner(handle.fileno(), target)
                    os.fsync(handle.fileno())
        except OSError as err:
            Path(tmp).unlink(missing_ok=True)
            raise _fail(f"write {tmp}", err) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Staged(Path(tmp), digest(text.encode("utf-8")))

    @staticmethod
    def _copy_owner(fd: int, like: Path) -> None:
        try:
            st = os.stat(like)
        except FileNotFoundError:
            os.fchmod(fd, NEW_FILE_MODE)
            return
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(PermissionError):  # only root may give files away
                os.fchown(fd, st.st_uid, st.st_gid)

    def replace(self, staged: Staged) -> Fingerprint:
        """Put ``staged`` in place of the target, durably; the new content's fingerprint."""
        target = self.target
        try:
            st = os.stat(staged.path)
            os.replace(staged.path, target)
            _fsync_dir(target.parent)
        except OSError as err:
            staged.path.unlink(missing_ok=True)
            raise _fail(f"replace {target}", err) from None
        return Fingerprint(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, staged.digest)

    @staticmethod
    def discard(staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def back_up(self, text: str) -> None:
        """Keep ``text`` (the operator's last version) in ``faucet.yaml.dovesnap-bak``."""
        backup = ConfigFile(self.backup_path)
        if backup.path.is_symlink():
            backup.path.unlink()  # never write through a link someone put at our backup's name
        staged = backup.stage(text)
        try:
            self._copy_owner_to(staged)
            backup.replace(staged)
        except BaseException:
            backup.discard(staged)
            raise

    def _copy_owner_to(self, staged: Staged) -> None:
        fd = os.open(staged.path, os.O_RDONLY)
        try:
            self._copy_owner(fd, self.target)
        finally:
            os.close(fd)
