"""Both ways of running dovesnap as a service, for real.

- install.sh / uninstall.sh (and the make targets) into a scratch root: what they write, --force
  upgrades, --purge, and the refusals; the unit checked by systemd-analyze and enabled with
  ``systemctl --root``; an install under a scratch PREFIX started by hand exactly as install.sh
  says on a host without systemd, carrying traffic between two containers.
- The container image built from a locally debootstrapped Debian, run with the compose files
  against this host's dockerd and OVS, carrying traffic between two containers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration import image_build, monitoring
from tests.integration.rig import (
    DOCKER,
    IMAGE,
    INSTANCE,
    ROOT,
    TEST_PREFIX,
    Docker,
    docker_objects,
    ensure_image,
    instance_for,
    ovs_bridges,
    plugin_answers,
    run,
    tcp_listening,
    unique,
    wait_until,
)

# dpids of this module, in the range of test instance 8 (any instance works; these are unique).
DPID_HAND = "0x7e8001"
DPID_CONTAINER = "0x7e8002"
PLUGIN_IMAGE = f"dovesnap-test-plugin{INSTANCE or ''}:latest"
# The dovesnaps started here are not the session's (which may be running): they get the plugin
# name, socket and ports of this module's own instance.
OWN = instance_for(__name__)
DRIVER = OWN.driver
PLUGIN_SOCKET = OWN.socket
FAUCET_OF_PORT = OWN.faucet_of_port
GAUGE_OF_PORT = OWN.gauge_of_port
FAUCET_PROM_PORT = OWN.faucet_prom_port
GAUGE_PROM_PORT = OWN.gauge_prom_port
STATUS_PORT = OWN.status_port
PROMETHEUS_PORT = OWN.prometheus_port


def systemd_is_pid1() -> bool:
    return Path("/proc/1/comm").read_text().strip() == "systemd"


def script(name: str, *args: str, env: dict[str, str] | None = None,
           source: Path = ROOT) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(["bash", str(source / name), *args], capture_output=True, text=True,
                          env=full_env, timeout=900, check=False)


def copy_source(dest: Path) -> Path:
    """A copy of the checkout that a test may change (e.g. to bump the version)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", ".*cache")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("install.sh", "uninstall.sh", "pyproject.toml", "README.md", "dovesnap",
                 "packaging"):
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, dest / name, ignore=ignore)
        else:
            shutil.copy2(item, dest / name)
    return dest


