"""``dovesnap cleanup``: remove everything dovesnap made on this host.

Bridges (network, mirror, stacking, loopback) that carry dovesnap's external_ids, the veths and
patch links attached to them or left orphaned (only interfaces of kind veth whose names match
dovesnap's patterns exactly: ``odsve``/``ethc`` + 5-10 hex digits, ``ods`` + 12), the FAUCET DPs
of those networks (an operator's pre-seeded DP is put back as the operator wrote it), and
dovesnap's iptables rules. Containers and Docker networks are touched only with ``--docker``.
The plan is computed first (pure, printable with ``--dry-run``), then applied.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dovesnap import config
from dovesnap.errors import DovesnapError
from dovesnap.model.names import (
    CONTAINER_VETH_RE,
    EXT_DRIVER,
    EXT_NETWORK_ID,
    EXT_OPERATOR_DP,
    EXT_ROLE,
    EXT_SPEC,
    HOST_VETH_RE,
    PATCH_RE,
    STAND_IN_RE,
)
from dovesnap.plan.daemon_bridges import ROLE_STACK_BRIDGE
from dovesnap.plan.operator_dp import OperatorDp, restore_dp

log = logging.getLogger(__name__)

VETH_KIND = "veth"


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
    # Pre-seeded DPs of networks, as the operator wrote them: put back, not removed.
    operator_dps: list[OperatorDp] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"bridges": self.bridges, "links": self.links, "networks": self.network_ids,
                "faucet_dp_ids": [hex(d) for d in self.dp_ids], "stack_dps": self.stack_dps,
                "operator_dps_restored": [dp.name for dp in self.operator_dps]}


def is_dovesnap_veth(name: str, kind: str, patch: bool = False) -> bool:
    """A veth with a name dovesnap gives (container sides; patch links with ``patch``)."""
    if kind != VETH_KIND:
        return False
    patterns = (HOST_VETH_RE, CONTAINER_VETH_RE, STAND_IN_RE, PATCH_RE) if patch else (
        HOST_VETH_RE, CONTAINER_VETH_RE, STAND_IN_RE)
    return any(p.match(name) for p in patterns)


def plan_cleanup(
    bridges: Iterable[BridgeFacts], links: Mapping[str, str], driver_names: set[str] | None
) -> CleanupPlan:
    """What to remove. ``links`` maps the host's interface names to their kind (``veth``...);
    only veths with dovesnap's exact names are taken. ``driver_names`` None means every
    dovesnap instance's objects."""
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
        if bridge.external_ids.get(EXT_OPERATOR_DP):
            try:
                plan.operator_dps.append(OperatorDp.decode(bridge.external_ids[EXT_OPERATOR_DP]))
            except DovesnapError as err:
                log.warning("bridge %s: %s", bridge.name, err.what)
        # Only veths dovesnap names: a port added by hand (``odshand1``) is the operator's.
        plan.links.extend(
            p for p in bridge.ports
            if p != bridge.name and is_dovesnap_veth(p, links.get(p, ""), patch=True)
        )
    ours = set(plan.bridges)
    for link, kind in links.items():
        orphan = link not in attached and link not in ours
        if orphan and is_dovesnap_veth(link, kind):
            plan.links.append(link)  # a veth end whose port or container is gone
    plan.links = sorted(set(plan.links))
    return plan


def remove_dps(config: Mapping[str, Any], dp_ids: Iterable[int],
               operator_dps: Iterable[OperatorDp] = ()) -> dict[str, Any]:
    """Pure: the config without the DPs whose dp_id is listed; an operator's pre-seeded DP
    among them is put back as the operator wrote it instead."""
    wanted = set(dp_ids)
    new: dict[str, Any] = copy.deepcopy(config)  # type: ignore[arg-type]
    seeded = {dp.name: dp for dp in operator_dps}
    dps = new.get("dps")
    if isinstance(dps, MutableMapping):
        for name in [k for k, v in dps.items() if isinstance(v, Mapping) and v.get("dp_id") in wanted]:
            if name in seeded:
                new = dict(restore_dp(new, seeded[name]))
                dps = new["dps"]
            else:
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
              "(make down) or pass --force")
        return 1
    netlink = PyRoute2Netlink()
    links = netlink.link_kinds()
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
    removed = _remove_faucet_dps(args, plan.dp_ids, plan.stack_dps, plan.operator_dps)
    if ovs is not None:
        ovs.close()
    return 0 if removed else 1


def _remove_rules(network_ids: list[str]) -> None:
    from dovesnap.adapters.iptables import Iptables
    from dovesnap.plan.firewall import network_tag

    tables = Iptables()
    for net_id in network_ids:
        removed = tables.remove_owned(network_tag(net_id))
        if removed:
            print(f"removed {removed} iptables rules of network {net_id[:12]}")


def _remove_faucet_dps(args: argparse.Namespace, dp_ids: list[int], stack_dps: list[str],
                       operator_dps: list[OperatorDp]) -> bool:
    """From faucet.yaml in the config dir, or through faucetconfrpc when a server is named."""
    import asyncio

    from dovesnap.adapters.faucet_config import FaucetConfigStore
    from dovesnap.adapters.faucet_rpc import RemoteFaucetConfig
    from dovesnap.adapters.faucet_store import FaucetStore
    from dovesnap.adapters.faucetconfrpc_client import FaucetConfRpcClient
    from dovesnap.errors import FaucetConfigUnavailable
    from dovesnap.features.fabric.stack_plan import strip_stack

    rpc = config.faucetconfrpc_settings(args)
    path = args.faucet_config_dir / "faucet.yaml"
    if not (dp_ids or stack_dps) or (rpc is None and not path.exists()):
        return True

    def edit(config: Mapping[str, Any]) -> Mapping[str, Any]:
        for stack_dp in stack_dps:  # the stacking DP, links to it, mirror tunnels and their ACLs
            config = strip_stack(config, stack_dp)
        return remove_dps(config, dp_ids, operator_dps)

    # No running FAUCET to tell (the daemon is stopped); no validation needed for a removal.
    store: FaucetStore
    if rpc is None:
        store = FaucetConfigStore(path, lambda _path: None, lambda: None)
    else:
        client = FaucetConfRpcClient(rpc)
        store = RemoteFaucetConfig(client, lambda _path: None)
    try:
        asyncio.run(store.update(edit))
    except FaucetConfigUnavailable as err:
        print(f"cannot remove dovesnap's DPs from FAUCET's config: {err.message}")
        return False
    finally:
        if rpc is not None:
            client.close()
    return True


DOCKER_REMOVE_TIMEOUT = 120  # seconds


def _remove_docker_objects(docker_url: str, network_ids: list[str]) -> None:
    import docker.errors
    import requests

    from dovesnap.adapters.docker_api import EngineApi

    # The API version dovesnap negotiates, as the daemon does. Removing a container of a stopped
    # plugin's network waits while dockerd retries the plugin (about 15 s): allow for that.
    client = EngineApi(docker_url, timeout=DOCKER_REMOVE_TIMEOUT)
    try:
        for net_id in network_ids:
            for summary in client.containers(all=True, filters={"network": net_id}):
                try:
                    client.remove_container(summary["Id"], force=True)
                except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
                    print(f"cannot remove container {summary['Id'][:12]}: {err}")
            try:
                client.remove_network(net_id)
            except docker.errors.DockerException as err:
                print(f"cannot remove Docker network {net_id[:12]}: {err}")
    finally:
        client.close()
