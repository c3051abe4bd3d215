"""Fan out OVSDB change notifications (from the IDL thread) to the features that want them.

``OvsdbBackend(on_change=relay.notify)`` is built before the features exist, so the daemon hands
the backend this relay and features subscribe later. Subscribers run in the IDL thread: they must
only hand work to the event loop (``loop.call_soon_threadsafe``) and return.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[str, str, str], None]  # (event, table, row name)


class OvsChanges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def notify(self, event: str, table: str, name: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event, table, name)
            except Exception:  # one feature's bug must not starve the others
                log.exception("OVSDB change subscriber failed")
