"""Port verdicts: ok only with flows installed; pending while on the way; FAUCET's reason when
it refused or failed."""

from __future__ import annotations

from dovesnap.adapters.docker_api import ContainerInfo
from dovesnap.adapters.faucet_metrics import FaucetState
from dovesnap.driver.port_states import FaucetView, Problem, network_problem, port_verdict
from dovesnap.driver.state import (
    PORT_FAIL_CLOSED,
    PORT_NOT_APPLIED,
    PORT_OK,
    PORT_PENDING,
    Endpoint,
)
from dovesnap.model.labels import ContainerLabels

PATH = "/etc/faucet/faucet.yaml"


def _ep(named: bool = True, **fields: object) -> Endpoint:
    ep = Endpoint("e" * 32, "n" * 32, "odsveeeeee", "ethceeeee", 3, "0e:00:00:00:00:03")
    if named:
        ep.container = ContainerInfo("c" * 64, "web")
        ep.labels = ContainerLabels()
    for key, value in fields.items():
        setattr(ep, key, value)
    return ep


def _view(**state: object) -> FaucetView:
    base: dict[str, object] = {"hashes": {PATH: "h1"}, "dps_up": {"net1": True}}
    return FaucetView(FaucetState(**(base | state)), PATH, "h1")  # type: ignore[arg-type]


def test_network_problems() -> None:
    assert network_problem("net1", _view()) is None
    refused = network_problem("net1", _view(load_error=True, error="DP net1: bad"))
    assert refused == Problem("FAUCET refused the config: DP net1: bad", True)
    stale = network_problem("net1", _view(hashes={PATH: "old"}))
    assert stale is not None and not stale.final and "not loaded" in stale.reason
    down = network_problem("net1", _view(dps_up={"net1": False}))
    assert down is not None and "not connected" in down.reason
    crashed = FaucetView(None, PATH, "h1", crash="AssertionError: vlan_vid match")
    gone = network_problem("net1", crashed)
    assert gone is not None and gone.reason.endswith("FAUCET's last error: AssertionError: vlan_vid match")
    # An external FAUCET dovesnap cannot ask: the flows alone tell.
    assert network_problem("net1", FaucetView(None, PATH, "h1", askable=False)) is None
    # Another path spelling, one file: FAUCET's only hash is the one to compare.
    assert FaucetView(FaucetState(hashes={"/other/faucet.yaml": "h1"}), PATH, "h1").loaded


def test_port_verdicts() -> None:
    assert port_verdict(_ep(), None, None, {3}, True, True) == (PORT_OK, "")
    assert port_verdict(_ep(fail_closed="bad acl"), None, None, {3}, True, True) == (
        PORT_FAIL_CLOSED, "bad acl")
    assert port_verdict(_ep(named=False), None, None, set(), None, True)[0] == PORT_PENDING
    known = _ep(named=False, known_policy=ContainerLabels())
    assert port_verdict(known, None, None, {3}, True, False)[0] == PORT_OK
    assert port_verdict(_ep(), "refused", None, set(), True, True) == (PORT_NOT_APPLIED, "refused")
    assert port_verdict(_ep(), "refused", None, {3}, True, True) == (PORT_OK, "")  # still there
    passing = Problem("FAUCET has not loaded the config dovesnap wrote", False)
    assert port_verdict(_ep(), None, passing, set(), True, False)[0] == PORT_PENDING
    assert port_verdict(_ep(), None, passing, set(), True, True)[0] == PORT_NOT_APPLIED
    assert port_verdict(_ep(), None, Problem("refused", True), set(), True, False) == (
        PORT_NOT_APPLIED, "refused")
    # Its flows are in the switch: it forwards while FAUCET is away (the network says so).
    assert port_verdict(_ep(), None, Problem("FAUCET does not answer", False), {3}, True,
                        True) == (PORT_OK, "")
    assert port_verdict(_ep(), None, None, set(), False, True)[0] == PORT_PENDING  # link down
    assert port_verdict(_ep(), None, None, None, True, True)[0] == PORT_PENDING  # unreadable
    assert port_verdict(_ep(), None, None, set(), True, False)[0] == PORT_PENDING  # in grace
    state, reason = port_verdict(_ep(), None, None, {1}, True, True, "AssertionError: x")
    assert state == PORT_NOT_APPLIED
    assert reason == "FAUCET installed no flows for port 3; FAUCET's last error: AssertionError: x"
