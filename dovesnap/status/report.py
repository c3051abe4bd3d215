"""The status JSON (field names kept from the Go original), built from the driver's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dovesnap.driver.hooks import Hooks
from dovesnap.driver.state import Network
from dovesnap.model.gateway import ipv4_netmask
from dovesnap.model.network import ipv6_gateway_address
from dovesnap.model.options import PerNetworkValue


def _acl_text(value: PerNetworkValue, name: str | None) -> str:
    return ",".join(value.for_network(name))


def _gateway_mask(net: Network) -> str:
    prefix = net.spec.gateway_prefixlen
    return "" if prefix is None else ipv4_netmask(prefix)


def network_status(net: Network, engine_id: str) -> dict[str, Any]:
    spec = net.spec
    containers: dict[str, Any] = {}
    for ep in net.endpoints.values():
        containers[ep.endpoint_id] = {
            "Name": ep.container.name if ep.container else "",
            "Id": ep.container.id if ep.container else "",
            "OFPort": ep.ofport,
            "MacAddress": ep.mac,
            "HostIP": (ep.address or "").split("/")[0],
            "HostIPv6": (ep.address_ipv6 or "").split("/")[0],
            "Labels": dict(ep.container.labels) if ep.container else {},
            "IfName": ep.host_ifname,
            "FailClosed": ep.fail_closed or "",
            "State": ep.port_state()[0],  # ok only when FAUCET installed the port's flows
            "StateReason": ep.port_state()[1],
            "EndpointOptions": ep.kept_options,  # --driver-opt / compose driver_opts
            "OperatorPolicy": ep.operator.as_dict(),  # dovesnap acl set / mirror
        }
    externals = {
        ext.ifname: {"Name": ext.ifname, "OFPort": ext.ofport, "MacAddress": ext.mac}
        for ext in net.externals.values()
    }
    return {
        "NetworkName": net.name or "",
        "BridgeName": spec.bridge_name,
        "BridgeDpid": spec.dpid_hex,
        "BridgeDpidUint": spec.dpid,
        "BridgeVLAN": spec.vlan,
        "MTU": spec.mtu,
        "PreAllocatePorts": spec.preallocate_ports,
        "Mode": spec.mode,
        "AddPorts": ",".join(
            "/".join(str(x) for x in (p.ifname, p.ofport or "", p.acl or "", p.vlan or "")).rstrip("/")
            for p in spec.add_ports
        ),
        "AddCoproPorts": ",".join(
            "/".join(str(x) for x in (p.ifname, p.ofport or "", p.acl or "")).rstrip("/")
            for p in spec.add_copro_ports
        ),
        "Gateway": spec.gateway or "",
        "GatewayMask": _gateway_mask(net),
        "GatewayIPv6": ipv6_gateway_address(spec) or "",
        "SubnetIPv6": spec.subnet_ipv6 or "",
        "FlatBindInterface": spec.bind_interface or "",
        "UseDHCP": spec.dhcp,
        "Userspace": net.userspace,
        "NATAcl": _acl_text(spec.nat_acl, net.name),
        "VLANOutAcl": _acl_text(spec.vlan_out_acl, net.name),
        "DefaultAcl": _acl_text(spec.default_acl, net.name),
        "OvsLocalMac": spec.ovs_local_mac or "",
        "Controller": ",".join(spec.controllers),
        "Error": net.error or "",
        "FaucetError": net.faucet_error or "",
        "DynamicNetworkStates": {
            "ShortEngineId": engine_id,
            "Containers": containers,
            "ExternalPorts": externals,
            "OtherBridgePorts": {},
        },
    }


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Features add fields; a dict value (e.g. DynamicNetworkStates.OtherBridgePorts) merges."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def status(
    networks: Mapping[str, Network] | Iterable[Network],
    engine_id: str,
    hooks: Iterable[Hooks] = (),
) -> dict[str, Any]:
    nets = networks.values() if isinstance(networks, Mapping) else networks
    hooks = list(hooks)
    result = {}
    for net in nets:
        entry = network_status(net, engine_id)
        for hook in hooks:
            _merge(entry, hook.status(net))
        result[net.network_id] = entry
    return result
