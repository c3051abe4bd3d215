"""OVSDB adapter: bridges and ports as ovsdbapp transactions.

The ``OvsBackend`` protocol is what the driver needs; ``OvsdbBackend`` speaks to a real
``ovsdb-server``; ``tests/unit/fakes.py`` keeps the same state in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Imported at module level on purpose: the ovs library imports eventlet, and importing eventlet
# from a worker thread leaves that thread unjoinable, so asyncio.run() would hang on exit.
from ovsdbapp.backend.ovs_idl import connection, idlutils
from ovsdbapp.schema.open_vswitch import impl_idl

from dovesnap.errors import BackendError
from dovesnap.plan.bridge import BridgePlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OvsPort:
    name: str
    ofport: int | None
    external_ids: Mapping[str, str] = field(default_factory=dict)
    type: str = ""


@dataclass(frozen=True)
class OvsBridge:
    name: str
    external_ids: Mapping[str, str] = field(default_factory=dict)
    datapath_type: str = ""


class OvsBackend(Protocol):
    def ensure_bridge(self, plan: BridgePlan) -> None: ...
    def delete_bridge(self, name: str) -> None: ...
    def bridges(self) -> list[OvsBridge]: ...
    def set_bridge_external_ids(self, name: str, ids: Mapping[str, str]) -> None: ...
    def add_port(
        self, bridge: str, ifname: str, ofport: int, external_ids: Mapping[str, str]
    ) -> int: ...
    def delete_port(self, bridge: str, ifname: str) -> None: ...
    def ports(self, bridge: str) -> list[OvsPort]: ...
    def set_port_external_ids(self, ifname: str, external_ids: Mapping[str, str]) -> None: ...


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, int) and value >= 0:
        return value
    return None


class OvsdbBackend:
    """OvsBackend over ovsdbapp; all calls are blocking (run them in a thread from asyncio)."""

    def __init__(
        self,
        remote: str,
        timeout: float = 10.0,
        on_change: Callable[[str, str, str], None] | None = None,
    ) -> None:
        on_change_cb = on_change

        class _WatchingIdl(connection.OvsdbIdl):  # type: ignore[misc]
            def notify(self, event: str, row: Any, updates: Any = None) -> None:
                if on_change_cb is not None:
                    try:
                        on_change_cb(event, row._table.name, getattr(row, "name", ""))
                    except Exception:  # a callback bug must never stop the IDL thread
                        log.exception("OVSDB change callback failed")

        try:
            helper = idlutils.get_schema_helper(remote, "Open_vSwitch")
            for table in ("Open_vSwitch", "Bridge", "Port", "Interface", "Controller"):
                helper.register_table(table)
            idl = _WatchingIdl(remote, helper)
            self._conn = connection.Connection(idl=idl, timeout=timeout)
            self.api = impl_idl.OvsdbIdl(self._conn)
        except Exception as err:
            raise BackendError(
                f"cannot reach OVSDB at {remote}: {err}",
                "start Open vSwitch (dovesnap serve starts its own if none answers)",
            ) from None
        self._lock = threading.Lock()

    def close(self) -> None:
        try:
            self._conn.stop(timeout=2)
        except Exception:  # closing is best effort
            log.debug("closing OVSDB connection failed", exc_info=True)

    def _run(self, what: str, build: Callable[[Any], None]) -> None:
        try:
            with self._lock, self.api.transaction(check_error=True) as txn:
                build(txn)
        except BackendError:
            raise
        except Exception as err:
            raise BackendError(f"OVS refused to {what}: {err}") from None

    def ensure_bridge(self, plan: BridgePlan) -> None:
        other_config: dict[str, str] = {"datapath-id": plan.datapath_id}
        if plan.hwaddr:
            other_config["hwaddr"] = plan.hwaddr

        def build(txn: Any) -> None:
            txn.add(self.api.add_br(plan.name, may_exist=True, datapath_type=plan.datapath_type))
            txn.add(self.api.db_set(
                "Bridge", plan.name,
                ("stp_enable", False),
                ("other_config", other_config),
                ("external_ids", dict(plan.external_ids)),
                ("datapath_type", plan.datapath_type),
            ))
            txn.add(self.api.set_fail_mode(plan.name, "secure"))
            txn.add(self.api.set_controller(plan.name, list(plan.controllers)))
            txn.add(self.api.db_set("Interface", plan.name, ("mtu_request", plan.mtu)))

        self._run(f"create bridge {plan.name}", build)
        # Reconnect to a restarted controller within a second instead of OVS's default 8 s.
        controllers = self.api.db_get("Bridge", plan.name, "controller").execute(check_error=True)
        if controllers:

            def tune(txn: Any) -> None:
                for uuid in controllers:
                    txn.add(self.api.db_set("Controller", uuid, ("max_backoff", 1000)))

            self._run("tune controller backoff", tune)

    def delete_bridge(self, name: str) -> None:
        self._run(f"delete bridge {name}", lambda txn: txn.add(self.api.del_br(name)))

    def bridges(self) -> list[OvsBridge]:
        rows = self.api.db_list(
            "Bridge", columns=["name", "external_ids", "datapath_type"]
        ).execute(check_error=True)
        return [
            OvsBridge(r["name"], dict(r["external_ids"]), r["datapath_type"]) for r in rows
        ]

    def set_bridge_external_ids(self, name: str, ids: Mapping[str, str]) -> None:
        def build(txn: Any) -> None:
            for key, value in ids.items():
                txn.add(self.api.br_set_external_id(name, key, value))

        self._run(f"label bridge {name}", build)

    def add_port(
        self, bridge: str, ifname: str, ofport: int, external_ids: Mapping[str, str]
    ) -> int:
        def build(txn: Any) -> None:
            txn.add(self.api.add_port(bridge, ifname, may_exist=True))
            txn.add(self.api.db_set(
                "Interface", ifname,
                ("ofport_request", ofport),
                ("external_ids", dict(external_ids)),
            ))
            txn.add(self.api.db_set("Port", ifname, ("external_ids", dict(external_ids))))

        self._run(f"add port {ifname} to {bridge}", build)
        got = _int_or_none(
            self.api.db_get("Interface", ifname, "ofport").execute(check_error=True)
        )
        if got is None:
            error = self.api.db_get("Interface", ifname, "error").execute(check_error=True)
            raise BackendError(f"OVS could not attach {ifname} to {bridge}: {error}")
        return got

    def set_port_external_ids(self, ifname: str, external_ids: Mapping[str, str]) -> None:
        """Replace a port's external_ids (on its Interface and Port rows, as add_port sets them)."""

        def build(txn: Any) -> None:
            for table in ("Interface", "Port"):
                txn.add(self.api.db_set(table, ifname, ("external_ids", dict(external_ids))))

        self._run(f"record settings of port {ifname}", build)

    def delete_port(self, bridge: str, ifname: str) -> None:
        self._run(
            f"delete port {ifname}",
            lambda txn: txn.add(self.api.del_port(ifname, bridge=bridge, if_exists=True)),
        )

    def ports(self, bridge: str) -> list[OvsPort]:
        names = self.api.list_ifaces(bridge).execute(check_error=True)
        if not names:
            return []
        rows = self.api.db_list(
            "Interface", names, columns=["name", "ofport", "external_ids", "type"],
            if_exists=True,
        ).execute(check_error=True)
        return [
            OvsPort(r["name"], _int_or_none(r["ofport"]), dict(r["external_ids"]), r["type"])
            for r in rows
        ]
