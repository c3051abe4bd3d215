"""The features plugged into the driver, in the order their hooks run (one line each).

``build_features`` is called once the driver exists; the daemon then attaches the list with
``Driver.attach_hooks``.
"""

from __future__ import annotations

from dovesnap.adapters.conntrack import PyRoute2Conntrack
from dovesnap.adapters.host_sockets import bound_sockets
from dovesnap.adapters.iptables import Iptables
from dovesnap.adapters.netlink_watch import LinkWatch
from dovesnap.adapters.sysctl import ProcSysctl
from dovesnap.driver.context import FeatureContext
from dovesnap.driver.hooks import Hooks
from dovesnap.features.dhcp.clients import ProcessLauncher, find_program
from dovesnap.features.dhcp.container_netns import KernelContainerNetns
from dovesnap.features.dhcp.events import FifoReader
from dovesnap.features.dhcp.hooks import DhcpHooks
from dovesnap.features.dhcp.plan import RunPaths
from dovesnap.features.dhcp_guard.hooks import DhcpGuardHooks
from dovesnap.features.events import EventHooks
from dovesnap.features.external_ports.hooks import ExternalPortsHooks
from dovesnap.features.fabric.hooks import fabric_hooks
from dovesnap.features.nat.hooks import NatHooks
from dovesnap.features.spare_ports.hooks import SparePortsHooks


def build_features(ctx: FeatureContext) -> list[Hooks]:
    hooks: list[Hooks] = []
    # --spare-ports: placeholders kept free on every network, refilled in the background
    hooks.append(SparePortsHooks(ctx.spare_ports, ctx.driver))
    hooks.append(NatHooks(ctx.netlink, Iptables(), ProcSysctl(), LinkWatch, PyRoute2Conntrack(),
                          host_sockets=bound_sockets))
    hooks.append(ExternalPortsHooks(ctx.ovs, ctx.netlink, ctx.driver, ctx.ovs_changes))
    hooks.extend(fabric_hooks(ctx))  # mirror bridge, stacking, stack mirroring
    hooks.append(DhcpHooks(  # udhcpc per container on DHCP networks
        RunPaths(ctx.state_dir / "dhcp"), ProcessLauncher(), KernelContainerNetns(ctx.docker_url),
        FifoReader(), find_program(), ctx.publish,
    ))
    hooks.append(DhcpGuardHooks())  # ovs.bridge.dhcp_guard: container ports drop DHCP offers
    hooks.append(EventHooks(ctx.publish))  # events: keep last, it reports what the others did
    return hooks