def staged_version(destdir: Path) -> str:
    python = destdir / "opt/dovesnap/bin/python"
    return run([str(python), "-I", "-c", "import dovesnap; print(dovesnap.__version__)"]).stdout.strip()


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``make install DESTDIR=...``: dovesnap staged under a scratch root (pip runs once)."""
    destdir = tmp_path_factory.mktemp("destdir")
    result = subprocess.run(["make", "-C", str(ROOT), "install", f"DESTDIR={destdir}"],
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not enabling or starting anything" in result.stdout
    yield destdir
    shutil.rmtree(destdir, ignore_errors=True)


def test_install_writes_a_venv_a_unit_and_a_documented_settings_file(staged: Path) -> None:
    venv = staged / "opt/dovesnap"
    assert staged_version(staged) == run(
        [str(ROOT / ".venv/bin/python"), "-c", "import dovesnap; print(dovesnap.__version__)"]
    ).stdout.strip()
    # A normal install, not a link back to the checkout.
    located = run([str(venv / "bin/python"), "-I", "-c", "import dovesnap; print(dovesnap.__file__)"])
    assert located.stdout.startswith(str(venv / "lib/"))
    # Scripts name the interpreter where it will be once the staged tree is at /.
    assert (venv / "bin/dovesnap").read_text().splitlines()[0] == "#!/opt/dovesnap/bin/python"
    unit = (staged / "etc/systemd/system/dovesnap.service").read_text()
    assert "ExecStart=/opt/dovesnap/bin/dovesnap serve $DOVESNAP_ARGS" in unit
    assert "EnvironmentFile=-/etc/dovesnap/service.env" in unit
    assert "@" not in unit.replace("@PREFIX", "").split("[Unit]", 1)[1]
    env_text = (staged / "etc/dovesnap/service.env").read_text()
    for name in ("FAUCET_CONFIG_DIR", "STATUS_PORT", "STATUS_AUTH_IPS", "MIRROR_BRIDGE_OUT",
                 "MIRROR_BRIDGE_IN", "STACKING_INTERFACES", "STACK_PRIORITY1",
                 "STACK_MIRROR_INTERFACE", "DEFAULT_OFCONTROLLERS", "EXTERNAL_FAUCET"):
        assert f"\n#{name}=" in env_text, name
    info = (venv / "share/dovesnap/install-info").read_text()
    assert "prefix=/opt/dovesnap" in info and f"version={staged_version(staged)}" in info
    assert os.access(venv / "share/dovesnap/uninstall.sh", os.X_OK)


def test_systemd_accepts_the_unit_and_enables_it_before_docker(staged: Path) -> None:
    if not shutil.which("systemd-analyze") or not shutil.which("systemctl"):
        pytest.fail("systemd-analyze/systemctl missing: apt-get install systemd")
    staged_unit = staged / "etc/systemd/system/dovesnap.service"
    # `verify` checks that ExecStart= programs exist: point the copy at the staged tree.
    with tempfile.TemporaryDirectory() as tmp:
        unit = Path(tmp, "dovesnap.service")
        unit.write_text(staged_unit.read_text().replace("/opt/dovesnap/", f"{staged}/opt/dovesnap/"))
        checked = run(["systemd-analyze", "verify", str(unit)], check=False)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stderr
    # The [Install] section as systemctl applies it, offline, in the scratch root.
    enabled = run(["systemctl", f"--root={staged}", "enable", "dovesnap.service"], check=False)
    assert enabled.returncode == 0, enabled.stderr
    wants = staged / "etc/systemd/system"
    for target in ("docker.service.wants", "multi-user.target.wants"):
        link = wants / target / "dovesnap.service"
        assert link.is_symlink(), f"no {target} link"
        assert os.readlink(link) == "/etc/systemd/system/dovesnap.service"
    disabled = run(["systemctl", f"--root={staged}", "disable", "dovesnap.service"], check=False)
    assert disabled.returncode == 0 and not (wants / "docker.service.wants/dovesnap.service").exists()


def test_reinstall_is_refused_and_force_upgrades_in_place(staged: Path, tmp_path: Path) -> None:
    env = {"DESTDIR": str(staged)}
    unit = staged / "etc/systemd/system/dovesnap.service"
    settings = staged / "etc/dovesnap/service.env"
    before = unit.stat().st_mtime_ns
    refused = script("install.sh", env=env)
    assert refused.returncode == 1
    assert "already installed" in refused.stderr and "--force" in refused.stderr
    assert unit.stat().st_mtime_ns == before
    # The operator's settings, and a newer dovesnap in a changed checkout.
    settings.write_text(settings.read_text() + "STATUS_PORT=9999\n")
    source = copy_source(tmp_path / "src")
    init = source / "dovesnap/__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.'))
    python_before = (staged / "opt/dovesnap/bin/python").resolve()
    upgraded = script("install.sh", "--force", env=env, source=source)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgrading dovesnap" in upgraded.stdout and "kept your settings" in upgraded.stdout
    assert staged_version(staged).startswith("9.9.")
    assert settings.read_text().endswith("STATUS_PORT=9999\n")
    assert (staged / "opt/dovesnap/bin/python").resolve() == python_before  # same venv
    assert "source=" + str(source) in (staged / "opt/dovesnap/share/dovesnap/install-info").read_text()


def test_uninstall_keeps_settings_unless_purged(staged: Path) -> None:
    env = {"DESTDIR": str(staged)}
    settings = staged / "etc/dovesnap/service.env"
    removed = script("uninstall.sh", env=env)
    assert removed.returncode == 0, removed.stderr
    assert not (staged / "opt/dovesnap").exists()
    assert not (staged / "etc/systemd/system/dovesnap.service").exists()
    assert settings.exists() and "kept your settings" in removed.stdout
    again = script("uninstall.sh", env=env)
    assert again.returncode == 0 and "kept your settings" in again.stdout
    purged = script("uninstall.sh", "--purge", env=env)
    assert purged.returncode == 0 and not settings.exists()
    assert not (staged / "etc/dovesnap").exists()
    nothing = script("uninstall.sh", "--purge", env=env)
    assert nothing.returncode == 0 and "not installed" in nothing.stdout


def test_scripts_refuse_directories_they_did_not_make(tmp_path: Path) -> None:
    foreign = tmp_path / "opt/dovesnap"
    foreign.mkdir(parents=True)
    (foreign / "precious").write_text("keep me")
    env = {"DESTDIR": str(tmp_path)}
    installed = script("install.sh", env=env)
    assert installed.returncode == 1 and "not a dovesnap install" in installed.stderr
    removed = script("uninstall.sh", "--purge", env=env)
    assert removed.returncode == 1 and "no install record" in removed.stderr
    assert (foreign / "precious").read_text() == "keep me"
    shared = script("install.sh", "--prefix", "/usr", env=env)
    assert shared.returncode == 1 and "shared directory" in shared.stderr


# ---------------------------------------------------------------- started by hand, no systemd

def instance_settings(workdir: Path) -> str:
    """service.env lines that keep this test's dovesnap apart from other suites on the host."""
    return "\n".join([
        f"FAUCET_CONFIG_DIR={workdir / 'faucet'}",
        f"DOVESNAP_STATE_DIR={workdir / 'state'}",
        f"DOVESNAP_LOG_DIR={workdir / 'logs'}",
        f"DOVESNAP_PLUGIN_SOCKET={PLUGIN_SOCKET}",
        f"STATUS_PORT={STATUS_PORT}",
        f"FAUCET_OF_PORT={FAUCET_OF_PORT}", f"GAUGE_OF_PORT={GAUGE_OF_PORT}",
        f"FAUCET_PROM_PORT={FAUCET_PROM_PORT}", f"GAUGE_PROM_PORT={GAUGE_PROM_PORT}", "",
    ])


