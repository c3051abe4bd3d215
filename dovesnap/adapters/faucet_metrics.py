"""FAUCET's Prometheus page: read over HTTP (blocking; run it in a worker thread), and the
samples dovesnap wants from its text (stack port states, config reloads), parsed purely."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterable


class FaucetMetricsPage:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = timeout

    def __call__(self) -> str:
        """The page's text; OSError when FAUCET does not answer."""
        with urllib.request.urlopen(self.url, timeout=self._timeout) as response:
            body: bytes = response.read()
        return body.decode("utf-8", errors="replace")


_SAMPLE_RE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_samples(text: str, names: Iterable[str]) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample of the named metrics (labelled samples only)."""
    wanted = set(names)
    samples: list[tuple[dict[str, str], float]] = []
    for line in text.splitlines():
        match = _SAMPLE_RE.match(line)
        if not match or match.group("name") not in wanted:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        samples.append((dict(_LABEL_RE.findall(match.group("labels"))), value))
    return samples


def parse_stack_states(text: str) -> dict[tuple[str, int], int]:
    """``{(dp_name, port): state}`` from FAUCET's metrics page (3 is UP)."""
    states: dict[tuple[str, int], int] = {}
    for labels, value in metric_samples(text, ["port_stack_state"]):
        try:
            states[(labels["dp_name"], int(labels["port"]))] = int(value)
        except (KeyError, ValueError):
            continue
    return states


def reload_count(text: str, dp_name: str) -> int:
    """How many times FAUCET has applied a changed config to DP ``dp_name`` (warm or cold)."""
    names = [f"faucet_config_reload_{kind}{suffix}" for kind in ("warm", "cold")
             for suffix in ("", "_total")]
    return int(sum(value for labels, value in metric_samples(text, names)
                   if labels.get("dp_name") == dp_name))


def reload_requests(text: str) -> float | None:
    """``faucet_config_reload_requests_total``: reloads FAUCET has finished (None: not there)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "faucet_config_reload_requests_total":
            try:
                return float(value)
            except ValueError:
                return None
    return None
