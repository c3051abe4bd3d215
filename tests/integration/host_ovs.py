"""The host's Open vSwitch for the suite, as a real host has it: running before dovesnap starts.

On a host with the openvswitch-switch service, OVS answers at its standard socket and every
dovesnap uses it. A fresh CI machine (no init system) has the package but no running daemons, so
without this each dovesnap would start its own OVS and stop it when it stops, and a test that
stops a dovesnap would take the OVS of every other test with it.

``host_ovs()`` starts OVS with the package's own ``ovs-ctl`` when nothing answers, and on the way
out removes the bridges that appeared meanwhile, stops OVS and removes the system-id file and the
userspace datapath's tap it left, so the machine is as it was. An OVS that was already running is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.integration.fabric_helpers import link_exists
from tests.integration.rig import run, wait_until

OVS_CTL = Path("/usr/share/openvswitch/scripts/ovs-ctl")
SYSTEM_ID = Path("/etc/openvswitch/system-id.conf")
NETDEV_TAP = "ovs-netdev"  # the userspace datapath's own tap; it outlives ovs-vswitchd


def ovs_answers() -> bool:
    return run(["ovs-vsctl", "--timeout=2", "show"], check=False, timeout=10).returncode == 0


def _bridges() -> set[str]:
    return set(run(["ovs-vsctl", "--timeout=10", "list-br"]).stdout.split())


@contextlib.contextmanager
def host_ovs() -> Iterator[None]:
    if ovs_answers():
        yield
        return
    had_system_id = SYSTEM_ID.exists()
    had_tap = link_exists(NETDEV_TAP)
    run([str(OVS_CTL), "--system-id=random", "--no-monitor", "start"], timeout=120)
    wait_until(ovs_answers, 30, 0.2, what="the host's Open vSwitch answering")
    before = _bridges()
    try:
        yield
    finally:
        if ovs_answers():
            for bridge in sorted(_bridges() - before):
                run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", bridge], check=False)
        run([str(OVS_CTL), "stop"], check=False, timeout=120)
        if not had_system_id:
            SYSTEM_ID.unlink(missing_ok=True)
        if not had_tap and link_exists(NETDEV_TAP):
            run(["ip", "link", "del", NETDEV_TAP], check=False)
