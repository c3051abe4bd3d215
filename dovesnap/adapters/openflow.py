"""OpenFlow rules of the bridges FAUCET does not control, through ``ovs-ofctl`` (argv lists).

``replace_flows`` makes a bridge's table 0 exactly the given rules; ``ovs-ofctl`` reads them
from stdin, so no rule text ever reaches a command line.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from typing import Protocol

from dovesnap.errors import BackendError
from dovesnap.plan.mirror import Flow


class OpenFlowBackend(Protocol):
    def replace_flows(self, bridge: str, flows: Sequence[Flow]) -> None: ...


class OfctlOpenFlow:
    """The real switch. Blocking: run it in a worker thread from asyncio."""

    def __init__(self, ofctl: str = "ovs-ofctl", attempts: int = 20, delay: float = 0.1) -> None:
        self._ofctl = ofctl
        self._attempts = attempts
        self._delay = delay

    def _ofctl_run(self, what: str, argv: Sequence[str], stdin: str = "") -> None:
        error = ""
        # A bridge made a moment ago may not have its management socket yet.
        for _ in range(self._attempts):
            result = subprocess.run(
                [self._ofctl, *argv], input=stdin, capture_output=True, text=True,
                check=False, timeout=30,
            )
            if result.returncode == 0:
                return
            error = result.stderr.strip()
            time.sleep(self._delay)
        raise BackendError(f"ovs-ofctl could not {what}: {error}",
                           "check that Open vSwitch runs and the bridge exists")

    def replace_flows(self, bridge: str, flows: Sequence[Flow]) -> None:
        text = "".join(flow.render() + "\n" for flow in flows)
        self._ofctl_run(f"set the rules of bridge {bridge}", ["replace-flows", bridge, "-"], text)
