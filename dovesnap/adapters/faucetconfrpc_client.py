"""A faucetconfrpc client: gRPC over mutual TLS, blocking (run it with ``run_blocking``).

Every call either returns what the server answered or raises: an unreachable server, a refused
certificate or a timeout is :class:`FaucetConfigUnavailable`; a request the server refused (its
FAUCET parser or its YAML handling said no) is :class:`FaucetConfigError`. Nothing comes back as
None. The channel reconnects by itself, at most 5 s after the server is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from dovesnap.adapters import faucetconfrpc_wire as wire
from dovesnap.config import FaucetConfRpcSettings
from dovesnap.errors import FaucetConfigError, FaucetConfigUnavailable

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


def _read(path: Path, what: str, settings: FaucetConfRpcSettings) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise FaucetConfigUnavailable(
            f"cannot read the faucetconfrpc {what} {path}: {err.strerror or err}",
            f"put it in --faucetconfrpc-keydir ({settings.keydir}), named as "
            f"--faucetconfrpc-client ({settings.client}) says",
        ) from None


def credentials_files(settings: FaucetConfRpcSettings) -> tuple[Path, Path, Path]:
    """(CA, client key, client certificate) paths; the CA is the first candidate that exists."""
    ca = next((p for p in settings.ca_candidates if p.exists()), settings.ca_candidates[0])
    return ca, settings.key, settings.cert


class FaucetConfRpcClient:
    """The calls dovesnap makes; ``describe()`` names the server in messages."""

    def __init__(self, settings: FaucetConfRpcSettings, timeout: float = 15.0) -> None:
        self.settings = settings
        self._timeout = timeout
        self._lock = threading.Lock()
        self._channel: Any = None

    def describe(self) -> str:
        return f"faucetconfrpc at {self.settings.target}"

    def _open(self) -> Any:
        with self._lock:
            if self._channel is None:
                ca, key, cert = credentials_files(self.settings)
                creds = grpc.ssl_channel_credentials(
                    root_certificates=_read(ca, "CA certificate", self.settings),
                    private_key=_read(key, "client key", self.settings),
                    certificate_chain=_read(cert, "client certificate", self.settings),
                )
                self._channel = grpc.secure_channel(self.settings.target, creds,
                                                    options=CHANNEL_OPTIONS)
            return self._channel

    def _call(self, method: str, request: bytes, what: str) -> bytes:
        call: Callable[..., bytes] = self._open().unary_unary(
            method, request_serializer=None, response_deserializer=None)
        try:
            reply = call(request, timeout=self._timeout)
        except grpc.RpcError as err:
            code, details = err.code(), err.details() or ""
            if code == grpc.StatusCode.UNKNOWN:
                # The server's handler refused (faucetconfrpc answers every error it catches
                # with UNKNOWN and its message); the transport itself is fine.
                raise FaucetConfigError(
                    f"{self.describe()} refused to {what}: {details}",
                    "see the faucetconfrpc server's log; the config there is unchanged",
                ) from None
            raise FaucetConfigUnavailable(
                f"{self.describe()} did not {what}: {code.name} {details}".rstrip(),
                "check that the server runs and that its CA signed our certificate (and ours "
                "its); until it answers, new container ports stay closed",
            ) from None
        if not isinstance(reply, bytes):
            raise FaucetConfigUnavailable(f"{self.describe()} gave no reply to {what}")
        return reply

    def _checked(self, method: str, request: bytes, what: str,
                 parse: Callable[[bytes], Any]) -> Any:
        reply = self._call(method, request, what)
        try:
            return parse(reply)
        except (wire.WireError, UnicodeDecodeError) as err:
            raise FaucetConfigUnavailable(
                f"{self.describe()} sent a malformed reply to {what}: {err}",
                "is it a faucetconfrpc server?") from None

    def get_config(self) -> str:
        text: str = self._checked(wire.GET_CONFIG_FILE, wire.get_config_file_request(),
                                  "send the FAUCET config", wire.get_config_file_reply)
        return text

    def set_config(self, config_yaml: str, merge: bool, del_keys_yaml: str = "") -> None:
        self._checked(wire.SET_CONFIG_FILE,
                      wire.set_config_file_request(config_yaml, merge, del_keys_yaml),
                      "change the FAUCET config", wire.empty_reply)

    def dp_names(self) -> list[str]:
        names: list[str] = self._checked(wire.GET_DP_NAMES, b"", "list FAUCET's DPs",
                                         wire.get_dp_names_reply)
        return names

    def close(self) -> None:
        with self._lock:
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
