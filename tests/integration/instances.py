"""Instance numbers of the dovesnaps the integration tests start: one allocator, no sharing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Every dovesnap the integration tests start is an Instance: its number gives its plugin name, socket
# and ports. Numbers come only from instance_for(), so that none is shared: a run of the suite
# (DOVESNAP_TEST_INSTANCE=N; several runs may share one dockerd and OVS) owns the numbers
# N*RUN_BLOCK ... N*RUN_BLOCK + RUN_BLOCK-1, the first for the session's dovesnap, the others for
# the modules that run a dovesnap of their own, one each.
OWN_DAEMONS = ("install_helpers", "test_resilience", "test_cleanup", "test_mirror", "test_stack",
               "test_reboot", "two_hosts_fabric", "two_hosts", "test_listen", "test_operator_dp",
               "test_first_contact", "test_engines", "test_managed_plugin", "test_faucet_file",
               "test_faucet_health", "test_own_ovs", "test_spare_ports")
RUN_BLOCK = 20
RUNS = 50
# Instance 0 (run 0's session) is the real "dovesnap" on the daemon's default ports; every other
# instance has PORTS_EACH ports of its own from PORT_BASE up, below Linux's ephemeral ports.
PORT_BASE = 20000
PORTS_EACH = 8
DEFAULT_PORTS = (6653, 6654, 9302, 9303, 9401, 9090)


@dataclass(frozen=True)
class Instance:
    """Names and ports of one dovesnap instance (0 is the real "dovesnap")."""

    number: int

    @property
    def driver(self) -> str:
        return f"dovesnap-t{self.number}" if self.number else "dovesnap"

    @property
    def socket(self) -> Path:
        return Path(f"/run/docker/plugins/{self.driver}.sock")

    def _port(self, index: int) -> int:
        return PORT_BASE + PORTS_EACH * self.number + index if self.number else DEFAULT_PORTS[index]

    @property
    def faucet_of_port(self) -> int:
        return self._port(0)

    @property
    def gauge_of_port(self) -> int:
        return self._port(1)

    @property
    def faucet_prom_port(self) -> int:
        return self._port(2)

    @property
    def gauge_prom_port(self) -> int:
        return self._port(3)

    @property
    def status_port(self) -> int:
        return self._port(4)

    @property
    def prometheus_port(self) -> int:
        """For a Prometheus the tests run beside this instance."""
        return self._port(5)

    @property
    def extra_ports(self) -> tuple[int, int]:
        """Two more ports (not for instance 0), for servers a test runs beside this instance."""
        assert self.number, "instance 0 has only the default ports"
        return self._port(len(DEFAULT_PORTS)), self._port(len(DEFAULT_PORTS) + 1)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self._port(i) for i in range(len(DEFAULT_PORTS)))


def instance_for(module: str | None = None, run: int | None = None) -> Instance:
    """The instance of a run's session dovesnap (no module), or of the dovesnap a module in
    OWN_DAEMONS runs itself (pass its ``__name__``). The run is DOVESNAP_TEST_INSTANCE by default."""
    run = INSTANCE if run is None else run
    if not 0 <= run < RUNS:
        raise ValueError(f"DOVESNAP_TEST_INSTANCE must be 0 to {RUNS - 1}, not {run}")
    if module is None:
        return Instance(run * RUN_BLOCK)
    name = module.rsplit(".", 1)[-1]
    if name not in OWN_DAEMONS:
        raise ValueError(f"{name} runs its own dovesnap: add it to OWN_DAEMONS in instances.py")
    return Instance(run * RUN_BLOCK + 1 + OWN_DAEMONS.index(name))


# The number of this run of the suite (not an instance number: see instance_for).
INSTANCE = int(os.environ.get("DOVESNAP_TEST_INSTANCE", "0") or 0)
