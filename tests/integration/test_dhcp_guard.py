"""``ovs.bridge.dhcp_guard=true``: a container running a DHCP server cannot hand its neighbours
leases; on a network without the guard the same server can (the control).

Real packets: busybox's udhcpd in one container, udhcpc in another. Addresses are the run's
own: 10.<run*10+3>.x.0/24.
"""

from __future__ import annotations

import pytest

from tests.integration.rig import INSTANCE, Daemon, Docker, wait_until

pytestmark = pytest.mark.integration

OWN_NET = 10 * INSTANCE + 3  # second octet of this module's addresses (run 6: 10.63.x.x)


def _rogue_server(third: int) -> list[str]:
    """A container command: udhcpd on eth0, handing out .100-.110 of 10.OWN_NET.third.0/24."""
    conf = "\\n".join([
        f"start 10.{OWN_NET}.{third}.100", f"end 10.{OWN_NET}.{third}.110", "interface eth0",
        "lease_file /tmp/leases", "option subnet 255.255.255.0",
    ])
    return ["sh", "-c", f'printf "{conf}\\n" > /tmp/udhcpd.conf; touch /tmp/leases; '
            "exec udhcpd -f /tmp/udhcpd.conf"]


def _gets_a_lease(docker: Docker, client: str) -> bool:
    """Three DISCOVERs a second apart; True if an offer was accepted (the address is not set)."""
    result = docker.exec(client, "udhcpc", "-i", "eth0", "-n", "-q", "-t", "3", "-T", "1",
                         "-s", "/bin/true", timeout=30)
    return result.returncode == 0


def _on_switch(daemon: Daemon, network: str, *containers: str) -> bool:
    interfaces = (daemon.dp(network) or {}).get("interfaces") or {}
    names = {str(i.get("description", "")).split(" ")[0] for i in interfaces.values()}
    return set(containers) <= names


@pytest.mark.parametrize(("guard", "third", "dpid"), [("false", 1, "0x6e3001"),
                                                      ("true", 2, "0x6e3002")])
def test_dhcp_offers_from_a_container_reach_neighbours_only_without_the_guard(
    dovesnap: Daemon, docker: Docker, guard: str, third: int, dpid: str
) -> None:
    net = docker.network(f"ovs.bridge.dpid={dpid}", f"ovs.bridge.dhcp_guard={guard}",
                         subnet=f"10.{OWN_NET}.{third}.0/24").args
    server = docker.run_container(net, command=_rogue_server(third))
    client = docker.run_container(net)
    wait_until(lambda: _on_switch(dovesnap, net, server, client), 30, 0.1, "both ports in FAUCET")
    wait_until(lambda: docker.ping(client, docker.ip(server)), 30, 0.2, "the two talk")
    if guard == "true":
        assert not _gets_a_lease(docker, client)
        assert not _gets_a_lease(docker, client)  # twice: not a timing accident
    else:
        assert wait_until(lambda: _gets_a_lease(docker, client), 60, 1.0, "a lease")
