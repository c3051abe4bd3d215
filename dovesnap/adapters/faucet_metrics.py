"""FAUCET's Prometheus page: read over HTTP (blocking; run it in a worker thread), and the
samples dovesnap wants from its text (stack port states, config reloads, which config FAUCET
loaded and why it refused one, DP and port status), parsed purely."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field


class FaucetMetricsPage:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = timeout

    def __call__(self) -> str:
        """The page's text; OSError when FAUCET does not answer."""
        with urllib.request.urlopen(self.url, timeout=self._timeout) as response:
            body: bytes = response.read()
        return body.decode("utf-8", errors="replace")


_SAMPLE_RE = re.compile(  # label values may hold braces (FAUCET's error texts do)
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>(?:[^}"]|"(?:[^"\\]|\\.)*")*)\}\s+(?P<value>\S+)'
)
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def _unescape(value: str) -> str:
    """A Prometheus label value as it was before escaping (backslash, quote, newline)."""
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), value)


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
        labels = {k: _unescape(v) for k, v in _LABEL_RE.findall(match.group("labels"))}
        samples.append((labels, value))
    return samples


def _sample_values(text: str, name: str) -> list[float]:
    """Values of the unlabelled samples of metric ``name``."""
    values = []
    for line in text.splitlines():
        head, _, value = line.partition(" ")
        if head == name:
            try:
                values.append(float(value))
            except ValueError:
                continue
    return values


@dataclass(frozen=True)
class FaucetState:
    """What FAUCET says about the config it runs and its switches."""

    load_error: bool = False  # its last attempt to load the config failed
    error: str = ""  # why (FAUCET's own words), when it did
    hashes: dict[str, str] = field(default_factory=dict)  # config file -> hash of what it runs
    dps_up: dict[str, bool] = field(default_factory=dict)  # DP name -> switch connected
    ports_up: dict[tuple[str, int], bool] = field(default_factory=dict)  # (DP, port) -> link up


def dps_up(text: str) -> dict[str, bool]:
    """DP name -> whether its switch is connected to FAUCET (``dp_status``)."""
    return {labels["dp_name"]: value == 1
            for labels, value in metric_samples(text, ["dp_status"]) if "dp_name" in labels}


def parse_faucet_state(text: str) -> FaucetState:
    """The config FAUCET last loaded (file hashes), its load error, DP and port status."""
    hashes: dict[str, str] = {}
    error = ""
    for labels, _ in metric_samples(text, ["faucet_config_hash_info"]):
        files = [f for f in labels.get("config_files", "").split(",") if f]
        digests = labels.get("hashes", "").split(",")
        hashes.update(zip(files, digests, strict=False))
        error = labels.get("error", "") or error
    dps = dps_up(text)
    ports: dict[tuple[str, int], bool] = {}
    for labels, value in metric_samples(text, ["port_status"]):
        try:
            ports[(labels["dp_name"], int(labels["port"]))] = value == 1
        except (KeyError, ValueError):
            continue
    load_error = any(v == 1 for v in _sample_values(text, "faucet_config_load_error"))
    return FaucetState(load_error, error if load_error else "", hashes, dps, ports)


def parse_stack_states(text: str) -> dict[tuple[str, int], int]:
    """``{(dp_name, port): state}`` from FAUCET's metrics page (3 is UP)."""
    states: dict[tuple[str, int], int] = {}
    for labels, value in metric_samples(text, ["port_stack_state"]):
        try:
            states[(labels["dp_name"], int(labels["port"]))] = int(value)
        except (KeyError, ValueError):
            continue
    return states


def port_acl_tables(text: str) -> dict[str, bool]:
    """DP name -> whether the pipeline FAUCET runs for it has a port ACL table in front.

    From ``faucet_config_table_names`` (each table's id as the value). FAUCET keeps exporting a
    table it once had, so the port ACL table's own sample proves nothing; the VLAN table's id
    does: 0 when it is the first table, 1 behind a port ACL table."""
    return {labels["dp_name"]: value > 0
            for labels, value in metric_samples(text, ["faucet_config_table_names"])
            if labels.get("table_name") == "vlan" and "dp_name" in labels}


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
