"""``dovesnap cleanup``: remove everything dovesnap made on this host.

Bridges (network, mirror, stacking, loopback) that carry dovesnap's external_ids, the veths and
patch links attached to them or left orphaned, the FAUCET DPs of those networks, and dovesnap's
iptables rules. Containers and Docker networks are touched only with ``--docker``.
The plan is computed first (pure, printable with ``--dry-run``), then applied.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dovesnap import config
from dovesnap.model.names import (
    CONTAINER_VETH_PREFIX,
    EXT_DRIVER,
    EXT_NETWORK_ID,
    EXT_ROLE,
    EXT_SPEC,
    HOST_VETH_PREFIX,
    PATCH_PREFIX,
)
from dovesnap.plan.daemon_bridges import ROLE_STACK_BRIDGE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeFacts:
    name: str
    external_ids: Mapping[str, str]
    ports: tuple[str, ...] = ()


@dataclass
class CleanupPlan:
    bridges: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    network_ids: list[str] = field(default_factory=list)
    dp_ids: list[int] = field(default_factory=list)
    stack_dps: list[str] = field(default_factory=list)  # stacking bridges' FAUCET DPs

    def as_dict(self) -> dict[str, Any]:
        return {"bridges": self.bridges, "links": self.links, "networks": self.network_ids,
                "faucet_dp_ids": [hex(d) for d in self.dp_ids], "stack_dps": self.stack_dps}


def plan_cleanup(
    bridges: Iterable[BridgeFacts], links: Iterable[str], driver_names: set[str] | None
) -> CleanupPlan:
    """What to remove. ``driver_names`` None means every dovesnap instance's objects."""
    plan = CleanupPlan()
    attached: set[str] = set()
    for bridge in bridges:
        attached.update(bridge.ports)
        driver = bridge.external_ids.get(EXT_DRIVER)
        if driver is None or (driver_names is not None and driver not in driver_names):
            continue
        plan.bridges.append(bridge.name)
        if bridge.external_ids.get(EXT_ROLE) == ROLE_STACK_BRIDGE:
            plan.stack_dps.append(bridge.name)
        net_id = bridge.external_ids.get(EXT_NETWORK_ID)
        if net_id:
            plan.network_ids.append(net_id)
        spec = bridge.external_ids.get(EXT_SPEC)
        if spec:
            try:
                plan.dp_ids.append(int(json.loads(spec)["dpid"]))
            except (ValueError, KeyError, TypeError):
                log.warning("bridge %s has an unreadable spec", bridge.name)
        plan.links.extend(
            p for p in bridge.ports
            if p.startswith((HOST_VETH_PREFIX, PATCH_PREFIX)) and p != bridge.name
        )
    ours = set(plan.bridges)
    for link in links:
        orphan = link not in attached and link not in ours
        if orphan and link.startswith((HOST_VETH_PREFIX, CONTAINER_VETH_PREFIX)):
            plan.links.append(link)  # a veth end whose port or container is gone
    plan.links = sorted(set(plan.links))
    return plan


def remove_dps(config: Mapping[str, Any], dp_ids: Iterable[int]) -> dict[str, Any]:
    """Pure: the config without the DPs whose dp_id is listed."""
    wanted = set(dp_ids)
    new: dict[str, Any] = copy.deepcopy(config)  # type: ignore[arg-type]
    dps = new.get("dps")
    if isinstance(dps, dict):
        for name in [k for k, v in dps.items() if isinstance(v, Mapping) and v.get("dp_id") in wanted]:
            del dps[name]
    return new


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("cleanup", help="remove every bridge, veth, DP and rule dovesnap made")
    parser.add_argument("--driver", action="append",
                        help="only this plugin name's objects (default: every dovesnap instance)")
    config.add_flags(parser, config.CLEANUP_FLAGS)
    parser.add_argument("--docker", action="store_true",
                        help="also remove containers on dovesnap networks, and those networks")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--force", action="store_true",
                        help="even while a dovesnap daemon is serving")


def run(args: argparse.Namespace) -> int:
    from dovesnap.adapters.netlink import PyRoute2Netlink
    from dovesnap.adapters.ovsdb import OvsdbBackend
    from dovesnap.runtime.ovs import db_answers

    plugins = config.PLUGIN_DIR
    sockets = ([plugins / f"{name}.sock" for name in args.driver] if args.driver
               else sorted(plugins.glob(f"{config.DRIVER_NAME}*.sock")))
    serving = [p.name for p in sockets if p.exists()]
    if serving and not args.force and not args.dry_run:
        print(f"dovesnap: a daemon is serving ({', '.join(serving)}); stop it first "
              "(sudo make down) or pass --force")
        return 1
    netlink = PyRoute2Netlink()
    links = netlink.links_with_prefix(HOST_VETH_PREFIX) + netlink.links_with_prefix(
        CONTAINER_VETH_PREFIX) + netlink.links_with_prefix(PATCH_PREFIX)
    facts: list[BridgeFacts] = []
    db_sock: Path = args.ovs_db_sock
    ovs = OvsdbBackend(f"unix:{db_sock}") if db_answers(db_sock) else None
    if ovs is not None:
        for bridge in ovs.bridges():
            ports = tuple(p.name for p in ovs.ports(bridge.name))
            facts.append(BridgeFacts(bridge.name, bridge.external_ids, ports))
    plan = plan_cleanup(facts, links, set(args.driver) if args.driver else None)
    print(json.dumps(plan.as_dict(), indent=2))
    if args.dry_run:
        return 0
    if args.docker:
        _remove_docker_objects(args.docker_url, plan.network_ids)
    for name in plan.bridges:
        if ovs is not None:
            ovs.delete_bridge(name)
    for link in plan.links:
        netlink.delete_link(link)
    _remove_rules(plan.network_ids)
    _remove_faucet_dps(args.faucet_config_dir / "faucet.yaml", plan.dp_ids, plan.stack_dps)
    if ovs is not None:
        ovs.close()
    return 0


def _remove_rules(network_ids: list[str]) -> None:
    from dovesnap.adapters.iptables import Iptables
    from dovesnap.plan.firewall import network_tag

    tables = Iptables()
    for net_id in network_ids:
        removed = tables.remove_owned(network_tag(net_id))
        if removed:
            print(f"removed {removed} iptables rules of network {net_id[:12]}")


def _remove_faucet_dps(path: Path, dp_ids: list[int], stack_dps: list[str]) -> None:
    import asyncio

    from dovesnap.adapters.faucet_config import FaucetConfigStore
    from dovesnap.features.fabric.stack_plan import strip_stack

    if not (dp_ids or stack_dps) or not path.exists():
        return

    def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
        for stack_dp in stack_dps:  # the stacking DP, links to it, mirror tunnels and their ACLs
            config = strip_stack(config, stack_dp)
        return remove_dps(config, dp_ids)

    # No running FAUCET to tell (the daemon is stopped); no validation needed for a removal.
    store = FaucetConfigStore(path, lambda _path: None, lambda: None)
    asyncio.run(store.update(edit))


def _remove_docker_objects(docker_url: str, network_ids: list[str]) -> None:
    import docker.errors

    from dovesnap.adapters.docker_api import EngineApi

    client = EngineApi(docker_url)  # the API version dovesnap negotiates, as the daemon does
    try:
        for net_id in network_ids:
            for summary in client.containers(all=True, filters={"network": net_id}):
                client.remove_container(summary["Id"], force=True)
            try:
                client.remove_network(net_id)
            except docker.errors.DockerException as err:
                print(f"cannot remove Docker network {net_id[:12]}: {err}")
    finally:
        client.close()