def two_containers_ping(docker: Docker, dpid: str) -> tuple[str, str, str]:
    network = unique("net")
    run([DOCKER, "network", "create", "-d", DRIVER, "--internal", "-o",
         f"ovs.bridge.dpid={dpid}", network])
    docker.networks.append(network)
    names = []
    for _ in range(2):
        name = unique("c")
        docker.containers.append(name)
        started = run([DOCKER, "run", "-d", "--name", name, "--net", network, IMAGE,
                       "sleep", "3600"], check=False)
        assert started.returncode == 0, f"docker run on {DRIVER}: {started.stderr}"
        names.append(name)
    first, second = names
    target = docker.ip(second)
    assert wait_until(lambda: docker.ping(first, target), 30, 0.5, f"{first} -> {second} ping")
    return network, first, second


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_installed_service_started_by_hand_carries_traffic(
    docker_daemon: None, tmp_path: Path
) -> None:
    if systemd_is_pid1():
        pytest.skip("systemd is PID 1 here: install.sh would enable the unit, not print the "
                    "hand-start command this test follows")
    if plugin_answers(PLUGIN_SOCKET):
        pytest.fail(f"{PLUGIN_SOCKET} already answers: stop the other dovesnap on it first")
    root = tmp_path
    env = {"PREFIX": str(root / "opt/dovesnap"), "SYSCONFDIR": str(root / "etc/dovesnap"),
           "UNITDIR": str(root / "etc/systemd/system")}
    installed = script("install.sh", env=env)
    try:
        assert installed.returncode == 0, installed.stderr
        assert "systemd is not running on this host" in installed.stdout
        # The two commands install.sh prints: start the daemon, wait until it answers.
        start_cmd, wait_cmd = (shlex.split(line)[:3] for line in installed.stdout.splitlines()
                               if line.strip().startswith("sh -c"))
        settings = root / "etc/dovesnap/service.env"
        settings.write_text(settings.read_text() + instance_settings(root))
        log = (root / "dovesnap.log").open("ab")
        proc = subprocess.Popen(start_cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        try:
            ready = run(wait_cmd, check=False, timeout=150)
            assert ready.returncode == 0, (root / "dovesnap.log").read_text()[-3000:]
            assert proc.poll() is None and plugin_answers(PLUGIN_SOCKET)
            assert wait_until(lambda: tcp_listening(FAUCET_OF_PORT), 60, 0.2, "FAUCET")
            with docker_objects() as docker:
                network, _, _ = two_containers_ping(docker, DPID_HAND)
                faucet_yaml = yaml.safe_load((root / "faucet/faucet.yaml").read_text())
                assert network in faucet_yaml["dps"]
            refused = script("uninstall.sh", env=env)
            assert refused.returncode == 1 and "still running" in refused.stderr
        finally:
            stop_group(proc)
        removed = script("uninstall.sh", env=env)
        assert removed.returncode == 0, removed.stderr
        assert not (root / "opt/dovesnap").exists()
    finally:
        if (root / "opt/dovesnap").exists():
            script("uninstall.sh", "--force", "--purge", env=env)


# ---------------------------------------------------------------- the container image

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
