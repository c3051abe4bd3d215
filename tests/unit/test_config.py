"""config.py: every default in one place, flags and environment read one way, ``config --shell``."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dovesnap import config
from dovesnap.cli import build_parser, main, serve_settings
from dovesnap.config import ServeSettings, default_controllers
from dovesnap.errors import FlagError, OptionError
from dovesnap.fabric_settings import FabricFlags, MirrorFlags

ROOT = Path(__file__).resolve().parents[2]
# Paths spelled in config.py alone: code elsewhere imports them, scripts ask `dovesnap config`.
DEFAULT_PATHS = ("/run/docker/plugins", "/etc/faucet", "unix:///var/run/docker.sock",
                 "/var/lib/dovesnap", "/var/log/dovesnap", "/var/run/openvswitch", "/run/dovesnap")


@pytest.fixture(autouse=True)
def no_settings_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in config.FLAGS.values():
        if flag.env:
            monkeypatch.delenv(flag.env, raising=False)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def shell(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["config", "--shell", *argv]) == 0
    pairs = [shlex.split(line)[0].split("=", 1) for line in capsys.readouterr().out.splitlines()]
    return {key: value for key, value in pairs}


def test_shell_lines_are_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    values = shell([], capsys)
    assert values["DOVESNAP_PLUGIN_SOCKET"] == str(config.PLUGIN_SOCKET)
    assert values["FAUCET_CONFIG_DIR"] == "/etc/faucet"
    assert values["DOVESNAP_RUN_DIR"] == "/run/dovesnap"
    assert values["FAUCET_OF_PORT"] == "6653" and values["STATUS_PORT"] == "9401"
    assert values["STATUS_AUTH_IPS"] == "127.0.0.0/8,::1/128"
    assert values["EXTERNAL_FAUCET"] == "0" and values["MIRROR_BRIDGE_OUT"] == ""
    assert values["DOCKER_HOST"] == "unix:///var/run/docker.sock"


def test_shell_lines_apply_environment_and_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOVESNAP_LOG_DIR", "/tmp/a dir with 'quotes'")
    monkeypatch.setenv("EXTERNAL_FAUCET", "yes")
    values = shell(["--faucet-of-port", "7653", "--debug"], capsys)
    assert values["DOVESNAP_LOG_DIR"] == "/tmp/a dir with 'quotes'"
    assert values["EXTERNAL_FAUCET"] == "1" and values["FAUCET_OF_PORT"] == "7653"


def test_python_m_config_needs_only_the_standard_library() -> None:
    # What the scripts run before the venv exists: no site-packages (-S), the checkout on the path.
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from dovesnap.config import main; main()"
    out = subprocess.run([sys.executable, "-S", "-c", code, "--shell"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    assert f"DOVESNAP_PLUGIN_SOCKET={config.PLUGIN_SOCKET}\n" in out
    # config.py, and every dovesnap module it pulls in, imports the standard library alone.
    todo, seen = ["dovesnap.config"], set()
    while todo:
        module = todo.pop()
        seen.add(module)
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.level == 0}
        ours = {name for name in imported if name.split(".")[0] == "dovesnap"}
        others = {name.split(".")[0] for name in imported - ours} - {"__future__"}
        assert others <= sys.stdlib_module_names, f"{module} imports {others - sys.stdlib_module_names}"
        todo += [name for name in ours if name not in seen and name != "dovesnap"]
    assert seen <= {"dovesnap.config", "dovesnap.fabric_settings"}  # kept small on purpose


def test_every_command_reads_environment_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAUCET_CONFIG_DIR", "/srv/faucet")
    monkeypatch.setenv("OVS_DB_SOCK", "/tmp/db.sock")
    for command in ("serve", "doctor", "cleanup"):
        args = parse(command)
        assert args.faucet_config_dir == Path("/srv/faucet"), command
        assert args.ovs_db_sock == Path("/tmp/db.sock"), command
    assert parse("serve", "--faucet_config_dir", "/x").faucet_config_dir == Path("/x")


def test_serve_flags_become_typed_settings_parsed_once() -> None:
    settings = serve_settings(parse("serve", "--mirror-bridge-out", "eth9",
                                    "--default-ofcontrollers", "tcp:10.0.0.1:6653",
                                    "--status-port", "9999", "--external-faucet"))
    assert settings.fabric == FabricFlags(mirror=MirrorFlags("eth9"))
    assert settings.default_ofcontrollers == ("tcp:10.0.0.1:6653",)
    assert settings.status_port == 9999 and not settings.embedded_faucet
    assert settings.plugin_socket == config.PLUGIN_SOCKET and settings.driver_name == "dovesnap"
    assert serve_settings(parse("serve")) == ServeSettings()
    with pytest.raises(FlagError):
        serve_settings(parse("serve", "--mirror-bridge-in", "eth1"))
    with pytest.raises(OptionError):
        serve_settings(parse("serve", "--default-ofcontrollers", "nonsense"))


def test_stacking_needs_no_controllers_flag_with_the_embedded_faucet() -> None:
    settings = serve_settings(parse("serve", "--stacking-interfaces", "root:7:eth1",
                                    "--faucet-of-port", "7653", "--gauge-of-port", "7654"))
    assert settings.fabric.stack is not None
    assert settings.fabric.stack.controllers == ("tcp:127.0.0.1:7653", "tcp:127.0.0.1:7654")
    with pytest.raises(FlagError, match="external FAUCET"):
        serve_settings(parse("serve", "--stacking-interfaces", "root:7:eth1", "--external-faucet"))
    given = serve_settings(parse("serve", "--stacking-interfaces", "root:7:eth1", "--external-faucet",
                                 "--default-ofcontrollers", "tcp:10.0.0.1:6653"))
    assert given.fabric.stack is not None
    assert given.fabric.stack.controllers == ("tcp:10.0.0.1:6653",)


def test_docker_url_reaches_serve_doctor_and_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other-engine.sock")
    for command in ("serve", "doctor", "cleanup"):
        assert parse(command).docker_url == "unix:///run/other-engine.sock", command
    assert serve_settings(parse("serve")).docker_url == "unix:///run/other-engine.sock"
    flagged = parse("serve", "--docker-url", "unix:///run/x.sock")
    assert serve_settings(flagged).docker_url == "unix:///run/x.sock"


def test_default_controllers() -> None:
    assert default_controllers(ServeSettings()) == ("tcp:127.0.0.1:6653", "tcp:127.0.0.1:6654")
    assert default_controllers(ServeSettings(faucet_of_port=7653, gauge_of_port=7654)) == (
        "tcp:127.0.0.1:7653", "tcp:127.0.0.1:7654")
    assert default_controllers(ServeSettings(embedded_faucet=False)) == ()
    given = ("tcp:10.0.0.1:6653",)
    assert default_controllers(ServeSettings(default_ofcontrollers=given)) == given


def code_lines(path: Path) -> str:
    """The file without comment lines (shell, Makefile) or docstrings and comments (Python)."""
    if path.suffix != ".py":
        return "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef |
                                ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return "\n".join(node.value for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and id(node) not in docstrings)


def test_default_paths_are_spelled_in_config_alone() -> None:
    files = [p for p in (ROOT / "dovesnap").rglob("*.py") if p.name != "config.py"]
    files += [*(ROOT / "scripts").glob("*.sh"), ROOT / "Makefile"]
    for path in files:
        text = code_lines(path)
        for literal in DEFAULT_PATHS:
            # The path itself or a file under it; not e.g. /var/log/dovesnap.log.
            spelled = re.search(re.escape(literal) + r"(?![\w.-])", text)
            assert spelled is None, f"{path.relative_to(ROOT)} spells {literal}"


def test_the_go_originals_faucetconfrpc_flags_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse("serve", "--faucetconfrpc_addr", "faucet.lab", "--faucetconfrpc_port", "50000",
                 "--faucetconfrpc_keydir", "/keys", "--faucetconfrpc_client", "hostb",
                 "--faucetconfrpc_connretries", "2")
    rpc = serve_settings(args).faucetconfrpc
    assert rpc == config.FaucetConfRpcSettings("faucet.lab", 50000, Path("/keys"), "hostb", 2)
    assert rpc.cert == Path("/keys/hostb.crt") and rpc.key == Path("/keys/hostb.key")
    assert rpc.ca_candidates == (Path("/keys/faucet.lab-ca.crt"), Path("/keys/ca.crt"))
    assert rpc.target == "faucet.lab:50000"
    assert not serve_settings(args).embedded_faucet  # that FAUCET runs elsewhere
    monkeypatch.setenv("FAUCETCONFRPC_ADDR", "fd42:9::1")
    rpc = serve_settings(parse("serve", "--faucetconfrpc-port", "1")).faucetconfrpc
    assert rpc is not None and rpc.target == "[fd42:9::1]:1"
    assert rpc.keydir == config.FAUCETCONFRPC_KEYDIR and rpc.client == "faucetconfrpc"


def test_no_faucetconfrpc_addr_means_the_local_file() -> None:
    settings = serve_settings(parse("serve", "--faucetconfrpc-port", "50000"))
    assert settings.faucetconfrpc is None and settings.embedded_faucet


@pytest.mark.parametrize("command", ["serve", "doctor", "cleanup"])
def test_every_go_original_flag_is_accepted(command: str) -> None:
    go_flags = {"faucetconfrpc_client": "c", "faucetconfrpc_addr": "a", "faucetconfrpc_port": "1",
                "faucetconfrpc_keydir": "/k", "faucetconfrpc_connretries": "1"}
    if command == "serve":
        go_flags |= {"stacking_interfaces": "", "stack_priority1": "", "stack_mirror_interface": "",
                     "default_ofcontrollers": "", "mirror_bridge_in": "", "mirror_bridge_out": "",
                     "status_port": "1", "status_auth_ips": "127.0.0.0/8"}
    argv = [command, *(f"--{name}={value}" for name, value in go_flags.items())]
    if command == "serve":
        argv += ["--trace", "--debug"]
    parse(*argv)  # argparse exits (SystemExit) on a flag it does not know


def test_faucet_metrics_are_read_where_faucet_runs() -> None:
    assert config.faucet_metrics_url(ServeSettings(faucet_prom_port=9999)) == "http://127.0.0.1:9999/"
    remote = ServeSettings(embedded_faucet=False,
                           default_ofcontrollers=("tcp:10.90.0.1:6653", "tcp:10.90.0.1:6654"))
    assert config.faucet_metrics_url(remote) == "http://10.90.0.1:9302/"
    six = ServeSettings(embedded_faucet=False, default_ofcontrollers=("tcp:[fd42:9::1]:6653",))
    assert config.faucet_metrics_url(six) == "http://[fd42:9::1]:9302/"
