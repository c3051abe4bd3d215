"""dovesnap's own Prometheus metrics, in a registry the daemon owns (no global registry).

Plugin API calls are observed as they happen; FAUCET reloads, ports per network and fail-closed
ports are read from the daemon's state when Prometheus scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dovesnap.adapters.faucet_config import Validator
from dovesnap.driver.state import (
    PORT_FAIL_CLOSED,
    PORT_NOT_APPLIED,
    PORT_OK,
    PORT_PENDING,
    Network,
)

PORT_STATES = (PORT_OK, PORT_PENDING, PORT_FAIL_CLOSED, PORT_NOT_APPLIED)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CHECK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Known plugin calls; anything else is counted as "other" so labels stay few.
API_KINDS = frozenset({
    "Activate", "GetCapabilities", "CreateNetwork", "DeleteNetwork", "CreateEndpoint",
    "DeleteEndpoint", "EndpointOperInfo", "Join", "Leave", "AllocateNetwork", "FreeNetwork",
    "DiscoverNew", "DiscoverDelete", "ProgramExternalConnectivity", "RevokeExternalConnectivity",
})


def api_kind(path: str) -> str:
    """``/NetworkDriver.Join`` -> ``Join``."""
    kind = path.rsplit(".", 1)[-1].strip("/")
    return kind if kind in API_KINDS else "other"


class ReloadSource(Protocol):
    """What the FAUCET config store counts (``FaucetConfigStore`` has these attributes)."""

    reloads: int
    last_reload_seconds: float


class StateCollector:
    """Scrape-time metrics from the driver's networks and the FAUCET config store."""

    def __init__(
        self,
        networks: Callable[[], Mapping[str, Network]],
        faucet: Callable[[], ReloadSource | None],
    ) -> None:
        self._networks = networks
        self._faucet = faucet

    def collect(self) -> Iterator[Metric]:
        ports = GaugeMetricFamily(
            "dovesnap_network_ports", "Ports on each dovesnap network bridge, by kind",
            labels=["network", "bridge", "kind"],
        )
        fail_closed = GaugeMetricFamily(
            "dovesnap_fail_closed_ports", "Container ports cut off (failed closed), per network",
            labels=["network", "bridge"],
        )
        states = GaugeMetricFamily(
            "dovesnap_port_states", "Container ports by state (ok only when FAUCET installed "
            "their flows; not-applied when FAUCET refused or failed them)",
            labels=["network", "bridge", "state"],
        )
        faucet_errors = GaugeMetricFamily(
            "dovesnap_faucet_errors", "1 when FAUCET does not run the network's DP as written, "
            "or faucet.yaml is refused (the reason is in the status JSON and events)",
            labels=["network", "bridge"],
        )
        networks = GaugeMetricFamily("dovesnap_networks", "dovesnap networks served")
        nets = list(self._networks().values())
        networks.add_metric([], len(nets))
        for net in nets:
            name = net.name or net.network_id[:12]
            joined = sum(1 for ep in net.endpoints.values() if ep.container is not None)
            ports.add_metric([name, net.bridge, "container"], joined)
            ports.add_metric([name, net.bridge, "external"], len(net.externals))
            cut = sum(1 for ep in net.endpoints.values() if ep.fail_closed)
            fail_closed.add_metric([name, net.bridge], cut)
            for state in PORT_STATES:
                count = sum(1 for ep in net.endpoints.values() if ep.port_state()[0] == state)
                states.add_metric([name, net.bridge, state], count)
            faucet_errors.add_metric([name, net.bridge], 1 if net.error or net.faucet_error else 0)
        yield networks
        yield ports
        yield fail_closed
        yield states
        yield faucet_errors
        store = self._faucet()
        if store is not None:
            reloads = CounterMetricFamily(
                "dovesnap_faucet_reloads", "FAUCET config changes written and reloaded")
            reloads.add_metric([], store.reloads)
            yield reloads
            last = GaugeMetricFamily(
                "dovesnap_faucet_last_reload_seconds", "How long the last FAUCET reload took")
            last.add_metric([], store.last_reload_seconds)
            yield last
            yield from _file_store_metrics(store)


def _file_store_metrics(store: object) -> Iterator[Metric]:
    """What only the local file store (``FaucetConfigStore``) counts."""
    changes = getattr(store, "changes", None)
    if changes is None:
        return
    family = CounterMetricFamily(
        "dovesnap_faucet_changes", "FAUCET config changes asked for (batched into reloads)")
    family.add_metric([], changes)
    yield family
    write = GaugeMetricFamily(
        "dovesnap_faucet_last_write_seconds",
        "dovesnap's own time for the last FAUCET config write: edits, render, validation, "
        "rename, until FAUCET is told to reload")
    write.add_metric([], getattr(store, "last_write_seconds", 0.0))
    yield write
    concurrent = CounterMetricFamily(
        "dovesnap_faucet_concurrent_edits",
        "Writes redone because someone else changed faucet.yaml meanwhile")
    concurrent.add_metric([], getattr(store, "concurrent_edits", 0))
    yield concurrent
    held = CounterMetricFamily(
        "dovesnap_faucet_held_renames",
        "Changes of port descriptions alone, held back to go out with a later write")
    held.add_metric([], getattr(store, "held_batches", 0))
    yield held


class DovesnapMetrics:
    """The metrics of one daemon, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.api_seconds = Histogram(
            "dovesnap_api_request_seconds", "Plugin API call latency, per call",
            ["endpoint"], buckets=API_BUCKETS, registry=registry,
        )
        self.operations = Counter(
            "dovesnap_operations", "Plugin API operations, by kind", ["kind"], registry=registry)
        self.errors = Counter(
            "dovesnap_operation_errors", "Plugin API operations that failed, by kind", ["kind"],
            registry=registry,
        )
        self.faucet_check_seconds = Histogram(
            "dovesnap_faucet_config_check_seconds",
            "Time FAUCET's own parser took to validate a candidate config",
            buckets=CHECK_BUCKETS, registry=registry,
        )
        self.faucet_check_failures = Counter(
            "dovesnap_faucet_config_refusals", "Candidate configs FAUCET's parser refused",
            registry=registry,
        )

    def observe_api(self, path: str, seconds: float, error: str | None) -> None:
        """The plugin app's ``observe`` callback (``api.handlers.make_app``)."""
        kind = api_kind(path)
        self.api_seconds.labels(kind).observe(seconds)
        self.operations.labels(kind).inc()
        if error is not None:
            self.errors.labels(kind).inc()

    def timed_validator(self, validator: Validator) -> Validator:
        """Wrap the FAUCET config validator to time each check."""

        def check(path: str) -> None:
            started = time.monotonic()
            try:
                validator(path)
            except Exception:
                self.faucet_check_failures.inc()
                raise
            finally:
                self.faucet_check_seconds.observe(time.monotonic() - started)

        return check

    def watch_state(
        self,
        networks: Callable[[], Mapping[str, Network]],
        faucet: Callable[[], ReloadSource | None],
    ) -> None:
        """Register the scrape-time collector (once the driver exists)."""
        self.registry.register(StateCollector(networks, faucet))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
