"""Connection tracking: forget the connections of a subnet or an address (pyroute2).

A network that goes away leaves conntrack entries behind; a later network that reuses the subnet
(Docker hands out the same pool again) would inherit them, e.g. a ping that never got an answer on
a ``routed`` network keeps its un-NATed entry alive on the ``nat`` network that follows. Blocking;
run in a worker thread (pyroute2's sync sockets run their own event loop).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Protocol

from pyroute2 import Conntrack

log = logging.getLogger(__name__)


class ConntrackBackend(Protocol):
    def forget(self, network: str) -> int: ...


def _touches(entry: Any, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    for side in (entry.tuple_orig, entry.tuple_reply):
        for address in (side.saddr, side.daddr):
            try:
                if address and ipaddress.ip_address(address) in net:
                    return True
            except ValueError:
                continue
    return False


class PyRoute2Conntrack:
    def forget(self, network: str) -> int:
        """Delete every tracked connection to or from ``network``; return how many."""
        net = ipaddress.ip_network(network, strict=False)
        removed = 0
        ct = Conntrack()
        try:
            doomed = [e for e in ct.dump_entries() if _touches(e, net)]
            for entry in doomed:
                try:
                    ct.delete(entry)
                    removed += 1
                except Exception as err:  # it may have expired meanwhile
                    log.debug("conntrack entry not deleted: %s", err)
        finally:
            ct.close()
        return removed
