"""FAUCET's example config told from an operator's, set aside before dovesnap's starter is
written; the operator's files are never moved or changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.cli import main
from dovesnap.errors import FaucetConfigError
from dovesnap.runtime.faucet import prepare_config
from dovesnap.runtime.faucet_examples import (
    ACLS_YAML,
    EXAMPLE_FILES,
    FAUCET_YAML,
    GAUGE_YAML,
    examples_to_set_aside,
    is_untouched_example,
    set_aside_examples,
    shipped_examples,
)

SHIPPED = shipped_examples()
RYU_CONF = b"[DEFAULT]\necho_request_interval=3\nmaximum_unreplied_echo_requests=5\n"
OPERATORS = b"acls:\n  mine:\n  - rule: {actions: {allow: 1}}\n"


def fresh_install(directory: Path) -> None:
    """/etc/faucet as FAUCET's package build as root leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in SHIPPED.items():
        (directory / name).write_bytes(content)
    for name in ("ryu.conf", "os_ken.conf"):
        (directory / name).write_bytes(RYU_CONF)


def test_the_installed_faucet_ships_its_examples_and_they_are_known() -> None:
    assert set(SHIPPED) == set(EXAMPLE_FILES)
    example = yaml.safe_load(SHIPPED[FAUCET_YAML])
    assert {dp["dp_id"] for dp in example["dps"].values()} >= {1, 2}  # what clashes with dpid 0x1
    for name, content in SHIPPED.items():
        assert is_untouched_example(name, content, SHIPPED)
        assert is_untouched_example(name, content, {})  # known by digest too, without the package


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_an_edited_example_is_the_operators(name: str) -> None:
    edited = SHIPPED[name].replace(b"\n", b"\n\n", 1)
    assert not is_untouched_example(name, edited, SHIPPED)
    assert not is_untouched_example(name, SHIPPED[name] + b"# mine\n", SHIPPED)
    assert not is_untouched_example(name, b"", SHIPPED)


@pytest.mark.parametrize(("present", "expected"), [
    ({FAUCET_YAML: "example", ACLS_YAML: "example", GAUGE_YAML: "example"},
     [FAUCET_YAML, ACLS_YAML, GAUGE_YAML]),
    # The operator's faucet.yaml stays, and may include acls.yaml: that stays too.
    ({FAUCET_YAML: "operator", ACLS_YAML: "example", GAUGE_YAML: "example"}, [GAUGE_YAML]),
    ({ACLS_YAML: "example"}, [ACLS_YAML]),
    ({FAUCET_YAML: "example", GAUGE_YAML: "operator"}, [FAUCET_YAML]),
    ({FAUCET_YAML: "operator", ACLS_YAML: "operator", GAUGE_YAML: "operator"}, []),
    ({}, []),
])
def test_which_files_are_set_aside(present: dict[str, str], expected: list[str]) -> None:
    contents: dict[str, bytes | None] = {name: None for name in EXAMPLE_FILES}
    for name, kind in present.items():
        contents[name] = SHIPPED[name] if kind == "example" else OPERATORS
    assert examples_to_set_aside(contents, SHIPPED) == expected


def test_a_fresh_install_is_set_aside_and_the_rest_kept(tmp_path: Path) -> None:
    fresh_install(tmp_path)
    moved = set_aside_examples(tmp_path, SHIPPED)
    assert [(s.name, k.name if k else None) for s, k in moved] == [
        (FAUCET_YAML, "faucet.yaml.example"), (ACLS_YAML, "acls.yaml.example"),
        (GAUGE_YAML, "gauge.yaml.example")]
    for name, content in SHIPPED.items():
        assert not (tmp_path / name).exists()
        assert (tmp_path / f"{name}.example").read_bytes() == content
    assert (tmp_path / "ryu.conf").read_bytes() == RYU_CONF  # FAUCET's keepalive settings stay
    assert set_aside_examples(tmp_path, SHIPPED) == []  # nothing left to do


