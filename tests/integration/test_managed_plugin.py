"""``make plugin``, for real: the managed plugin made from the dovesnap image, installed, enabled,
serving networks under both of its names, carrying traffic, disabled and removed.

It runs on the host's dockerd under names of this run's own (``dovesnap-t<N>`` as the socket
name it also serves, ``dovesnap-t<N>-plugin`` as the plugin), with its own ports and FAUCET config
directory, so it cannot collide with any other dovesnap. The default names (``-d dovesnap``
served by plugin ``dovesnap-plugin``) work the same way; ``make plugin`` without variables makes
that one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration import image_build
from tests.integration.rig import (
    DOCKER,
    INSTANCE,
    OPERATOR_CONFIG,
    ROOT,
    Docker,
    ensure_image,
    instance_for,
    own_subnet,
    plugin_answers,
    run,
    wait_until,
)
from tests.integration.test_install_image import PLUGIN_IMAGE, shared_mount

pytestmark = pytest.mark.integration

OWN = instance_for(__name__)
ALIAS = OWN.driver  # the socket plugin name it serves: -d dovesnap-t<N>
NAME = f"{OWN.driver}-plugin"  # the managed plugin: -d dovesnap-t<N>-plugin:latest
REF = f"{NAME}:latest"
TIMES: dict[str, float] = {}


def _plugin_state() -> dict[str, object] | None:
    found = run([DOCKER, "plugin", "inspect", NAME], check=False)
    return json.loads(found.stdout)[0] if found.returncode == 0 else None


def _remove_plugin() -> None:
    if _plugin_state() is not None:
        run([DOCKER, "plugin", "disable", "-f", NAME], check=False, timeout=120)
        run([DOCKER, "plugin", "rm", "-f", NAME], check=False, timeout=120)


@pytest.fixture(scope="module")
def image(docker_daemon: None) -> str:
    try:
        base = image_build.ensure_base_image()
    except image_build.MirrorUnreachable as err:
        pytest.skip(str(err))
    # Host networking for the build's RUN steps: they need no docker0.
    image_build.build_image(PLUGIN_IMAGE, base, ["--network", "host"])
    return PLUGIN_IMAGE


@pytest.fixture(scope="module")
def plugin(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The plugin, made by `make plugin` and configured for this run; removed afterwards."""
    work = Path(tmp_path_factory.mktemp("managed-plugin"))
    for sub in ("faucet", "state", "logs"):
        (work / sub).mkdir()
    (work / "faucet" / "faucet.yaml").write_text(yaml.safe_dump(OPERATOR_CONFIG, sort_keys=False))
    _remove_plugin()  # an interrupted earlier run's
    propagation = "rslave" if shared_mount("/var/run/docker/netns") else ""
    try:
        started = time.monotonic()
        made = run(["make", "-C", str(ROOT), "plugin", f"IMAGE={image}", f"PLUGIN_NAME={NAME}",
                    f"PLUGIN_ALIAS={ALIAS}", f"NETNS_PROPAGATION={propagation}",
                    f"DOCKER={DOCKER}"], check=False, timeout=900)
        assert made.returncode == 0, made.stdout + made.stderr
        TIMES["make plugin"] = time.monotonic() - started
        run([DOCKER, "plugin", "set", NAME,
             f"faucet-config.source={work / 'faucet'}", f"state.source={work / 'state'}",
             f"logs.source={work / 'logs'}", f"STATUS_PORT={OWN.status_port}",
             f"FAUCET_OF_PORT={OWN.faucet_of_port}", f"GAUGE_OF_PORT={OWN.gauge_of_port}",
             f"FAUCET_PROM_PORT={OWN.faucet_prom_port}", f"GAUGE_PROM_PORT={OWN.gauge_prom_port}"])
        yield work
    finally:
        _remove_plugin()
        print(f"\nmanaged plugin times: {TIMES}")
    assert not OWN.socket.exists(), "the alias socket outlived the plugin"


def _ready(docker: Docker, network: str, *names: str) -> None:
    status_url = f"http://127.0.0.1:{OWN.status_port}/networks"

    def joined() -> bool:
        import urllib.request

        with urllib.request.urlopen(status_url, timeout=5) as resp:
            nets = json.load(resp)
        seen = {c["Name"] for n in nets.values() if n["NetworkName"] == network
                for c in n["DynamicNetworkStates"]["Containers"].values()}
        return set(names) <= seen

    wait_until(joined, 60, 0.2, f"{names} on {network}")


