"""FAUCET config validation in a long-lived helper process.

FAUCET's parser pulls in eventlet, which must never load inside the daemon (it monkey-patches
threading). A child process imports it once and answers one JSON line per file path, so a
check costs milliseconds instead of the second that importing FAUCET takes.

A check that does not answer within ``timeout`` seconds kills the helper (a fresh one starts with
the next check) and raises BackendError: a hung parser must not hold every create, join and
leave behind it, and "no answer" is not FAUCET refusing the config.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
from typing import IO, Any

from dovesnap.config import FAUCET_CHECK_TIMEOUT
from dovesnap.errors import BackendError, FaucetConfigError

log = logging.getLogger(__name__)


class _NoAnswer(Exception):
    """The helper died or said nothing parseable (one retry with a fresh helper)."""


class _TooLate(Exception):
    """The helper did not answer before the deadline (no retry: it would hang again)."""


class FaucetCheckProcess:
    """Callable validator: ``check(path)`` raises FaucetConfigError if FAUCET refuses the file."""

    def __init__(self, python: str = sys.executable, timeout: float = FAUCET_CHECK_TIMEOUT,
                 module: str = "dovesnap.adapters.faucet_check") -> None:
        self._argv = [python, "-m", module]
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.timeouts = 0

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._proc

    def _read_line(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
        """One answer line, or _TooLate when ``deadline`` passes first."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        chunks: list[bytes] = []
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise _TooLate
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _NoAnswer("FAUCET config checker exited")
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    return b"".join(chunks)

    def _ask(self, path: str, deadline: float) -> dict[str, Any]:
        proc = self._ensure()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps({"path": path}).encode() + b"\n")
            proc.stdin.flush()
            answer: dict[str, Any] = json.loads(self._read_line(proc, deadline))
        except (OSError, ValueError) as err:
            raise _NoAnswer(str(err)) from None
        return answer

    def __call__(self, path: str) -> None:
        with self._lock:
            deadline = time.monotonic() + self.timeout
            try:
                try:
                    answer = self._ask(path, deadline)
                except _NoAnswer:
                    self.close()
                    answer = self._ask(path, deadline)  # one retry with a fresh checker
            except _TooLate:
                self.timeouts += 1
                self.close()  # killed; the next check starts a fresh one
                raise BackendError(
                    f"FAUCET's config checker did not answer within {self.timeout:g}s "
                    "(it was killed and will be restarted); the change was not written",
                    "the host may be overloaded, or faucet.yaml is too large to parse in time",
                ) from None
            except _NoAnswer as err:
                self.close()
                raise BackendError(f"FAUCET's config checker failed: {err}",
                                   "check that the faucet package is installed") from None
        if not answer.get("ok"):
            raise FaucetConfigError.rejected(
                str(answer.get("error", "unknown error")),
                "check that the ACLs, meters and VLANs named exist in faucet.yaml",
            )

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):  # a broken pipe to a dead child
                        pipe.close()


def _serve(stdin: IO[str], stdout: IO[str]) -> None:
    logging.disable(logging.CRITICAL)
    from faucet.conf import InvalidConfigError
    from faucet.config_parser import dp_parser

    for line in stdin:
        try:
            path = json.loads(line)["path"]
            dp_parser(path, "dovesnap.faucet_check")
            answer: dict[str, Any] = {"ok": True}
        except InvalidConfigError as err:
            answer = {"ok": False, "error": str(err)}
        except Exception as err:  # any parser crash is a refusal, never a checker death
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    _serve(sys.stdin, sys.stdout)
