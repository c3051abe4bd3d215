"""Fixtures for the real-component tests: dockerd, a busybox image, one dovesnap per session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.host_ovs import host_ovs
from tests.integration.rig import (
    DOCKER,
    PLUGIN_SOCKET,
    ROOT,
    TEST_PREFIX,
    Daemon,
    Docker,
    docker_answers,
    ensure_image,
    plugin_answers,
    run,
)

pytestmark = pytest.mark.integration


FIRST = "test_first_contact.py"
NO_HOST_OVS = "NEEDS_NO_HOST_OVS"  # a module setting it runs before the host's OVS starts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # The from-nothing test runs first: in run 0 it takes the default plugin name and ports,
    # which the session's dovesnap holds from the first test that needs it until the end. Then
    # the modules that need a host without OVS, before the host's OVS starts.
    items.sort(key=lambda item: 0 if item.fspath.basename == FIRST
               else 1 if getattr(item.module, NO_HOST_OVS, False) else 2)


@pytest.fixture(scope="session")
def host_openvswitch() -> Iterator[None]:
    """OVS running on the host as its service would run it (the from-nothing test runs first,
    before this, and sees a machine without it)."""
    with host_ovs():
        yield


@pytest.fixture(scope="module", autouse=True)
def _host_ovs_for_module(request: pytest.FixtureRequest) -> None:
    """Every module but those that need a host without OVS runs with the host's OVS up (started
    before the module's own fixtures: autouse ones come first within a scope)."""
    if not getattr(request.module, NO_HOST_OVS, False):
        request.getfixturevalue("host_openvswitch")


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.fail("integration tests need root: run make test")
    started = False
    if not docker_answers():
        subprocess.run(["bash", str(ROOT / "scripts" / "docker.sh"), "start"], check=True)
        started = True
    assert docker_answers(), "dockerd does not answer"
    ensure_image()
    yield
    if started:
        subprocess.run(["bash", str(ROOT / "scripts" / "docker.sh"), "stop"], check=False)


def _sweep() -> None:
    """Remove what an earlier, interrupted test run left (only names the tests use)."""
    names = run([DOCKER, "ps", "-aq", "--filter", f"name={TEST_PREFIX}"], check=False).stdout
    for cid in names.split():
        run([DOCKER, "rm", "-f", cid], check=False)
    nets = run([DOCKER, "network", "ls", "-q", "--filter", f"name={TEST_PREFIX}"],
               check=False).stdout
    for nid in nets.split():
        run([DOCKER, "network", "rm", nid], check=False)


@pytest.fixture(scope="session")
def dovesnap(docker_daemon: None, host_openvswitch: None,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if plugin_answers(PLUGIN_SOCKET):
        pytest.fail(
            f"a dovesnap is already serving {PLUGIN_SOCKET}; "
            "stop it with make down before running the tests"
        )
    daemon = Daemon(Path(tmp_path_factory.mktemp("dovesnap")))
    daemon.start()
    try:
        _sweep()
        yield daemon
        _sweep()
    finally:
        daemon.stop()


@pytest.fixture
def docker(dovesnap: Daemon, request: pytest.FixtureRequest) -> Iterator[Docker]:
    if dovesnap.proc is None or dovesnap.proc.poll() is not None:
        dovesnap.start()  # an earlier test stopped it and failed before starting it again
    objects = Docker()
    try:
        yield objects
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print("---- dovesnap log tail ----\n" + dovesnap.log_tail())
        objects.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, "rep_" + report.when, report)
