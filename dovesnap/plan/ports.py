"""OpenFlow port choice: the lowest free port, honouring requests and reservations."""

from __future__ import annotations

from collections.abc import Iterable

from dovesnap.model.options import MAX_OFPORT_REQUEST


def lowest_free_ofport(
    used: Iterable[int], reserved: Iterable[int] = (), start: int = 1
) -> int:
    """The lowest OpenFlow port number >= ``start`` not in ``used`` nor ``reserved``."""
    taken = set(used) | set(reserved)
    port = start
    while port in taken:
        port += 1
    if port > MAX_OFPORT_REQUEST:
        raise ValueError("no free OpenFlow port left on the bridge")
    return port


def choose_ofport(requested: int | None, used: Iterable[int], reserved: Iterable[int] = ()) -> int:
    """The requested port if it is free, else the lowest free one."""
    taken = set(used) | set(reserved)
    if requested is not None and requested not in taken:
        return requested
    return lowest_free_ofport(taken)


def preallocated_ports(count: int, taken: Iterable[int], reserved: Iterable[int] = ()) -> list[int]:
    """The ``count`` lowest OpenFlow port numbers not in ``taken`` nor ``reserved``: where a
    network's preallocated ports go once its add_ports are placed."""
    skip = set(taken) | set(reserved)
    ports: list[int] = []
    port = 1
    while len(ports) < count and port <= MAX_OFPORT_REQUEST:
        if port not in skip:
            ports.append(port)
        port += 1
    return ports
