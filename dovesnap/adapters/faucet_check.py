"""FAUCET config validation in a long-lived helper process.

FAUCET's parser pulls in eventlet, which must never load inside the daemon (it monkey-patches
threading). A child process imports it once and answers one JSON line per file path, so a
check costs milliseconds instead of the second that importing FAUCET takes.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from typing import IO, Any

from dovesnap.errors import FaucetConfigError

log = logging.getLogger(__name__)


class FaucetCheckProcess:
    """Callable validator: ``check(path)`` raises FaucetConfigError if FAUCET refuses the file."""

    def __init__(self, python: str = sys.executable, timeout: float = 30.0) -> None:
        self._python = python
        self._timeout = timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [self._python, "-m", "dovesnap.adapters.faucet_check"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1,
            )
        return self._proc

    def _ask(self, path: str) -> dict[str, Any]:
        proc = self._ensure()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"path": path}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise OSError("FAUCET config checker exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __call__(self, path: str) -> None:
        with self._lock:
            try:
                answer = self._ask(path)
            except (OSError, ValueError):
                self.close()
                answer = self._ask(path)  # one retry with a fresh checker
        if not answer.get("ok"):
            raise FaucetConfigError.rejected(
                str(answer.get("error", "unknown error")),
                "check that the ACLs, meters and VLANs named exist in faucet.yaml",
            )

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


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
