"""In-memory view of the networks and endpoints dovesnap serves.

Nothing here is the source of truth: all of it can be rebuilt from Docker, OVS (external_ids on
bridges and ports) and the FAUCET config after a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.model.labels import ContainerLabels
from dovesnap.model.names import container_description
from dovesnap.model.network import NetworkSpec
from dovesnap.model.port_policy import PortSettings, kept_options, policy_external_ids
from dovesnap.plan.faucet_dp import ContainerPort, DpInputs, ExternalPort
from dovesnap.plan.operator_dp import OperatorDp

# A container port's state, as the status JSON, page, ``dovesnap status`` and metrics show it.
PORT_OK = "ok"  # FAUCET has installed the port's flows
PORT_PENDING = "pending"  # on its way: the container or FAUCET has not got there yet
PORT_FAIL_CLOSED = "fail-closed"  # cut off on purpose: its own policy is bad or unknown
PORT_NOT_APPLIED = "not-applied"  # FAUCET has not installed it, and says (or we say) why


@dataclass
class Endpoint:
    endpoint_id: str
    network_id: str
    host_ifname: str
    container_ifname: str
    ofport: int
    mac: str
    address: str | None = None  # IPv4, "a.b.c.d/len"
    address_ipv6: str | None = None  # "x::y/len": Docker's IPAM, or SLAAC on a DHCP network
    sandbox_key: str | None = None
    joined: bool = False
    awaiting_join: bool = False  # made by CreateEndpoint here, Join not come yet
    container: ContainerInfo | None = None
    labels: ContainerLabels | None = None
    fail_closed: str | None = None
    attach_task: asyncio.Task[None] | None = None
    # Docker's CreateEndpoint options (port mappings ...), and room for features' own state.
    options: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    # Set from Docker's "network connect" event: which container this endpoint belongs to.
    container_hint: str | None = None
    hinted: asyncio.Event = field(default_factory=asyncio.Event)
    # The policy known at Join, before Docker names the container: every container that could
    # be joining has these labels (driver/join_policy.py). None: unknown, so the port is closed.
    known_policy: ContainerLabels | None = None
    pending_description: str = ""
    # What FAUCET made of the port (PORT_* above), and why when it is not ok.
    state: str = PORT_PENDING
    state_reason: str = "waiting for the container"
    # Taken out of FAUCET's config for a moment, to be put back (driver/reinstall.py).
    withheld: bool = False

    def port_state(self) -> tuple[str, str]:
        """``(state, reason)`` now: failing closed shows at once; the rest is what the last
        check of FAUCET found (``driver/faucet_health.py``)."""
        if self.fail_closed:
            return PORT_FAIL_CLOSED, self.fail_closed
        if self.state == PORT_FAIL_CLOSED:
            return PORT_PENDING, "waiting for FAUCET"
        return self.state, self.state_reason
    # What the operator set on this port while it runs (dovesnap acl set / mirror).
    operator: PortSettings = field(default_factory=PortSettings)
    # When the port is closed because of its policy (a malformed label or option, an ACL FAUCET
    # refuses): that reason, so a change of policy decides again (other reasons stay).
    policy_refusal: str | None = None

    @property
    def kept_options(self) -> dict[str, str]:
        """The endpoint options dovesnap keeps (its own keys, the interface name)."""
        return kept_options(self.options)

    def policy_ids(self) -> dict[str, str]:
        """The OVS external_ids that remember its endpoint options and operator settings."""
        return policy_external_ids(self.kept_options, self.operator)

    def as_port(self) -> ContainerPort:
        if self.withheld:
            return ContainerPort(self.ofport, "", labels_known=False)
        if self.container is None:
            policy = self.known_policy
            if policy is None or self.fail_closed:
                return ContainerPort(self.ofport, "", fail_closed=self.fail_closed,
                                     labels_known=False,
                                     awaiting_join=self.awaiting_join and not self.fail_closed)
            return ContainerPort(self.ofport, self.pending_description, acls=policy.acls,
                                 mirror=policy.mirror)
        labels = self.labels or ContainerLabels()
        return ContainerPort(
            ofport=self.ofport,
            description=container_description(self.container.name, self.container.id),
            acls=labels.acls,
            mirror=labels.mirror,
            fail_closed=self.fail_closed,
            labels_known=self.labels is not None or self.fail_closed is not None,
        )


@dataclass
class Network:
    spec: NetworkSpec
    userspace: bool
    name: str | None = None
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    externals: dict[str, ExternalPort] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    named: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None  # why dovesnap could not write the network's DP
    faucet_error: str | None = None  # why FAUCET does not run the DP that is written
    # Room for features' own state (NAT rules applied, DHCP clients ...), keyed by feature.
    extras: dict[str, Any] = field(default_factory=dict)
    # The operator's DP with this network's dp_id, found when the network was created: merged
    # into once the network turns out to have its name, put back when the network goes.
    operator_dp: OperatorDp | None = None
    # True while FAUCET's config cannot get this network's DP (another DP has its dp_id or its
    # name): the bridge then stays away from FAUCET, which would run that other DP on it.
    dp_refused: bool = False

    @property
    def network_id(self) -> str:
        return self.spec.network_id

    @property
    def bridge(self) -> str:
        return self.spec.bridge_name

    def dp_inputs(self, mirror_port: bool = False) -> DpInputs:
        return DpInputs(
            spec=self.spec,
            name=self.name or self.network_id,
            containers=tuple(ep.as_port() for ep in self.endpoints.values()),
            externals=tuple(self.externals.values()),
            mirror_port=mirror_port,
            reserved_ports=self.operator_dp.ports() if self.operator_dp else frozenset(),
        )


def oper_info(net: Network, ep: Endpoint) -> dict[str, Any]:
    """What EndpointOperInfo answers for an endpoint (Docker shows it in ``network inspect -v``)."""
    return {
        "BridgeName": net.bridge,
        "HostInterface": ep.host_ifname,
        "ContainerInterface": ep.container_ifname,
        "OFPort": ep.ofport,
        "MacAddress": ep.mac,
        "Address": ep.address or "",
        "AddressIPv6": ep.address_ipv6 or "",
        "FailClosed": ep.fail_closed or "",
    }
