"""FAUCET's Prometheus page, read over HTTP (blocking; run it in a worker thread)."""

from __future__ import annotations

import urllib.request


class FaucetMetricsPage:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = timeout

    def __call__(self) -> str:
        """The page's text; OSError when FAUCET does not answer."""
        with urllib.request.urlopen(self.url, timeout=self._timeout) as response:
            body: bytes = response.read()
        return body.decode("utf-8", errors="replace")
