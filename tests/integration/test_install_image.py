"""dovesnap as a container, for real: the image built from a locally debootstrapped Debian, run
with the compose files against this host's dockerd and OVS, carrying traffic between two
containers, and what docker-compose-monitoring.yml's Prometheus scrapes from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from dovesnap.runtime.faucet_examples import shipped_examples
from tests.integration import image_build, monitoring
from tests.integration.install_helpers import (
    DRIVER,
    FAUCET_OF_PORT,
    FAUCET_PROM_PORT,
    GAUGE_OF_PORT,
    GAUGE_PROM_PORT,
    PLUGIN_SOCKET,
    PROMETHEUS_PORT,
    STATUS_PORT,
    two_containers_ping,
)
from tests.integration.rig import (
    DOCKER,
    INSTANCE,
    ROOT,
    TEST_PREFIX,
    docker_objects,
    ensure_image,
    ovs_bridges,
    plugin_answers,
    run,
    tcp_listening,
    wait_until,
)

# dpid of this module, in the range of test instance 8 (any instance works; it is unique).
DPID_CONTAINER = "0x7e8002"
PLUGIN_IMAGE = f"dovesnap-test-plugin{INSTANCE or ''}:latest"


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if run([DOCKER, "compose", "version"], check=False).returncode == 0:
        return [DOCKER, "compose"]
    pytest.fail("neither docker-compose nor `docker compose` is installed: scripts/deps.sh --test")


def shared_mount(path: str) -> bool:
    """True when the mount holding ``path`` propagates (Docker refuses rslave volumes otherwise,
    as on this sandboxed host, whose / is private)."""
    real = os.path.realpath(path)
    best, shared = "", False
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4]
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best = point
            shared = any(f.startswith("shared:") for f in fields[6:fields.index("-")])
    return shared


def compose_env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "FAUCET_PREFIX": str(workdir / "faucet"),
            "DOCKER_NETNS_PROPAGATION": "rslave" if shared_mount("/var/run/docker/netns") else "ro",
            "DOVESNAP_PLUGIN_SOCKET": str(PLUGIN_SOCKET), "STATUS_PORT": str(STATUS_PORT),
            "FAUCET_OF_PORT": str(FAUCET_OF_PORT), "GAUGE_OF_PORT": str(GAUGE_OF_PORT),
            "FAUCET_PROM_PORT": str(FAUCET_PROM_PORT), "GAUGE_PROM_PORT": str(GAUGE_PROM_PORT)}


def test_compose_files_merge_into_the_described_setups(tmp_path: Path) -> None:
    base = ["-f", str(ROOT / "docker-compose.yml")]
    standalone = [*base, "-f", str(ROOT / "docker-compose-standalone.yml")]
    full = [*standalone, "-f", str(ROOT / "docker-compose-monitoring.yml")]
    env = {**compose_env(tmp_path), "MIRROR_BRIDGE_OUT": "odsmirrori"}
    env.pop("EXTERNAL_FAUCET", None)
    configs = {}
    for name, files in (("base", base), ("standalone", standalone), ("full", full)):
        out = subprocess.run([*compose_command(), *files, "config"], capture_output=True,
                             text=True, env=env, check=False, timeout=60, cwd=ROOT)
        assert out.returncode == 0, out.stderr
        configs[name] = yaml.safe_load(out.stdout)
    plugin = configs["base"]["services"]["plugin"]
    assert plugin["environment"]["EXTERNAL_FAUCET"] == "1"
    assert plugin["environment"]["MIRROR_BRIDGE_OUT"] == "odsmirrori"
    assert plugin["environment"].get("MIRROR_BRIDGE_IN") is None  # unset: passed as unset
    assert configs["standalone"]["services"]["plugin"]["environment"]["EXTERNAL_FAUCET"] == "0"
    mounts = {m["target"] if isinstance(m, dict) else m.split(":")[1]: m
              for m in configs["standalone"]["services"]["plugin"]["volumes"]}
    assert str(tmp_path / "faucet") in str(mounts["/etc/faucet"])
    assert {"plugin", "prometheus", "grafana"} == set(configs["full"]["services"])


def scrape_what_monitoring_scrapes(workdir: Path, network: str) -> None:
    """docker/prometheus/ in a real Prometheus: every target up, every kind of rule recording."""
    targets = {"faucet": FAUCET_PROM_PORT, "gauge": GAUGE_PROM_PORT, "dovesnap": STATUS_PORT}
    with monitoring.running_prometheus(workdir, targets, PROMETHEUS_PORT) as query:
        try:
            wait_until(lambda: {s["metric"]["job"] for s in query("job:up:min == 1")}
                       == set(targets), 60, 1, "faucet, gauge and dovesnap scraped and up")
            wait_until(lambda: query(f'dp:ports_up:count{{dp_name="{network}"}} >= 2'),
                       30, 1, "FAUCET's ports of the network, recorded")
            wait_until(lambda: query('kind:dovesnap_operations:rate5m{kind!=""}'),
                       30, 1, "dovesnap's plugin operations, recorded")
        except AssertionError:
            print("---- prometheus log ----\n" + monitoring.log_tail(workdir))
            raise


@pytest.fixture(scope="module")
def plugin_image() -> str:
    try:
        base = image_build.ensure_base_image()
    except image_build.MirrorUnreachable as err:
        pytest.skip(str(err))
    image_build.build_image(PLUGIN_IMAGE, base)
    return PLUGIN_IMAGE


@pytest.mark.timeout(2400)
def test_containerised_plugin_carries_traffic_on_the_host_ovs(
    docker_daemon: None, plugin_image: str, tmp_path: Path
) -> None:
    if plugin_answers(PLUGIN_SOCKET):
        pytest.fail(f"{PLUGIN_SOCKET} already answers: stop the other dovesnap on it first")
    if monitoring.missing_tools():
        pytest.fail(monitoring.missing_tools())
    ensure_image()
    for sub in ("faucet", "state", "logs"):
        (tmp_path / sub).mkdir()
    # The host's config dir as a first pip install as root leaves it: FAUCET's own example.
    examples = shipped_examples()
    for name, content in examples.items():
        (tmp_path / "faucet" / name).write_bytes(content)
    override = tmp_path / "override.yml"
    override.write_text(yaml.safe_dump({"services": {"plugin": {
        "image": plugin_image, "restart": "no",
        "volumes": [f"{tmp_path / 'state'}:/var/lib/dovesnap",
                    f"{tmp_path / 'logs'}:/var/log/dovesnap"],
    }}}))
    project = f"{TEST_PREFIX}compose".replace("-", "")
    files = ["-p", project, "-f", str(ROOT / "docker-compose.yml"),
             "-f", str(ROOT / "docker-compose-standalone.yml"), "-f", str(override)]
    env = compose_env(tmp_path)

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*compose_command(), *files, *args], capture_output=True,
                              text=True, env=env, check=False, timeout=300, cwd=ROOT)

    bridges_before = set(ovs_bridges())
    try:
        up = compose("up", "-d", "--no-build")
        assert up.returncode == 0, up.stderr
        started = time.monotonic()
        wait_until(lambda: plugin_answers(PLUGIN_SOCKET) and tcp_listening(FAUCET_OF_PORT),
                   120, 0.5, f"containerised plugin {DRIVER} and its FAUCET")
        print(f"containerised dovesnap ready in {time.monotonic() - started:.1f}s")
        cid = compose("ps", "-q", "plugin").stdout.strip()
        # What the daemon really got: the standalone setting, and no empty unset settings.
        pid = run([DOCKER, "inspect", "-f", "{{.State.Pid}}", cid]).stdout.strip()
        daemon_env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"EXTERNAL_FAUCET=0" in daemon_env
        assert not any(item.startswith(b"MIRROR_BRIDGE_IN") for item in daemon_env)
        logs = compose("logs", "--no-color", "plugin").stdout
        assert "using the host's Open vSwitch" in logs, logs[-2000:]
        with docker_objects() as docker:
            network, first, _ = two_containers_ping(docker, DPID_CONTAINER)
            config = yaml.safe_load((tmp_path / "faucet/faucet.yaml").read_text())
            assert network in config["dps"]
            # FAUCET's example was set aside by the containerised dovesnap, and kept beside.
            assert list(config["dps"]) == [network] and {"allowall", "denyall"} <= set(config["acls"])
            assert not {"vlans", "routers", "include"} & set(config), config
            for name, content in examples.items():
                assert (tmp_path / "faucet" / f"{name}.example").read_bytes() == content, name
            assert set(ovs_bridges()) - bridges_before, "no bridge on the host's OVS"
            # What docker-compose-monitoring.yml's Prometheus scrapes, from inside the plugin.
            for port, metric in ((FAUCET_PROM_PORT, b"faucet_config_reload_requests"),
                                 (GAUGE_PROM_PORT, b"dp_status")):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    assert metric in r.read(), f"{metric!r} not on port {port}"
            scrape_what_monitoring_scrapes(tmp_path / "prometheus", network)
            status = compose("exec", "-T", "plugin", "dovesnap", "status",
                             "--status-addr", f"127.0.0.1:{STATUS_PORT}")
            assert status.returncode == 0 and first in status.stdout, status.stderr
    except (AssertionError, subprocess.SubprocessError):
        print("---- plugin container log tail ----\n" + compose("logs", "--no-color", "--tail",
                                                              "60", "plugin").stdout)
        faucet_log = tmp_path / "logs/faucet.log"
        if faucet_log.exists():
            print("---- faucet.log tail ----\n" + faucet_log.read_text()[-3000:])
        raise
    finally:
        down = compose("down", "--remove-orphans")
        if down.returncode != 0:
            print(down.stderr)
        leftover = run([DOCKER, "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                       check=False).stdout.split()
        for cid in leftover:
            run([DOCKER, "rm", "-f", cid], check=False)
        if not plugin_answers(PLUGIN_SOCKET):
            PLUGIN_SOCKET.unlink(missing_ok=True)
