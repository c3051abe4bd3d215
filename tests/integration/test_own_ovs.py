"""A dovesnap that runs Open vSwitch itself (no host OVS answers) restarts it when it dies.

The rest of the suite runs with the host's OVS up, as a host with the openvswitch-switch service
has it (``host_ovs.py``). This module runs before that OVS starts (``NEEDS_NO_HOST_OVS``, ordered
first by conftest): two userspace ovs-vswitchd cannot share one network namespace, so dovesnap's
own OVS can only run while the host's does not. Everything it made is gone when the module ends:
its networks and containers, the dovesnap, and with it its OVS (a clean stop stops it).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.host_ovs import NETDEV_TAP, ovs_answers
from tests.integration.reachability import nat_rig, outside_host
from tests.integration.rig import INSTANCE as RUN
from tests.integration.rig import Daemon, Docker, instance_for, run, wait_until

pytestmark = pytest.mark.integration

NEEDS_NO_HOST_OVS = True
INSTANCE = instance_for(__name__)
OUTSIDE = 25  # this module's outside host and nat subnet (reachability.py indexes)
PUBLISHED = 18000 + RUN * 100 + 25


def _vswitchd_of(daemon: Daemon) -> int:
    """The pid of the ovs-vswitchd this dovesnap runs (its child)."""
    assert daemon.proc is not None
    for pid in run(["pgrep", "-x", "ovs-vswitchd"], check=False).stdout.split():
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(
                daemon.proc.pid):
            return int(pid)
    raise AssertionError("this dovesnap runs no ovs-vswitchd of its own")


@pytest.fixture(scope="module")
def daemon(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if ovs_answers():
        pytest.fail("an Open vSwitch already answers: this module needs a host without one")
    own = Daemon(Path(tmp_path_factory.mktemp("ownovs")), instance=INSTANCE)
    own.start()
    try:
        yield own
    finally:
        own.stop()
        wait_until(lambda: not run(["pgrep", "-x", "ovs-vswitchd"], check=False).stdout.strip(),
                   30, 0.2, what="dovesnap's OVS stopped with it")
        run(["ip", "link", "del", NETDEV_TAP], check=False)  # outlives the userspace datapath


@pytest.fixture
def docker(daemon: Daemon) -> Iterator[Docker]:
    objects = Docker(driver=INSTANCE.driver)
    try:
        yield objects
    finally:
        objects.cleanup()


def test_ovs_vswitchd_killed_is_restarted_and_every_path_comes_back(
    daemon: Daemon, docker: Docker
) -> None:
    """kill -9 of the ovs-vswitchd dovesnap runs: it is started again, and container traffic,
    the gateway, NAT to an outside host and -p publishing all work again."""
    assert "starting dovesnap's own" in daemon.log_file.read_text()
    with outside_host(OUTSIDE) as outside:
        rig = nat_rig(docker, outside, "0x7e2d01", OUTSIDE, PUBLISHED)
        rig.all_work(60, "at the start")
        killed = _vswitchd_of(daemon)
        started = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: docker.ping(rig.client, rig.gateway), 60, 0.1,
                   "gateway after kill -9 ovs-vswitchd")
        took = time.monotonic() - started
        rig.all_work(60, "after ovs-vswitchd restarted")
        assert _vswitchd_of(daemon) != killed
        print(f"ovs-vswitchd killed: gateway back in {took:.2f}s, every path in "
              f"{time.monotonic() - started:.2f}s")
