"""OpenFlow rules through ``ovs-ofctl`` (argv lists): set those of the bridges FAUCET does not
control, and read which ports FAUCET installed flows for on the bridges it does.

``replace_flows`` makes a bridge's table 0 exactly the given rules; ``ovs-ofctl`` reads them
from stdin, so no rule text ever reaches a command line.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from typing import Protocol

from dovesnap.errors import BackendError
from dovesnap.plan.mirror import Flow

LOCAL_PORT = 0xFFFFFFFE
_IN_PORT_RE = re.compile(r"\bin_port=(\w+)")


class OpenFlowBackend(Protocol):
    def replace_flows(self, bridge: str, flows: Sequence[Flow]) -> None: ...


class FlowReader(Protocol):
    def flow_in_ports(self, bridge: str) -> set[int]: ...
    def port_has_flows(self, bridge: str, ofport: int) -> bool: ...


def in_ports_of(dump: str) -> set[int]:
    """The OpenFlow ports that some flow of an ``ovs-ofctl --no-names dump-flows`` matches on
    (LOCAL as 0xfffffffe): the ports FAUCET has installed, since it matches every port it
    forwards for by ``in_port``."""
    ports: set[int] = set()
    for name in _IN_PORT_RE.findall(dump):
        if name == "LOCAL":
            ports.add(LOCAL_PORT)
        elif name.isdigit():
            ports.add(int(name))
    return ports


class OfctlOpenFlow:
    """The real switch. Blocking: run it in a worker thread from asyncio."""

    def __init__(self, ofctl: str = "ovs-ofctl", attempts: int = 20, delay: float = 0.1) -> None:
        self._ofctl = ofctl
        self._attempts = attempts
        self._delay = delay

    def _ofctl_run(self, what: str, argv: Sequence[str], stdin: str = "",
                   attempts: int | None = None) -> str:
        error = ""
        # A bridge made a moment ago may not have its management socket yet.
        for _ in range(attempts or self._attempts):
            result = subprocess.run(
                [self._ofctl, *argv], input=stdin, capture_output=True, text=True,
                check=False, timeout=30,
            )
            if result.returncode == 0:
                return result.stdout
            error = result.stderr.strip()
            time.sleep(self._delay)
        raise BackendError(f"ovs-ofctl could not {what}: {error}",
                           "check that Open vSwitch runs and the bridge exists")

    def replace_flows(self, bridge: str, flows: Sequence[Flow]) -> None:
        text = "".join(flow.render() + "\n" for flow in flows)
        self._ofctl_run(f"set the rules of bridge {bridge}", ["replace-flows", bridge, "-"], text)

    def announce_port(self, bridge: str, ofport: int) -> None:
        """Make the switch send FAUCET a port-status message for ``ofport``: its no-packet-in
        flag set and cleared again (two MODIFY messages, the port left as it was)."""
        for flag in ("no-packet-in", "packet-in"):
            self._ofctl_run(f"announce port {ofport} of bridge {bridge}",
                            ["mod-port", bridge, str(ofport), flag], attempts=1)

    def flow_in_ports(self, bridge: str) -> set[int]:
        """The ports of ``bridge`` that FAUCET has flows for (BackendError if unreadable)."""
        dump = self._ofctl_run(f"read the flows of bridge {bridge}",
                               ["--no-names", "dump-flows", bridge], attempts=1)
        return in_ports_of(dump)

    def port_has_flows(self, bridge: str, ofport: int) -> bool:
        """True when some flow of ``bridge`` matches on ``in_port=ofport``. Only those flows are
        read (a filtered dump), so the cost does not grow with the bridge's other ports."""
        port = "LOCAL" if ofport == LOCAL_PORT else str(ofport)
        dump = self._ofctl_run(f"read the flows of port {port} of bridge {bridge}",
                               ["--no-names", "dump-flows", bridge, f"in_port={port}"],
                               attempts=1)
        return ofport in in_ports_of(dump)
