"""Netlink change notifications: tell a callback when an address goes or a link (re)appears.

Used to put a gateway address back on a bridge when someone deletes it or OVS recreates the
bridge's interface. The callback runs in the watcher's own thread; it must hand work over to the
event loop (``loop.call_soon_threadsafe``) and return quickly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

log = logging.getLogger(__name__)

WATCHED_EVENTS = ("RTM_DELADDR", "RTM_NEWLINK")


class LinkWatch:
    """A daemon thread reading rtnetlink multicast groups; ``on_change(ifname or None)``."""

    def __init__(self, on_change: Callable[[str | None], None]) -> None:
        self._on_change = on_change
        self._stop = threading.Event()
        self._ipr: IPRoute | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        # pyroute2's sync IPRoute runs its own event loop: make it in the watch thread.
        self._thread = threading.Thread(target=self._loop, name="dovesnap-linkwatch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            self._ipr = IPRoute()
            self._ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        except Exception as err:
            log.warning("cannot watch netlink; gateway addresses are not restored: %s", err)
            return
        while not self._stop.is_set():
            try:
                messages = self._ipr.get()
            except Exception as err:  # the socket was closed, or netlink overran
                if self._stop.is_set():
                    return
                log.debug("netlink watch: %s", err)
                continue
            for msg in messages:
                if msg.get("event") not in WATCHED_EVENTS:
                    continue
                name = msg.get_attr("IFLA_IFNAME") or msg.get_attr("IFA_LABEL")
                try:
                    self._on_change(name if isinstance(name, str) else None)
                except Exception:  # a callback bug must not end the watch
                    log.exception("netlink change callback failed")

    def close(self) -> None:
        self._stop.set()
        if self._ipr is not None:
            try:
                self._ipr.close()
            except Exception:  # closing is best effort
                log.debug("closing netlink watch failed", exc_info=True)
