"""RemoteFaucetConfig over the fake faucetconfrpc server, validated by FAUCET's own parser."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_rpc import RemoteFaucetConfig
from dovesnap.errors import FaucetConfigError, FaucetConfigUnavailable
from dovesnap.plan.faucet_dp import put_dp, remove_dp
from tests.unit.fakes import OPERATOR_YAML
from tests.unit.rpc_fakes import FakeConfRpc


def dp(dp_id: int, acls: list[str] | None = None) -> dict[str, Any]:
    iface: dict[str, Any] = {"description": "web 01234", "native_vlan": 100}
    if acls:
        iface["acls_in"] = acls
    return {"dp_id": dp_id, "hardware": "Open vSwitch", "interfaces": {1: iface}}


@pytest.fixture
def server() -> FakeConfRpc:
    return FakeConfRpc(yaml.safe_load(OPERATOR_YAML))


@pytest.fixture
def remote(server: FakeConfRpc, faucet_check: FaucetCheckProcess) -> RemoteFaucetConfig:
    return RemoteFaucetConfig(server, faucet_check)


async def test_update_lands_on_the_server_and_is_read_back(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    assert await remote.update(lambda c: put_dp(c, "net1", dp(1, ["allowall"]))) is True
    assert server.config["dps"]["net1"]["interfaces"][1]["acls_in"] == ["allowall"]
    assert server.config["acls"]["denyall"] == [{"rule": {"actions": {"allow": 0}}}]
    assert remote.reloads == 1
    assert (remote.read()["dps"]["net1"]["dp_id"]) == 1
    assert await remote.update(lambda c: put_dp(c, "net1", dp(1, ["allowall"]))) is False
    assert len(server.sets) == 1  # nothing sent when nothing changes


async def test_unknown_acl_is_refused_here_and_nothing_is_sent(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await remote.update(lambda c: put_dp(c, "net1", dp(1, ["nosuchacl"])))
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await remote.check(lambda c: put_dp(c, "net1", dp(1, ["nosuchacl"])))
    assert server.sets == [] and "dps" not in server.config


async def test_server_down_is_unavailable_not_refused(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    server.down = True
    with pytest.raises(FaucetConfigUnavailable, match="fake:59999"):
        await remote.update(lambda c: put_dp(c, "net1", dp(1)))
    with pytest.raises(FaucetConfigUnavailable):
        remote.read()
    server.down = False
    assert await remote.update(lambda c: put_dp(c, "net1", dp(1)))


async def test_server_refusal_is_a_config_error(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    server.refuse = "Invalid config: DP net1 has no interfaces"
    with pytest.raises(FaucetConfigError, match="has no interfaces"):
        await remote.update(lambda c: put_dp(c, "net1", dp(1)))
    assert "dps" not in server.config


async def test_another_hosts_change_meanwhile_is_kept(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    await remote.update(lambda c: put_dp(c, "net1", dp(1)))

    def other_host(fake: FakeConfRpc) -> None:  # lands between our read and our write
        fake.config["dps"]["hostb"] = dp(2)

    server.between = other_host
    await remote.update(lambda c: put_dp(c, "net3", dp(3)))
    assert set(server.config["dps"]) == {"net1", "hostb", "net3"}
    server.between = other_host
    await remote.update(lambda c: remove_dp(c, "net3"))
    assert set(server.config["dps"]) == {"net1", "hostb"}


async def test_a_key_deleted_meanwhile_is_planned_again(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    await remote.update(lambda c: put_dp(put_dp(c, "net1", dp(1)), "net2", dp(2)))

    def other_host(fake: FakeConfRpc) -> None:
        del fake.config["dps"]["net1"]["interfaces"][1]

    server.between = other_host  # our deletion of interface 1 now fails there: it is gone
    await remote.update(lambda c: put_dp(c, "net1", {**dp(1), "interfaces": {2: {"native_vlan": 100}}}))
    assert server.config["dps"]["net1"]["interfaces"] == {2: {"native_vlan": 100}}
    assert len(server.sets) == 3


async def test_a_change_the_server_does_not_keep_is_an_error(
    remote: RemoteFaucetConfig, server: FakeConfRpc
) -> None:
    server.ignore_sets = True
    with pytest.raises(FaucetConfigUnavailable, match=r"did not keep.*\(dps\) in 3 tries"):
        await remote.update(lambda c: put_dp(c, "net1", dp(1)))
    assert len(server.sets) == 3


async def test_ensure_exists_writes_only_an_empty_config(faucet_check: FaucetCheckProcess) -> None:
    empty = FakeConfRpc({"dps": None})
    store = RemoteFaucetConfig(empty, faucet_check)
    assert await store.ensure_exists(yaml.safe_load(OPERATOR_YAML)) is True
    assert "allowall" in empty.config["acls"]
    assert await store.ensure_exists({"acls": {}}) is False
    assert "allowall" in empty.config["acls"]


async def test_includes_leave_the_check_to_the_server(faucet_check: FaucetCheckProcess) -> None:
    server = FakeConfRpc({"include": ["acls.yaml"]})
    store = RemoteFaucetConfig(server, faucet_check)
    # acls.yaml exists only on the server: the ACL is unknown here, but not refused here.
    await store.update(lambda c: put_dp(c, "net1", dp(1, ["fromincluded"])))
    assert server.config["dps"]["net1"]["interfaces"][1]["acls_in"] == ["fromincluded"]


@pytest.mark.parametrize("served", ["- a list\n", "key: [unclosed\n"])
def test_a_served_config_that_is_not_a_mapping_is_an_error(
    served: str, faucet_check: FaucetCheckProcess
) -> None:
    server = FakeConfRpc()
    server.get_config = lambda: served  # type: ignore[method-assign]
    with pytest.raises(FaucetConfigError, match="fake:59999"):
        RemoteFaucetConfig(server, faucet_check).read()
