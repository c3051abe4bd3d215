"""dovesnap as a systemd service, for real: scripts/install.sh and scripts/uninstall.sh.

Installed (and the make targets) into a scratch root: what they write, --force upgrades, --purge,
and the refusals; the unit checked by systemd-analyze and enabled with ``systemctl --root``; an
install under a scratch PREFIX started by hand exactly as install.sh says on a host without
systemd, carrying traffic between two containers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.install_helpers import (
    FAUCET_OF_PORT,
    FAUCET_PROM_PORT,
    GAUGE_OF_PORT,
    GAUGE_PROM_PORT,
    PLUGIN_SOCKET,
    STATUS_PORT,
    copy_source,
    script,
    two_containers_ping,
)
from tests.integration.rig import ROOT, docker_objects, plugin_answers, run, tcp_listening, wait_until

# dpid of this module, in the range of test instance 8 (any instance works; it is unique).
DPID_HAND = "0x7e8001"


def systemd_is_pid1() -> bool:
    return Path("/proc/1/comm").read_text().strip() == "systemd"


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
    # FAUCET_CONFIG_DIR: install.sh prepares the service's FAUCET config dir (this test's own,
    # so the host's /etc/faucet is left alone).
    env = {"PREFIX": str(root / "opt/dovesnap"), "SYSCONFDIR": str(root / "etc/dovesnap"),
           "UNITDIR": str(root / "etc/systemd/system"), "FAUCET_CONFIG_DIR": str(root / "faucet")}
    installed = script("install.sh", env=env)
    try:
        assert installed.returncode == 0, installed.stderr
        assert "systemd is not running on this host" in installed.stdout
        starter = yaml.safe_load((root / "faucet/faucet.yaml").read_text())
        assert set(starter["acls"]) == {"allowall", "denyall"} and "dps" not in starter
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
