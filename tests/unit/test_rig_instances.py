"""The integration rig's instance numbers: one allocator, and no two dovesnaps (of one run, or of
parallel runs with different DOVESNAP_TEST_INSTANCE) share a number, a plugin name or a port."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Hashable, Iterable
from pathlib import Path

import pytest

from tests.integration import rig
from tests.integration.rig import OWN_DAEMONS, RUNS, Instance, instance_for

INTEGRATION = Path(rig.__file__).parent
EVERY = [instance_for(module, run) for run in range(RUNS) for module in (None, *OWN_DAEMONS)]


def repeated(values: Iterable[Hashable]) -> list[Hashable]:
    return [value for value, count in Counter(values).items() if count > 1]


def test_no_two_dovesnaps_share_a_number_or_a_plugin_name() -> None:
    assert not repeated([i.number for i in EVERY])
    assert not repeated([i.driver for i in EVERY])
    assert not repeated([i.socket for i in EVERY])


def test_no_two_dovesnaps_share_a_port() -> None:
    ports = [port for i in EVERY for port in i.ports]
    assert not repeated(ports)
    assert all(1024 < port < 32768 for port in ports)  # below Linux's ephemeral ports


def test_cleanup_and_mirror_no_longer_collide_in_run_two() -> None:
    cleanup = instance_for("tests.integration.test_cleanup", 2)
    mirror = instance_for("tests.integration.test_mirror", 2)
    assert cleanup != mirror
    assert not set(cleanup.ports) & set(mirror.ports)


def test_run_zero_is_the_real_dovesnap_on_its_default_ports() -> None:
    suite = instance_for(run=0)
    assert suite == Instance(0)
    assert suite.driver == "dovesnap"
    assert suite.socket == Path("/run/docker/plugins/dovesnap.sock")
    assert (suite.faucet_of_port, suite.gauge_of_port, suite.faucet_prom_port,
            suite.gauge_prom_port, suite.status_port) == (6653, 6654, 9302, 9303, 9401)


def test_other_runs_get_plugins_of_their_own() -> None:
    assert instance_for(run=3).driver != "dovesnap"
    assert {instance_for(run=3).number, instance_for("test_stack", 3).number} <= set(
        range(3 * rig.RUN_BLOCK, 4 * rig.RUN_BLOCK))


@pytest.mark.parametrize(("module", "run"), [("tests.integration.test_new", 0), (None, RUNS), (None, -1)])
def test_an_unlisted_module_or_a_run_out_of_range_is_refused(module: str | None, run: int) -> None:
    with pytest.raises(ValueError):
        instance_for(module, run)


def test_the_block_of_a_run_holds_the_session_and_every_own_daemon() -> None:
    assert 1 + len(OWN_DAEMONS) <= rig.RUN_BLOCK


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)]


def test_integration_modules_take_their_instance_only_from_the_allocator() -> None:
    callers: set[str] = set()
    for path in sorted(INTEGRATION.glob("*.py")):
        if path.name in ("rig.py", "instances.py"):
            continue
        source = path.read_text()
        tree = ast.parse(source)
        assert not _calls(tree, "Instance"), f"{path.name}: use instance_for(__name__), not Instance(N)"
        assert "DOVESNAP_TEST_INSTANCE" not in source, f"{path.name}: the run number is rig.INSTANCE"
        for call in _calls(tree, "instance_for"):
            assert [ast.unparse(a) for a in call.args] == ["__name__"], f"{path.name}: {ast.unparse(call)}"
            callers.add(path.stem)
    assert callers == set(OWN_DAEMONS)
