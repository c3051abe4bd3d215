"""FaucetConfigStore with a real temp dir and FAUCET's own config parser."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.errors import FaucetConfigError
from dovesnap.model.network import parse_network
from dovesnap.plan.faucet_dp import ContainerPort, DpInputs, build_dp, build_vlans, put_dp, remove_dp
from tests.unit.fakes import OPERATOR_YAML, CountingReloader


def dp(acls: list[str] | None = None, dp_id: int = 1) -> dict[str, Any]:
    iface: dict[str, Any] = {"description": "web 01234", "native_vlan": 100}
    if acls:
        iface["acls_in"] = acls
    return {"dp_id": dp_id, "hardware": "Open vSwitch", "interfaces": {1: iface}}


def putter(name: str, value: Mapping[str, Any]) -> Any:
    return lambda config: put_dp(config, name, value)


def leftovers(directory: Path) -> list[str]:
    """Files other than the config and its operator backup (temporary files must not stay)."""
    keep = {"faucet.yaml", "faucet.yaml.dovesnap-bak"}
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


async def test_valid_dp_is_written_and_reloaded_once(
    store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    assert await store.update(putter("net1", dp(["allowall"]))) is True
    written = yaml.safe_load(store.path.read_text())
    assert written["dps"]["net1"]["interfaces"][1]["acls_in"] == ["allowall"]
    assert written["dps"]["net1"]["dp_id"] == 1
    assert reloader.calls == 1
    assert store.reloads == 1
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o644
    assert leftovers(store.path.parent) == []


async def test_unknown_acl_is_refused_and_file_untouched(
    store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    before = store.path.read_bytes()
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await store.update(putter("net1", dp(["nosuchacl"])))
    assert store.path.read_bytes() == before
    assert reloader.calls == 0
    assert leftovers(store.path.parent) == []


async def test_check_refuses_without_writing(
    store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    before = store.path.read_bytes()
    await store.check(putter("net1", dp(["allowall"])))
    with pytest.raises(FaucetConfigError):
        await store.check(putter("net1", dp(["nosuchacl"])))
    assert store.path.read_bytes() == before
    assert reloader.calls == 0
    assert leftovers(store.path.parent) == []


async def test_operator_comments_and_acl_order_survive(store: FaucetConfigStore) -> None:
    await store.update(putter("net1", dp(["denyall"])))
    await store.update(putter("net2", dp(["allowall"], dp_id=2)))
    await store.update(lambda c: remove_dp(c, "net1"))
    text = store.path.read_text()
    assert "# operator's FAUCET config: dovesnap must keep this comment" in text
    assert "# allow everything" in text
    assert "# keep this trailing comment too" in text
    config = yaml.safe_load(text)
    assert list(config["acls"]) == ["allowall", "denyall", "mirror_in"]
    assert list(config["dps"]) == ["net2"]
    assert config["acls"] == yaml.safe_load(OPERATOR_YAML)["acls"]


async def test_no_change_means_no_write_and_no_reload(
    store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    await store.update(putter("net1", dp()))
    mtime = store.path.stat().st_mtime_ns
    assert await store.update(putter("net1", dp())) is False
    assert await store.update(lambda c: c) is False
    assert reloader.calls == 1
    assert store.path.stat().st_mtime_ns == mtime


async def test_removing_the_last_dp_is_written_without_validation(
    store: FaucetConfigStore, reloader: CountingReloader
) -> None:
    # FAUCET's parser refuses a config without DPs; dovesnap must still be able to write one.
    await store.update(putter("net1", dp()))
    assert await store.update(lambda c: remove_dp(c, "net1")) is True
    assert yaml.safe_load(store.path.read_text())["dps"] == {}
    assert reloader.calls == 2


async def test_ensure_exists_only_writes_when_absent(
    tmp_path: Path, faucet_check: FaucetCheckProcess
) -> None:
    reloader = CountingReloader()
    path = tmp_path / "new" / "faucet.yaml"
    fresh = FaucetConfigStore(path, faucet_check, reloader)
    assert fresh.read() == {}
    assert await fresh.ensure_exists({"acls": {"a": [{"rule": {"actions": {"allow": 1}}}]}})
    assert yaml.safe_load(path.read_text())["acls"]["a"][0]["rule"]["actions"]["allow"] == 1
    assert not await fresh.ensure_exists({"acls": {}})
    assert "a" in yaml.safe_load(path.read_text())["acls"]
    assert reloader.calls == 0


@pytest.mark.parametrize("content", ["- a list\n", "just text\n"])
def test_reading_a_non_mapping_is_an_error(
    tmp_path: Path, content: str, faucet_check: FaucetCheckProcess
) -> None:
    path = tmp_path / "faucet.yaml"
    path.write_text(content)
    with pytest.raises(FaucetConfigError, match="mapping"):
        FaucetConfigStore(path, faucet_check, CountingReloader()).read()


def test_empty_file_reads_as_empty(tmp_path: Path, faucet_check: FaucetCheckProcess) -> None:
    path = tmp_path / "faucet.yaml"
    path.write_text("")
    assert FaucetConfigStore(path, faucet_check, CountingReloader()).read() == {}


async def test_write_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    def exploding(path: str) -> None:
        raise RuntimeError("validator crashed")

    path = tmp_path / "faucet.yaml"
    path.write_text(OPERATOR_YAML)
    broken = FaucetConfigStore(path, exploding, CountingReloader())
    with pytest.raises(RuntimeError):
        await broken.update(putter("net1", dp()))
    with pytest.raises(RuntimeError):
        await broken.check(putter("net1", dp()))
    assert path.read_text() == OPERATOR_YAML
    assert leftovers(tmp_path) == []


# --- what the planner produces is accepted by FAUCET --------------------------------------------

CTRL = ("tcp:127.0.0.1:6653",)
IPV4 = [{"Pool": "10.1.0.0/24", "Gateway": "10.1.0.1/24"}]


@pytest.mark.parametrize(
    ("options", "containers"),
    [
        ({}, ()),
        ({"preallocate_ports": "3", "default_acl": "allowall"}, ()),
        ({"mode": "nat", "nat_acl": "denyall"}, (ContainerPort(1, "a 12345", ("allowall",)),)),
        ({"mode": "routed", "vlan": "300"}, ()),
        ({"vlan_out_acl": "allowall"}, (ContainerPort(2, "b 12345"),)),
        ({"default_acl": "net1:allowall,denyall"}, (ContainerPort(2, "b 12345", mirror=True),)),
    ],
)
async def test_planned_dps_pass_faucet(
    store: FaucetConfigStore, options: dict[str, str], containers: tuple[ContainerPort, ...]
) -> None:
    opts = {"ovs.bridge." + k: v for k, v in ({"dpid": "0x77"} | options).items()}
    spec = parse_network("abcdef", opts, IPV4, (), CTRL)
    inputs = DpInputs(spec, "net1", containers=containers, mirror_port=True)
    assert await store.update(lambda c: put_dp(c, "net1", build_dp(inputs), build_vlans(inputs)))
    written = yaml.safe_load(store.path.read_text())["dps"]["net1"]
    assert written["dp_id"] == 0x77
