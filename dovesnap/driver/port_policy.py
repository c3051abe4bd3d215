"""The operator changes a running container's port: its ACL and mirroring, no restart needed.

``dovesnap acl set`` and ``dovesnap mirror`` (through the status server's ``POST /policy``) land
here. The change is kept in the port's OVS external_ids, so a restarted dovesnap applies it
again, and lasts as long as the attachment: a container that restarts, or is connected again,
starts from its labels and endpoint options once more. The answer is what the FAUCET config now
holds for the port, read back after the write, not what was asked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dovesnap.blocking import run_blocking
from dovesnap.driver.attach import read_labels
from dovesnap.driver.bridges import endpoint_port_ids
from dovesnap.driver.state import Endpoint, Network
from dovesnap.errors import ConflictError, NotFoundError
from dovesnap.model.port_policy import POLICY_OPTIONS

if TYPE_CHECKING:
    from dovesnap.driver.core import Driver

log = logging.getLogger(__name__)

MIN_ID_PREFIX = 4  # the shortest container or network id prefix accepted


@dataclass(frozen=True)
class PolicyChange:
    """``acls``/``mirror`` to set (None: leave as is); ``clear``: settings to hand back to the
    labels and endpoint options ("acls", "mirror")."""

    acls: tuple[str, ...] | None = None
    mirror: bool | None = None
    clear: tuple[str, ...] = ()


def _matches(name: str, ident: str, wanted: str) -> bool:
    return wanted == name or (len(wanted) >= MIN_ID_PREFIX and ident.startswith(wanted))


def find_ports(networks: Iterable[Network], container: str,
               network: str | None = None) -> list[tuple[Network, Endpoint]]:
    """The ports of ``container`` (name or id prefix) on ``network`` (name or id prefix), or on
    its one dovesnap network; NotFoundError or ConflictError saying what to give instead."""
    found = [
        (net, ep) for net in networks for ep in net.endpoints.values()
        if ep.container is not None and _matches(ep.container.name, ep.container.id, container)
        and (network is None or _matches(net.name or "", net.network_id, network))
    ]
    if not found:
        where = f" on network {network}" if network else ""
        raise NotFoundError(f"no running container {container} on a dovesnap network{where}",
                            "give its name or id as docker ps shows it, and the network's name")
    if len({ep.container.id for _, ep in found if ep.container is not None}) > 1:
        raise ConflictError(f"{container} names more than one container",
                            "give the full name or a longer id")
    if len(found) > 1:
        names = ", ".join(sorted(net.name or net.network_id[:12] for net, _ in found))
        raise ConflictError(f"container {container} is on several dovesnap networks ({names})",
                            "name the network too")
    return found


def _in_force(config: Mapping[str, Any], net: Network, ep: Endpoint) -> dict[str, Any]:
    """What FAUCET's config says of the port: its acls_in, and whether a mirror port copies it."""
    dp = ((config.get("dps") or {}).get(net.name or "") or {})
    interfaces: Mapping[Any, Any] = dp.get("interfaces") or {}
    iface = interfaces.get(ep.ofport) or {}
    mirrored = any(ep.ofport in (other.get("mirror") or []) for other in interfaces.values()
                   if isinstance(other, Mapping))
    return {"acls_in": list(iface.get("acls_in") or []), "mirrored": mirrored,
            "configured": ep.ofport in interfaces}


def port_report(net: Network, ep: Endpoint, config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Network": net.name or "",
        "NetworkID": net.network_id,
        "Container": ep.container.name if ep.container else "",
        "EndpointID": ep.endpoint_id,
        "OFPort": ep.ofport,
        "OperatorPolicy": ep.operator.as_dict(),
        "EndpointOptions": {k: v for k, v in ep.kept_options.items() if k in POLICY_OPTIONS},
        "InForce": _in_force(config, net, ep),
        "FailClosed": ep.fail_closed or "",
    }


async def change_policy(driver: Driver, container: str, network: str | None,
                        change: PolicyChange) -> list[dict[str, Any]]:
    """Apply ``change`` to the container's port(s), record it, write the DP; the reports."""
    ports: Sequence[tuple[Network, Endpoint]] = find_ports(driver.networks.values(), container,
                                                           network)
    reports = []
    for net, ep in ports:
        async with net.lock:
            if net.endpoints.get(ep.endpoint_id) is not ep or ep.container is None:
                raise NotFoundError(f"container {container} left while its port was changed")
            ep.operator = ep.operator.changed(change.acls, change.mirror, change.clear)
            ids = endpoint_port_ids(net.network_id, ep.endpoint_id, ep.policy_ids())
            await run_blocking(driver.ovs.set_port_external_ids, ep.host_ifname, ids)
            if ep.fail_closed is not None and ep.fail_closed == ep.policy_refusal:
                ep.fail_closed = None  # closed for its old policy: decide again on the new one
            ep.policy_refusal = None
            read_labels(ep, ep.container, net.name)
            await driver.sync_dp(net)
            log.info("port %d of %s on %s: operator policy now %s", ep.ofport, ep.container.name,
                     net.name, ep.operator)
            config = await run_blocking(driver.faucet.read)
            reports.append(port_report(net, ep, config))
    return reports