@pytest.mark.timeout(2400)  # the image build, the first time, and make plugin
def test_make_plugin_enable_create_run_disable(plugin: Path) -> None:
    state = _plugin_state()
    assert state is not None and state["Enabled"] is False
    config = state["Config"]  # type: ignore[index]
    assert config["Interface"]["Types"] == ["docker.networkdriver/1.0"]  # type: ignore[index]
    assert config["Network"]["Type"] == "host" and config["PidHost"] is True  # type: ignore[index]
    started = time.monotonic()
    run([DOCKER, "plugin", "enable", NAME], timeout=120)
    wait_until(lambda: plugin_answers(OWN.socket), 120, 0.2, f"-d {ALIAS} answering")
    TIMES["enable to -d alias answering"] = time.monotonic() - started

    docker = Docker(driver=ALIAS)
    try:
        by_alias = docker.network(f"ovs.bridge.dpid=0x17{INSTANCE:02x}01",
                                  args=["--subnet", own_subnet(120)]).args
        by_name = Docker(driver=REF, networks=docker.networks, containers=docker.containers)
        by_plugin = by_name.network(f"ovs.bridge.dpid=0x17{INSTANCE:02x}02",
                                    args=["--subnet", own_subnet(121)]).args
        drivers = {net: run([DOCKER, "network", "inspect", "-f", "{{.Driver}}", net]).stdout.strip()
                   for net in (by_alias, by_plugin)}
        assert drivers == {by_alias: ALIAS, by_plugin: REF}
        a, b = docker.run_container(by_alias), docker.run_container(by_alias)
        c = docker.run_container(by_plugin)
        _ready(docker, by_alias, a, b)
        _ready(docker, by_plugin, c)
        assert wait_until(lambda: docker.ping(a, docker.ip(b)), 30, 0.2, "ping through the plugin")
        faucet = yaml.safe_load((plugin / "faucet" / "faucet.yaml").read_text())
        assert {by_alias, by_plugin} <= set(faucet["dps"])  # the plugin's own FAUCET config dir
        assert "allowall" in faucet["acls"]  # the operator's part kept
        assert (plugin / "logs" / "faucet.log").exists()
    finally:
        docker.cleanup()
    started = time.monotonic()
    run([DOCKER, "plugin", "disable", NAME], timeout=120)
    TIMES["disable"] = time.monotonic() - started
    assert _plugin_state()["Enabled"] is False  # type: ignore[index]
    wait_until(lambda: not OWN.socket.exists(), 30, 0.2, "alias socket removed")
    bridges = run(["ovs-vsctl", "list-br"]).stdout.split()
    assert not [br for br in bridges if run(["ovs-vsctl", "br-get-external-id", br,
                                             "dovesnap-driver"], check=False).stdout.strip()
                == ALIAS], "a bridge of the plugin's outlived it"


@pytest.mark.engines
@pytest.mark.timeout(2400)
def test_a_restarted_engine_starts_the_plugin_before_its_containers(
    image: str, tmp_path: Path
) -> None:
    """The point of a managed plugin: after a restart dockerd starts it before it restores
    containers, so `--restart always` containers come back connected with no dovesnap started
    from outside. On Docker 28 (tests/engines): restarting the host's shared dockerd is not ours."""
    from tests.engines import engine

    plugin_dir = tmp_path / "plugin"
    for sub in ("faucet", "state", "logs"):
        (tmp_path / sub).mkdir()
    (tmp_path / "faucet" / "faucet.yaml").write_text(yaml.safe_dump(OPERATOR_CONFIG, sort_keys=False))
    propagation = "rslave" if shared_mount("/var/run/docker/netns") else ""
    made = run(["make", "-C", str(ROOT), "plugin", f"IMAGE={image}", f"PLUGIN_NAME={NAME}",
                f"PLUGIN_ALIAS={ALIAS}", f"NETNS_PROPAGATION={propagation}", f"DOCKER={DOCKER}",
                f"PLUGIN_DIR={plugin_dir}"], check=False, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    stack = contextlib.ExitStack()
    url = stack.enter_context(engine.newer_engine("sid", stop_containers=False, lock_wait=600))
    cli = (str(engine.cli("sid")), "-H", url)
    docker = Docker(driver=ALIAS, cli=cli)
    try:
        ensure_image(cli)
        run([*cli, "plugin", "create", NAME, str(plugin_dir)], timeout=600)
        run([*cli, "plugin", "set", NAME, f"docker-socket.source={engine.socket_path('sid')}",
             f"faucet-config.source={tmp_path / 'faucet'}", f"state.source={tmp_path / 'state'}",
             f"logs.source={tmp_path / 'logs'}", f"STATUS_PORT={OWN.status_port}",
             f"FAUCET_OF_PORT={OWN.faucet_of_port}", f"GAUGE_OF_PORT={OWN.gauge_of_port}",
             f"FAUCET_PROM_PORT={OWN.faucet_prom_port}", f"GAUGE_PROM_PORT={OWN.gauge_prom_port}"])
        run([*cli, "plugin", "enable", NAME], timeout=120)
        wait_until(lambda: plugin_answers(OWN.socket), 60, 0.2, f"-d {ALIAS} answering")
        net = docker.network(f"ovs.bridge.dpid=0x17{INSTANCE:02x}03",
                             args=["--subnet", own_subnet(122)]).args
        a = docker.run_container(net, "--restart", "always")
        b = docker.run_container(net, "--restart", "always")
        assert wait_until(lambda: docker.ping(a, docker.ip(b)), 60, 0.2, "ping before")

        stack.close()  # the engine shuts down: its containers, then the plugin
        assert not plugin_answers(OWN.socket)
        started = time.monotonic()
        stack.enter_context(engine.newer_engine("sid", stop_containers=False, lock_wait=600))
        TIMES["sid start (plugin, then containers)"] = time.monotonic() - started

        def running(name: str) -> bool:
            state = run([*cli, "inspect", "-f", "{{.State.Running}}", name], check=False)
            return state.stdout.strip() == "true"

        for name in (a, b):
            wait_until(lambda n=name: running(n), 60, 0.3, f"{name} restored by dockerd")
        assert wait_until(lambda: docker.ping(a, docker.ip(b)), 60, 0.2, "ping after restart")
        TIMES["sid start to containers talking"] = time.monotonic() - started
    finally:
        docker.cleanup()
        run([*cli, "plugin", "disable", "-f", NAME], check=False, timeout=120)
        run([*cli, "plugin", "rm", "-f", NAME], check=False, timeout=120)
        stack.close()
        print(f"\nmanaged plugin times: {TIMES}")
    assert not OWN.socket.exists()
