"""Host interfaces on a network bridge: where ``add_ports`` go, and which ports came by hand.

Pure: OVS rows in, decisions out. A port is dovesnap's own when any ``dovesnap-*`` external id
marks it (container veths, ``add_ports``, patch links ...), when it is the bridge's LOCAL port,
an OVS patch port, or has exactly one of the names dovesnap gives its veths and patch links
(``odsve`` + 5 hex digits, ``ods`` + 12 hex digits); every other port with an OpenFlow number is
one someone added by hand, whatever its name starts with (``odshand1`` included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from dovesnap.model.names import EXT_ROLE, is_own_port_name
from dovesnap.model.options import PortRequest
from dovesnap.plan.faucet_dp import ExternalPort
from dovesnap.plan.ports import choose_ofport

EXT_PREFIX = "dovesnap-"
ROLE_ADD_PORT = "add_port"
ROLE_COPRO_PORT = "copro_port"
SKIPPED_TYPES = ("patch",)


class PortRow(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ofport(self) -> int | None: ...
    @property
    def external_ids(self) -> Mapping[str, str]: ...
    @property
    def type(self) -> str: ...


def role_of(request: PortRequest) -> str:
    return ROLE_COPRO_PORT if request.coprocessor else ROLE_ADD_PORT


def is_dovesnaps(port: PortRow, bridge: str) -> bool:
    return (
        port.name == bridge
        or is_own_port_name(port.name)
        or port.type in SKIPPED_TYPES
        or any(key.startswith(EXT_PREFIX) for key in port.external_ids)
    )


def hand_added(ports: Iterable[PortRow], bridge: str) -> dict[str, ExternalPort]:
    """Ports someone added to ``bridge`` by hand, as FAUCET interfaces on the network VLAN."""
    found: dict[str, ExternalPort] = {}
    for port in ports:
        if is_dovesnaps(port, bridge) or not port.ofport or port.ofport <= 0:
            continue  # no OpenFlow number yet: OVS assigns it in a moment and tells us again
        found[port.name] = ExternalPort(port.ofport, port.name)
    return found


def attach_plan(
    requests: Iterable[PortRequest], used: Iterable[int], reserved: Iterable[int] = ()
) -> list[tuple[PortRequest, int]]:
    """OpenFlow port for each request: the one asked for if free, else the lowest free one.

    Ports asked for by a later request are kept free for it; ``reserved`` (the mirror port ...)
    is never handed out unless asked for by name.
    """
    requests = list(requests)
    taken = set(used)
    asked = {r.ofport for r in requests if r.ofport}
    plan: list[tuple[PortRequest, int]] = []
    for request in requests:
        others = (asked - {request.ofport}) | set(reserved) - {request.ofport}
        ofport = choose_ofport(request.ofport, taken, others)
        taken.add(ofport)
        plan.append((request, ofport))
    return plan


def as_external(request: PortRequest, ofport: int) -> ExternalPort:
    return ExternalPort(ofport, request.ifname, request.acl, request.vlan, request.coprocessor)


def attached_requests(
    ports: Iterable[PortRow], requests: Iterable[PortRequest]
) -> dict[str, ExternalPort]:
    """The requested interfaces OVS has on the bridge (after a restart), as FAUCET ports."""
    by_name = {p.name: p for p in ports}
    found: dict[str, ExternalPort] = {}
    for request in requests:
        port = by_name.get(request.ifname)
        if port is None or not port.ofport or port.ofport <= 0:
            continue
        if port.external_ids.get(EXT_ROLE) != role_of(request):
            continue
        found[request.ifname] = as_external(request, port.ofport)
    return found
