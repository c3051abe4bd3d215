"""The operator's faucet.yaml stays theirs: symlinks, mode, owner, a backup of their version,
their edits made while dovesnap writes, and their typos reported (store + real temp files)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.adapters.faucet_file import ConfigFile
from dovesnap.errors import FaucetFileError
from dovesnap.plan.faucet_dp import put_dp
from tests.unit.fakes import OPERATOR_YAML, CountingReloader

DP = {"dp_id": 1, "hardware": "Open vSwitch", "interfaces": {1: {"native_vlan": 100}}}


def putter(name: str, dp_id: int = 1) -> Any:
    return lambda config: put_dp(config, name, {**DP, "dp_id": dp_id})


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_a_symlinked_config_is_written_through_and_stays_a_link(
    tmp_path: Path, faucet_check: FaucetCheckProcess
) -> None:
    repo, etc = tmp_path / "repo", tmp_path / "etc"
    repo.mkdir()
    etc.mkdir()
    (repo / "faucet.yaml").write_text(OPERATOR_YAML)
    link = etc / "faucet.yaml"
    link.symlink_to(repo / "faucet.yaml")
    store = FaucetConfigStore(link, faucet_check, CountingReloader())
    assert await store.update(putter("net1"))
    assert link.is_symlink() and os.readlink(link) == str(repo / "faucet.yaml")
    assert yaml.safe_load((repo / "faucet.yaml").read_text())["dps"]["net1"]["dp_id"] == 1
    assert names(repo) == ["faucet.yaml"]  # no temporary file left beside the target
    assert names(etc) == ["faucet.yaml", "faucet.yaml.dovesnap-bak"]
    assert not (etc / "faucet.yaml.dovesnap-bak").is_symlink()


async def test_mode_and_owner_are_kept(faucet_yaml: Path, store: FaucetConfigStore) -> None:
    os.chmod(faucet_yaml, 0o640)
    if os.geteuid() == 0:
        os.chown(faucet_yaml, 65534, 65534)
    await store.update(putter("net1"))
    st = faucet_yaml.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)


async def test_the_last_operator_version_is_backed_up_once(
    faucet_yaml: Path, store: FaucetConfigStore, tmp_path: Path,
    faucet_check: FaucetCheckProcess,
) -> None:
    backup = faucet_yaml.with_name("faucet.yaml.dovesnap-bak")
    marker = tmp_path / "state" / "faucet-written"
    store = FaucetConfigStore(faucet_yaml, faucet_check, CountingReloader(), marker=marker)
    await store.update(putter("net1"))
    assert backup.read_text() == OPERATOR_YAML
    await store.update(putter("net2", 2))  # dovesnap's own version is not "the operator's"
    assert backup.read_text() == OPERATOR_YAML
    # a restarted dovesnap knows its own file from the marker
    restarted = FaucetConfigStore(faucet_yaml, faucet_check, CountingReloader(), marker=marker)
    await restarted.update(putter("net3", 3))
    assert backup.read_text() == OPERATOR_YAML
    edited = faucet_yaml.read_text() + "# the operator was here\n"
    faucet_yaml.write_text(edited)
    await restarted.update(putter("net4", 4))
    assert backup.read_text() == edited
    assert "# the operator was here" in faucet_yaml.read_text()


async def test_an_operator_edit_made_during_the_write_is_kept(
    faucet_yaml: Path, faucet_check: FaucetCheckProcess
) -> None:
    edits = 0

    def validator(path: str) -> None:
        nonlocal edits
        faucet_check(path)
        if edits == 0:  # between dovesnap's read and its rename, as an editor would
            edits += 1
            text = faucet_yaml.read_text().replace("  denyall:", "  operator_acl:\n"
                                                   "    - rule:\n        actions:\n"
                                                   "          allow: 0\n  denyall:")
            faucet_yaml.write_text(text)

    reloader = CountingReloader()
    store = FaucetConfigStore(faucet_yaml, validator, reloader)
    assert await store.update(putter("net1"))
    config = yaml.safe_load(faucet_yaml.read_text())
    assert "operator_acl" in config["acls"] and config["dps"]["net1"]["dp_id"] == 1
    assert store.concurrent_edits == 1 and reloader.calls == 1


def test_a_same_size_edit_within_the_same_mtime_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "faucet.yaml"
    path.write_text("acls: {a: 1}\n")
    config_file = ConfigFile(path)
    seen = config_file.read().fingerprint
    st = path.stat()
    path.write_text("acls: {b: 1}\n")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert not config_file.unchanged(seen)
    assert config_file.unchanged(config_file.read().fingerprint)


async def test_a_file_changing_under_every_write_is_an_error_not_a_loop(
    faucet_yaml: Path, faucet_check: FaucetCheckProcess
) -> None:
    def meddling(path: str) -> None:
        faucet_yaml.write_text(faucet_yaml.read_text() + "#\n")

    store = FaucetConfigStore(faucet_yaml, meddling, CountingReloader())
    with pytest.raises(FaucetFileError, match="changed under each"):
        await store.update(putter("net1"))
    assert "net1" not in faucet_yaml.read_text()


async def test_a_typo_is_reported_with_its_line_and_nothing_is_written(
    faucet_yaml: Path, store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    broken = OPERATOR_YAML.replace("  denyall:", "  denyall: [")
    faucet_yaml.write_text(broken)
    with pytest.raises(FaucetFileError, match="line 9, column 5"):
        await store.update(putter("net1"))
    with pytest.raises(FaucetFileError):
        store.read()
    assert faucet_yaml.read_text() == broken and reloader.calls == 0
    faucet_yaml.write_text(OPERATOR_YAML)  # fixed: dovesnap carries on
    assert await store.update(putter("net1"))


async def test_edits_never_change_the_config_they_are_given(store: FaucetConfigStore) -> None:
    await store.update(putter("net1"))
    before = store.read()
    snapshot: Mapping[str, Any] = yaml.safe_load(store.render(before))
    await store.update(putter("net2", 2))
    await store.update(lambda c: put_dp(c, "net1", {**DP, "hardware": "Open vSwitch"}))
    assert yaml.safe_load(store.render(before)) == snapshot