def test_the_operators_files_are_never_moved(tmp_path: Path) -> None:
    fresh_install(tmp_path)
    (tmp_path / FAUCET_YAML).write_bytes(OPERATORS)
    moved = set_aside_examples(tmp_path, SHIPPED)
    assert [s.name for s, _ in moved] == [GAUGE_YAML]
    assert (tmp_path / FAUCET_YAML).read_bytes() == OPERATORS
    assert (tmp_path / ACLS_YAML).read_bytes() == SHIPPED[ACLS_YAML]


def test_an_example_already_kept_is_not_kept_twice_and_other_files_are_not_overwritten(
    tmp_path: Path,
) -> None:
    fresh_install(tmp_path)
    (tmp_path / "faucet.yaml.example").write_bytes(SHIPPED[FAUCET_YAML])
    (tmp_path / "gauge.yaml.example").write_bytes(b"someone's notes\n")
    moved = dict((s.name, k) for s, k in set_aside_examples(tmp_path, SHIPPED))
    assert moved[FAUCET_YAML] is None and not (tmp_path / FAUCET_YAML).exists()
    assert moved[GAUGE_YAML] == tmp_path / "gauge.yaml.example.1"
    assert (tmp_path / "gauge.yaml.example").read_bytes() == b"someone's notes\n"
    assert (tmp_path / "gauge.yaml.example.1").read_bytes() == SHIPPED[GAUGE_YAML]


def test_no_config_dir_is_nothing_to_set_aside(tmp_path: Path) -> None:
    assert set_aside_examples(tmp_path / "absent", SHIPPED) == []


def test_prepare_replaces_the_example_with_the_starter(tmp_path: Path) -> None:
    fresh_install(tmp_path)
    store = FaucetConfigStore(tmp_path / FAUCET_YAML, lambda _path: None, lambda: None)
    moved = asyncio.run(prepare_config(store, 19303))
    assert len(moved) == 3
    faucet = yaml.safe_load((tmp_path / FAUCET_YAML).read_text())
    assert faucet == {"acls": {"allowall": [{"rule": {"actions": {"allow": 1}}}],
                               "denyall": [{"rule": {"actions": {"allow": 0}}}]}}
    gauge = yaml.safe_load((tmp_path / GAUGE_YAML).read_text())
    assert gauge["faucet_configs"] == [str(tmp_path / FAUCET_YAML)]
    assert gauge["dbs"]["prometheus"]["prometheus_port"] == 19303


def test_prepare_keeps_the_operators_config_byte_for_byte(tmp_path: Path) -> None:
    fresh_install(tmp_path)
    (tmp_path / FAUCET_YAML).write_bytes(OPERATORS)
    store = FaucetConfigStore(tmp_path / FAUCET_YAML, lambda _path: None, lambda: None)
    asyncio.run(prepare_config(store))
    assert (tmp_path / FAUCET_YAML).read_bytes() == OPERATORS
    assert (tmp_path / "gauge.yaml.example").exists() and (tmp_path / GAUGE_YAML).exists()


def test_an_unmovable_example_stops_the_start(tmp_path: Path) -> None:
    fresh_install(tmp_path)
    for n in ["", *(f".{i}" for i in range(1, 100))]:  # every name it could be kept as is taken
        (tmp_path / f"faucet.yaml.example{n}").write_bytes(b"x")
    store = FaucetConfigStore(tmp_path / FAUCET_YAML, lambda _path: None, lambda: None)
    with pytest.raises(FaucetConfigError, match="cannot set FAUCET's example config"):
        asyncio.run(prepare_config(store))
    assert (tmp_path / FAUCET_YAML).read_bytes() == SHIPPED[FAUCET_YAML]


def test_init_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh_install(tmp_path)
    assert main(["init-config", "--faucet-config-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / FAUCET_YAML}: FAUCET's example, kept as {tmp_path}/faucet.yaml.example" in out
    assert f"{tmp_path / FAUCET_YAML}: dovesnap's starter written" in out
    assert "allowall" in (tmp_path / FAUCET_YAML).read_text()
    assert main(["init-config", "--faucet-config-dir", str(tmp_path)]) == 0
    assert f"{tmp_path / FAUCET_YAML}: kept (the operator's)" in capsys.readouterr().out
