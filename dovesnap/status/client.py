"""Reading what a dovesnap shows: status JSON from its status port, and a FAUCET config file."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dovesnap.errors import BackendError, DovesnapError


def status_url(addr: str, path: str = "/networks") -> str:
    addr = addr.strip()
    if addr.startswith(("http://", "https://")):
        return addr.rstrip("/") + path
    return f"http://{addr}{path}"


def fetch_status(addr: str, timeout: float = 5.0) -> dict[str, Any]:
    """The status JSON of the dovesnap at ``host:port``."""
    url = status_url(addr)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.load(response)
    except urllib.error.HTTPError as err:
        fix = ("add this client to --status-auth-ips" if err.code == 403
               else "check the address is a dovesnap status port")
        raise BackendError(f"{url} answered HTTP {err.code}", fix) from None
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot read {url}: {err}", "is dovesnap serve running?") from None
    if not isinstance(data, dict):
        raise BackendError(f"{url} did not answer a JSON object", "is it a dovesnap status port?")
    return data


def post_json(addr: str, path: str, body: Mapping[str, Any], timeout: float = 30.0) -> Any:
    """POST ``body`` as JSON to the dovesnap at ``host:port``; its JSON answer, or BackendError
    with the server's own error message."""
    url = status_url(addr, path)
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        try:
            message = str(json.load(err).get("error") or err.reason)
        except (ValueError, AttributeError):
            message = str(err.reason)
        raise BackendError(f"{url} refused (HTTP {err.code}): {message}") from None
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot reach {url}: {err}", "is dovesnap serve running?") from None


def load_faucet_config(path: Path) -> Mapping[str, Any]:
    """The FAUCET config at ``path`` as plain data; BackendError if unreadable or not YAML."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BackendError(f"cannot read FAUCET config {path}: {err.strerror or err}",
                           "pass --faucet-config FILE, or run as a user who can read it") from None
    except yaml.YAMLError as err:
        raise BackendError(f"FAUCET config {path} is not valid YAML: {err}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise BackendError(f"FAUCET config {path} does not hold a YAML mapping")
    return loaded


def optional_faucet_config(path: Path | None) -> tuple[Mapping[str, Any] | None, str]:
    """The config, or None and a warning saying why it is not there."""
    if path is None:
        return None, ""
    try:
        return load_faucet_config(path), ""
    except DovesnapError as err:
        return None, err.message
