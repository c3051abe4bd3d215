"""FaucetConfRpcClient against an in-process gRPC server with mutual TLS (certificates made here).

The server speaks faucetconfrpc's service names and messages and keeps its config in the fake
(``rpc_fakes.FakeConfRpc``); TLS, gRPC status codes and the wire format are the real ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from dovesnap.adapters import faucetconfrpc_wire as wire
from dovesnap.adapters.faucetconfrpc_client import FaucetConfRpcClient
from dovesnap.config import FaucetConfRpcSettings
from dovesnap.errors import FaucetConfigError, FaucetConfigUnavailable
from tests.certs import Pki, make_pki
from tests.unit.rpc_fakes import FakeConfRpc


class Served:
    def __init__(self, fake: FakeConfRpc) -> None:
        self.fake = fake

    def get(self, request: bytes, context: Any) -> bytes:
        return wire.encode({1: self.fake.get_config()})

    def set(self, request: bytes, context: Any) -> bytes:
        fields = wire.decode(request)
        text = (wire.strings(fields, 2) or [""])[0]
        keys = (wire.strings(fields, 4) or [""])[0]
        try:
            self.fake.set_config(text, bool(fields.get(3, [0])[0]), keys)
        except FaucetConfigError as err:
            context.abort(grpc.StatusCode.UNKNOWN, f"error {err.what}")
        return b""

    def names(self, request: bytes, context: Any) -> bytes:
        raise RuntimeError("boom")  # an exception in the handler: gRPC answers UNKNOWN


@dataclasses.dataclass
class Rig:
    pki: Pki
    port: int
    fake: FakeConfRpc
    server: Any

    def settings(self, keydir: Path | None = None, port: int | None = None) -> FaucetConfRpcSettings:
        return FaucetConfRpcSettings("localhost", port or self.port, keydir or self.pki.directory)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    pki = make_pki(tmp_path / "pki")
    fake = FakeConfRpc({"dps": {"sw1": {"dp_id": 1}}})
    served = Served(fake)
    handler = grpc.method_handlers_generic_handler("faucetconfserver.FaucetConfServer", {
        "GetConfigFile": grpc.unary_unary_rpc_method_handler(served.get),
        "SetConfigFile": grpc.unary_unary_rpc_method_handler(served.set),
        "GetDpNames": grpc.unary_unary_rpc_method_handler(served.names),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes(), require_client_auth=True)
    port = server.add_secure_port("localhost:0", creds)
    server.start()
    try:
        yield Rig(pki, port, fake, server)
    finally:
        server.stop(0)


def test_get_and_set_over_mutual_tls(rig: Rig) -> None:
    client = FaucetConfRpcClient(rig.settings())
    try:
        assert "sw1" in client.get_config()
        client.set_config("dps:\n  sw2:\n    dp_id: 2\n", merge=True)
        assert set(rig.fake.config["dps"]) == {"sw1", "sw2"}
        client.set_config("{}\n", merge=True, del_keys_yaml="[dps, sw1]")
        assert set(rig.fake.config["dps"]) == {"sw2"}
    finally:
        client.close()


def test_the_go_originals_ca_name_is_preferred(rig: Rig) -> None:
    rig.pki.keydir_ca("localhost").write_bytes(rig.pki.ca.read_bytes())
    rig.pki.ca.write_text("not a certificate")  # would fail the handshake if it were used
    client = FaucetConfRpcClient(rig.settings(), timeout=5)
    try:
        assert "sw1" in client.get_config()
    finally:
        client.close()


def test_a_refused_change_is_a_config_error(rig: Rig) -> None:
    rig.fake.refuse = "Invalid config: no such ACL"
    client = FaucetConfRpcClient(rig.settings())
    try:
        with pytest.raises(FaucetConfigError, match="no such ACL"):
            client.set_config("dps: {}\n", merge=True)
        with pytest.raises(FaucetConfigError, match="boom"):
            client.dp_names()
    finally:
        client.close()


def test_a_client_certificate_from_another_ca_is_unavailable(rig: Rig, tmp_path: Path) -> None:
    rogue = make_pki(tmp_path / "rogue")
    rogue.ca.write_bytes(rig.pki.ca.read_bytes())  # trusts the server, but is not trusted by it
    client = FaucetConfRpcClient(rig.settings(keydir=rogue.directory), timeout=5)
    try:
        with pytest.raises(FaucetConfigUnavailable, match="faucetconfrpc at localhost"):
            client.get_config()
    finally:
        client.close()
    assert rig.fake.gets == 0


def test_no_server_is_unavailable(rig: Rig) -> None:
    rig.server.stop(0)
    client = FaucetConfRpcClient(rig.settings(), timeout=3)
    try:
        with pytest.raises(FaucetConfigUnavailable, match="UNAVAILABLE"):
            client.set_config("dps: {}\n", merge=True)
    finally:
        client.close()


def test_missing_key_files_say_where_they_were_looked_for(tmp_path: Path) -> None:
    client = FaucetConfRpcClient(FaucetConfRpcSettings("localhost", 1, tmp_path / "nokeys"))
    with pytest.raises(FaucetConfigUnavailable, match=r"nokeys/localhost-ca.crt.*--faucetconfrpc-keydir"):
        client.get_config()
