"""FAUCET stacking and stack mirroring end to end, the Go original's scenario on one host.

The operator's root switch is a second OVS bridge the test builds (FAUCET DP ``odsrootsw``,
dp_id 0x77, port 88 output only); its port 7 is a veth to the stacking bridge. This module runs
its own dovesnap (instance 26) with ``--stacking-interfaces odsrootsw:7:<veth>``,
``--stack-priority1 odsrootsw`` and ``--stack-mirror-interface odsrootsw:88``, and no
``--default-ofcontrollers``: the stacking bridge goes to the embedded FAUCET and Gauge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dovesnap.plan.daemon_bridges import NETWORK_STACK_OFPORT
from tests.integration.fabric_helpers import (
    capture,
    elapsed,
    engine_id,
    link_exists,
    ofctl,
    stack_states,
    veth_pairs,
    vsctl_get,
)
from tests.integration.rig import (
    OPERATOR_CONFIG,
    Daemon,
    Docker,
    bridge_of,
    instance_for,
    ovs_bridges,
    plugin_answers,
    run,
    wait_until,
)

pytestmark = pytest.mark.integration

STACKING = instance_for(__name__)
DST = f"dst{STACKING.number}"  # host interface names of this instance start so
ROOT_BRIDGE, ROOT_DP = f"{DST}root", "odsrootsw"
ROOT_END, STACK_END = f"{DST}root7", f"{DST}stack7"  # the stack link's two ends
ROOT_OUT, ROOT_CAPTURE = f"{DST}root88", f"{DST}cap88"  # the root's port 88 and its far end
VLAN, TUNNEL_VLAN, LBPORT = 100, 356, 99


def _root_config() -> dict[str, object]:
    config = dict(OPERATOR_CONFIG)
    config["dps"] = {ROOT_DP: {
        "dp_id": 0x77, "hardware": "Open vSwitch",
        "interfaces": {1: {"native_vlan": VLAN}, 88: {"output_only": True}},
    }}
    return config


def _build_root_bridge() -> None:
    datapath = "system" if Path("/sys/module/openvswitch").exists() else "netdev"
    run(["ovs-vsctl", "--if-exists", "del-br", ROOT_BRIDGE])
    run(["ovs-vsctl", "add-br", ROOT_BRIDGE, "--", "set", "bridge", ROOT_BRIDGE,
         f"datapath_type={datapath}", "fail-mode=secure", "other-config:datapath-id=0000000000000077",
         "--", "set-controller", ROOT_BRIDGE, f"tcp:127.0.0.1:{STACKING.faucet_of_port}",
         f"tcp:127.0.0.1:{STACKING.gauge_of_port}"])
    for ifname, port in ((ROOT_END, 7), (ROOT_OUT, 88)):
        run(["ovs-vsctl", "add-port", ROOT_BRIDGE, ifname, "--", "set", "interface", ifname,
             f"ofport_request={port}"])


@dataclass
class Stacked:
    daemon: Daemon
    docker: Docker
    network: str = ""
    bridge: str = ""
    watched: str = ""
    other: str = ""
    created_at: float = 0.0


@pytest.fixture(scope="module")
def stacked(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacked]:
    if plugin_answers(STACKING.socket):
        pytest.fail(f"a dovesnap already serves {STACKING.socket}")
    with veth_pairs((ROOT_END, STACK_END), (ROOT_OUT, ROOT_CAPTURE)):
        daemon = Daemon(Path(tmp_path_factory.mktemp("stack")), instance=STACKING)
        daemon.config_dir.mkdir(parents=True)
        daemon.faucet_yaml.write_text(yaml.safe_dump(_root_config(), sort_keys=False))
        docker = Docker(driver=STACKING.driver)
        try:
            _build_root_bridge()
            daemon.start(["--stacking-interfaces", f"{ROOT_DP}:7:{STACK_END}",
                          "--stack-priority1", ROOT_DP,
                          "--stack-mirror-interface", f"{ROOT_DP}:88"])
            yield Stacked(daemon, docker)
        finally:
            docker.cleanup()
            daemon.stop()
            run(["ovs-vsctl", "--if-exists", "del-br", ROOT_BRIDGE], check=False)


@contextlib.contextmanager
def explained(stacked: Stacked) -> Iterator[None]:
    """On failure, add what dovesnap and FAUCET said about the stack to the message."""
    try:
        yield
    except AssertionError as err:
        faucet_log = stacked.daemon.workdir / "logs" / "faucet.log"
        lines = faucet_log.read_text(errors="replace").splitlines() if faucet_log.exists() else []
        notes = [line for line in lines if "tack" in line or "cold" in line or "ACL" in line]
        raise AssertionError(f"{err}\n--- dovesnap ---\n{stacked.daemon.log_tail(40)}\n"
                             "--- FAUCET (stack) ---\n" + "\n".join(notes[-40:])) from None


def test_stacking_bridge_is_built_at_start(stacked: Stacked) -> None:
    engine = engine_id()
    stack, loopback = "dovesnap" + engine, "odslb" + engine
    assert {stack, loopback} <= set(ovs_bridges())
    dpid = f"{0x0E0F00 << 24 | int(engine, 16):016x}"
    assert vsctl_get("Bridge", stack, "other_config:datapath-id") == f'"{dpid}"'
    assert vsctl_get("Bridge", stack, "fail_mode") == "secure"
    # No --default-ofcontrollers given: the embedded FAUCET and Gauge control it.
    controllers = run(["ovs-vsctl", "get-controller", stack]).stdout.split()
    assert sorted(controllers) == [f"tcp:127.0.0.1:{STACKING.faucet_of_port}",
                                   f"tcp:127.0.0.1:{STACKING.gauge_of_port}"]
    assert vsctl_get("Interface", STACK_END, "ofport") == "1"
    dps = stacked.daemon.faucet_config()["dps"]
    assert dps[stack]["interfaces"][1]["stack"] == {"dp": ROOT_DP, "port": 7}
    assert dps[ROOT_DP]["interfaces"][7]["stack"] == {"dp": stack, "port": 1}
    assert dps[ROOT_DP]["stack"]["priority"] == 1
    assert dps[ROOT_DP]["interfaces"][88] == {"output_only": True}  # the operator's, untouched


def test_stack_comes_up_and_containers_talk(stacked: Stacked) -> None:
    engine = engine_id()
    stacked.created_at = time.monotonic()
    stacked.network = stacked.docker.network("ovs.bridge.dpid=0x7e5101").args
    stacked.watched = stacked.docker.run_container(
        stacked.network, "--label", "dovesnap.faucet.mirror=true")
    stacked.other = stacked.docker.run_container(stacked.network)
    stacked.bridge = bridge_of(stacked.daemon, stacked.network)
    link = wait_until(lambda: ((stacked.daemon.dp(stacked.network) or {}).get("interfaces") or {})
                      .get(NETWORK_STACK_OFPORT), 20, what="the network's stack link in FAUCET")
    stack_port = link["stack"]["port"]
    wanted = {(ROOT_DP, 7), ("dovesnap" + engine, 1), ("dovesnap" + engine, stack_port),
              (stacked.network, NETWORK_STACK_OFPORT)}

    def all_up() -> bool:
        states = stack_states(STACKING.faucet_prom_port)
        return all(states.get(port) == 3 for port in wanted)

    with explained(stacked):
        wait_until(all_up, 120, 0.5, "FAUCET reporting all four stack ports UP")
    print(f"\nstack up {elapsed(stacked.created_at)} s after docker network create")
    other_ip = stacked.docker.ip(stacked.other)
    assert wait_until(lambda: stacked.docker.ping(stacked.watched, other_ip), 30, 0.3,
                      "ping across the stacked network")


def test_lbport_pushes_the_tunnel_vlan(stacked: Stacked) -> None:
    assert stacked.bridge, "needs the network from test_stack_comes_up_and_containers_talk"

    def pushes() -> bool:
        flows = ofctl("dump-flows", stacked.bridge, f"table=0,in_port={LBPORT}")
        return "push_vlan" in flows and f"set_field:{4096 + TUNNEL_VLAN}->vlan_vid" in flows

    with explained(stacked):
        wait_until(pushes, 90, 0.5, f"a flow pushing VLAN {TUNNEL_VLAN} on port {LBPORT}")
    print(f"\ntunnel flow in place {elapsed(stacked.created_at)} s after docker network create")
    lbport = stacked.daemon.dp(stacked.network)["interfaces"][LBPORT]  # type: ignore[index]
    assert lbport["coprocessor"] == {"strategy": "vlan_vid"}
    watched_port = next(p for p, i in stacked.daemon.dp(stacked.network)["interfaces"].items()  # type: ignore[index]
                        if str(i.get("description", "")).startswith(stacked.watched + " "))
    assert lbport["mirror"] == [watched_port]


def test_mirrored_packets_reach_the_root_switch_on_the_tunnel_vlan(stacked: Stacked) -> None:
    assert stacked.bridge, "needs the network from test_stack_comes_up_and_containers_talk"
    other_ip = stacked.docker.ip(stacked.other)
    with capture(ROOT_END, "vlan", str(TUNNEL_VLAN), "and", "icmp") as cap, \
            capture(ROOT_CAPTURE, "icmp") as out:

        def tunnelled() -> bool:
            stacked.docker.ping(stacked.watched, other_ip)
            return all("ICMP echo request" in c.text() and "ICMP echo reply" in c.text()
                       for c in (cap, out))

        with explained(stacked):
            wait_until(tunnelled, 60, 0.5, f"mirrored pings on VLAN {TUNNEL_VLAN} at the root")
        text, leaving = cap.close(), out.close()
    assert f"vlan {TUNNEL_VLAN}" in text
    # The tunnel ends at the root's port 88: the copies leave there without the tunnel VLAN.
    assert f"vlan {TUNNEL_VLAN}" not in leaving and other_ip in leaving
    flows = ofctl("dump-flows", ROOT_BRIDGE, f"table=0,dl_vlan={TUNNEL_VLAN}")
    assert any("n_packets=0," not in line for line in flows.splitlines() if "dl_vlan" in line
               or "vlan_vid" in line), flows


def test_stop_removes_the_stacking_bridges_and_config(stacked: Stacked) -> None:
    engine = engine_id()
    for line in stacked.daemon.log_file.read_text().splitlines():
        if "dovesnap.features.fabric.tunnel" in line:
            print("\n" + line)  # how long the stack and the tunnel took
    stacked.docker.cleanup()
    stacked.daemon.stop()
    assert {"dovesnap" + engine, "odslb" + engine}.isdisjoint(ovs_bridges())
    dps = stacked.daemon.faucet_config()["dps"]
    assert "dovesnap" + engine not in dps
    assert 7 not in dps[ROOT_DP]["interfaces"]
    assert link_exists(STACK_END)  # the operator's interface stays
