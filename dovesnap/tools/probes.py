"""What ``dovesnap doctor`` observes on the real system (the I/O side of ``doctor.py``).

Every probe catches its own failures and reports them as data; none changes anything (the
config-dir probe creates and removes one temporary file to prove the directory is writable).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml

from dovesnap.adapters.faucet_metrics import FaucetMetricsPage, parse_faucet_state
from dovesnap.adapters.host_sockets import BoundSocket, bound_sockets
from dovesnap.config import FaucetConfRpcSettings
from dovesnap.errors import DovesnapError, FaucetConfigError
from dovesnap.model.names import EXT_DRIVER, EXT_SPEC
from dovesnap.runtime.ovs import db_answers, kernel_datapath_available
from dovesnap.tools.doctor import (
    BridgeSeen,
    DirSeen,
    DockerSeen,
    FaucetConfigSeen,
    IptablesSeen,
    OpenFlowSeen,
    OvsSeen,
    PluginSeen,
)
from dovesnap.tools.doctor_applied import FaucetAppliedSeen, status_problems
from dovesnap.tools.doctor_remote import FaucetMetricsSeen, RemoteConfigSeen
from dovesnap.tools.service_ready import activate_error

TIMEOUT = 3.0


def _run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def iptables_flavour(version_text: str) -> str:
    """``iptables v1.8.9 (nf_tables)`` -> ``nf_tables``; ``(legacy)`` -> ``legacy``."""
    if "nf_tables" in version_text:
        return "nf_tables"
    if "legacy" in version_text or version_text.strip().startswith("iptables v"):
        return "legacy"  # iptables before 1.8 says no flavour: it is legacy
    return ""


def network_mode(external_ids: dict[str, str]) -> str:
    """The ovs.bridge.mode of a network bridge, from the spec OVS keeps ("" if none)."""
    try:
        mode = json.loads(external_ids.get(EXT_SPEC, "")).get("mode", "")
    except (ValueError, AttributeError):
        return ""
    return mode if isinstance(mode, str) else ""


class SystemProbes:
    def docker(self, url: str, driver: str) -> DockerSeen:
        try:
            from dovesnap.adapters.docker_api import EngineApi

            # The API version dovesnap itself would negotiate (Docker 29 refuses < 1.44).
            api = EngineApi(url, timeout=int(TIMEOUT) + 2)
            try:
                version = api.version().get("Version", "?")
                networks = api.networks(filters={"driver": driver})
            finally:
                api.close()
        except Exception as err:  # any failure means "does not answer"; say which
            return DockerSeen(error=str(err).splitlines()[0][:300] or type(err).__name__)
        internal = tuple(sorted(str(n.get("Name", "")) for n in networks if n.get("Internal")))
        return DockerSeen(version=str(version), internal_networks=internal)

    def plugin(self, socket_path: Path) -> PluginSeen:
        if not socket_path.exists():
            return PluginSeen(exists=False)
        why = activate_error(socket_path, TIMEOUT)
        return PluginSeen(exists=True, answers=not why, error=why)

    def ovs(self, db_sock: Path) -> OvsSeen:
        if not db_answers(db_sock):
            return OvsSeen(answers=False, kernel_module=kernel_datapath_available())
        try:
            return self._ovs_rows(db_sock)
        except Exception as err:  # ovsdbapp raises many kinds
            return OvsSeen(answers=False, error=str(err)[:300],
                           kernel_module=kernel_datapath_available())

    def _ovs_rows(self, db_sock: Path) -> OvsSeen:
        with warnings.catch_warnings():  # the ovs library warns that eventlet is deprecated
            warnings.simplefilter("ignore")
            from dovesnap.adapters.ovsdb import OvsdbBackend

        backend = OvsdbBackend(f"unix:{db_sock}", timeout=TIMEOUT + 2)
        try:
            api: Any = backend.api
            root = api.db_list("Open_vSwitch", columns=["ovs_version", "datapath_types"]
                               ).execute(check_error=True)
            bridges = api.db_list("Bridge", columns=["name", "external_ids", "controller"]
                                  ).execute(check_error=True)
            controllers = api.db_list("Controller", columns=["_uuid", "target", "is_connected"]
                                      ).execute(check_error=True)
        finally:
            backend.close()
        by_uuid = {str(c["_uuid"]): (str(c["target"]), bool(c["is_connected"])) for c in controllers}
        seen = [
            BridgeSeen(
                name=str(b["name"]),
                driver=str(dict(b["external_ids"]).get(EXT_DRIVER, "")),
                controllers=tuple(by_uuid[str(u)] for u in b["controller"] if str(u) in by_uuid),
                mode=network_mode(dict(b["external_ids"])),
            )
            for b in bridges
        ]
        first = root[0] if root else {}
        version = first.get("ovs_version") or ""
        if isinstance(version, list):
            version = version[0] if version else ""
        return OvsSeen(
            answers=True,
            version=str(version),
            datapath_types=tuple(str(t) for t in first.get("datapath_types") or ()),
            kernel_module=kernel_datapath_available(),
            bridges=tuple(seen),
        )

    def openflow(self, host: str, port: int) -> OpenFlowSeen:
        """Connect as a switch would and read the controller's first message (its HELLO)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(TIMEOUT)
            try:
                client.connect((host, port))
            except OSError as err:
                return OpenFlowSeen(listening=False, error=err.strerror or str(err))
            try:
                header = b""
                while len(header) < 8:
                    chunk = client.recv(8 - len(header))
                    if not chunk:
                        break
                    header += chunk
            except OSError as err:
                return OpenFlowSeen(listening=True, error=str(err))
        if len(header) < 8:
            return OpenFlowSeen(listening=True, error="no OpenFlow header")
        return OpenFlowSeen(listening=True, message_type=header[1])

    def listening(self) -> tuple[BoundSocket, ...]:
        return tuple(bound_sockets(("tcp",)))

    def iptables(self) -> IptablesSeen:
        version = _run(["iptables", "--version"])
        if version is None or version.returncode != 0:
            return IptablesSeen(flavour="", error="iptables --version failed")
        flavour = iptables_flavour(version.stdout + version.stderr)
        found = []
        # nft first: asking legacy iptables may load its kernel modules, so only if needed.
        for name, binary in (("nf_tables", "iptables-nft"), ("legacy", "iptables-legacy")):
            listed = _run([binary, "-t", "nat", "-S", "DOCKER"])
            if listed is not None and listed.returncode == 0 and "-N DOCKER" in listed.stdout:
                found.append(name)
                break
        return IptablesSeen(flavour=flavour, docker_flavours=tuple(found))

    def config_dir(self, path: Path) -> DirSeen:
        if not path.is_dir():
            return DirSeen(exists=False)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".dovesnap-doctor-", dir=path)
        except OSError as err:
            return DirSeen(exists=True, writable=False, error=err.strerror or str(err))
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return DirSeen(exists=True, writable=True)

    def faucet_config(self, path: Path) -> FaucetConfigSeen:
        if not path.exists():
            return FaucetConfigSeen(exists=False)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            return FaucetConfigSeen(exists=True, error=str(err)[:500])
        dps = loaded.get("dps") if isinstance(loaded, dict) else None
        if not dps:
            # FAUCET's parser refuses a file without DPs, which is normal before any network.
            return FaucetConfigSeen(exists=True, has_dps=False, dp_names=frozenset())
        names = frozenset(str(name) for name in dps) if isinstance(dps, dict) else None
        from dovesnap.adapters.faucet_check import FaucetCheckProcess

        checker = FaucetCheckProcess()
        try:
            checker(str(path))
        except FaucetConfigError as err:
            return FaucetConfigSeen(exists=True, has_dps=True, error=err.refusal, dp_names=names)
        except DovesnapError as err:  # the checker hung or failed: say so, never crash doctor
            return FaucetConfigSeen(exists=True, has_dps=True, error=err.what, dp_names=names)
        finally:
            checker.close()
        return FaucetConfigSeen(exists=True, has_dps=True, dp_names=names)

    def faucetconfrpc(self, rpc: FaucetConfRpcSettings) -> RemoteConfigSeen:
        """Read the config through faucetconfrpc (as dovesnap does) and run FAUCET's parser on it."""
        from dovesnap.adapters.faucet_check import FaucetCheckProcess
        from dovesnap.adapters.faucet_rpc import RemoteFaucetConfig
        from dovesnap.adapters.faucetconfrpc_client import FaucetConfRpcClient

        client = FaucetConfRpcClient(rpc, timeout=TIMEOUT + 2)
        checker = FaucetCheckProcess()
        store = RemoteFaucetConfig(client, checker)
        try:
            try:
                served = store.read()
            except DovesnapError as err:
                return RemoteConfigSeen(answers=False, error=err.what)
            dps = served.get("dps")
            names = frozenset(str(n) for n in dps) if isinstance(dps, dict) else frozenset()
            try:
                store.validate(served)
            except FaucetConfigError as err:
                return RemoteConfigSeen(answers=True, dp_names=names, error=err.refusal)
            return RemoteConfigSeen(answers=True, dp_names=names)
        finally:
            checker.close()
            client.close()

    def faucet_metrics(self, url: str) -> FaucetMetricsSeen:
        from dovesnap.adapters.faucet_metrics import FaucetMetricsPage, metric_samples

        try:
            text = FaucetMetricsPage(url, timeout=TIMEOUT)()
        except OSError as err:
            return FaucetMetricsSeen(answers=False, error=str(err))
        names = frozenset(labels["dp_name"] for labels, _ in metric_samples(text, ["dp_status"])
                          if "dp_name" in labels)
        return FaucetMetricsSeen(answers=True, dp_names=names)
    def faucet_applied(self, metrics_url: str, status_url: str) -> FaucetAppliedSeen:
        try:
            state = parse_faucet_state(FaucetMetricsPage(metrics_url, TIMEOUT)())
        except OSError:
            state = None
        problems = _status_problems(status_url)
        if state is None:
            return FaucetAppliedSeen(metrics_answer=False, status_answers=problems is not None,
                                     problems=tuple(problems or ()))
        return FaucetAppliedSeen(
            metrics_answer=True,
            load_error=state.error or ("the last load failed" if state.load_error else ""),
            dps_down=tuple(sorted(name for name, up in state.dps_up.items() if not up)),
            status_answers=problems is not None,
            problems=tuple(problems or ()),
        )


def _status_problems(status_url: str) -> list[str] | None:
    """What dovesnap's status JSON says FAUCET does not run (None: it does not answer)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(status_url, timeout=TIMEOUT) as response:
            networks = json.load(response)
    except (OSError, ValueError):
        return None
    return status_problems(networks)
