"""Pure decisions for DHCP clients: their argv and environment, where their files live, whether
a running process is one of ours, and what a line from the client's script reports.

The client is busybox's ``udhcpc``, started through ``nsenter --net=SANDBOX`` so that it lives in
the container's network namespace but in the host's PID and mount namespaces: the container
cannot see or stop it, and the container image needs no DHCP client of its own.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

EVENT_TAG = "dovesnap-dhcp1"
ENV_FIFO = "DOVESNAP_DHCP_FIFO"
ENV_ENDPOINT = "DOVESNAP_ENDPOINT_ID"
CLIENT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SCRIPT_NAME = "udhcpc-script"
FIFO_NAME = "leases.fifo"
CLIENTS_DIR = "clients"
PIDFILE_SUFFIX = ".pid"
LOG_SUFFIX = ".log"
# Retry quickly: a container's FAUCET port may appear a moment after the client's first DISCOVER.
DISCOVER_TRIES = 5
DISCOVER_PAUSE = 1
RETRY_AFTER_FAILURE = 3
# Events udhcpc gives its script; the first two carry a lease.
LEASE_EVENTS = ("bound", "renew")
EVENTS = (*LEASE_EVENTS, "deconfig", "leasefail", "nak")

_ID_RE = re.compile(r"^[0-9a-f]{12,64}\Z")
# Docker's own rule for container names; anything else is not sent as a DHCP hostname.
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}\Z")


@dataclass(frozen=True)
class RunPaths:
    """Where DHCP client state lives (a root-only directory under dovesnap's state dir)."""

    root: Path

    @property
    def script(self) -> Path:
        return self.root / SCRIPT_NAME

    @property
    def fifo(self) -> Path:
        return self.root / FIFO_NAME

    @property
    def clients(self) -> Path:
        return self.root / CLIENTS_DIR

    def pidfile(self, network_id: str, endpoint_id: str) -> Path:
        return self.clients / (client_key(network_id, endpoint_id) + PIDFILE_SUFFIX)

    def log_file(self, network_id: str, endpoint_id: str) -> Path:
        return self.clients / (client_key(network_id, endpoint_id) + LOG_SUFFIX)


def is_docker_id(text: str) -> bool:
    return bool(_ID_RE.match(text))


def client_key(network_id: str, endpoint_id: str) -> str:
    """``NETWORK.ENDPOINT``; both must be Docker's hex ids (they end up in file names)."""
    if not (is_docker_id(network_id) and is_docker_id(endpoint_id)):
        raise ValueError(f"not Docker ids: {network_id[:70]!r}, {endpoint_id[:70]!r}")
    return f"{network_id}.{endpoint_id}"


def parse_pidfile_name(name: str) -> tuple[str, str] | None:
    """(network id, endpoint id) from a pidfile's name, or None if it is not one of ours."""
    if not name.endswith(PIDFILE_SUFFIX):
        return None
    network_id, _, endpoint_id = name[: -len(PIDFILE_SUFFIX)].partition(".")
    if is_docker_id(network_id) and is_docker_id(endpoint_id):
        return network_id, endpoint_id
    return None


def hostname_for(container_name: str) -> str | None:
    """The DHCP hostname to send: the container's name, if it is one Docker would accept."""
    name = container_name.lstrip("/")
    return name if _HOSTNAME_RE.match(name) else None


@dataclass(frozen=True)
class ClientPlan:
    """One DHCP client process: what to run, with which environment, and its files."""

    network_id: str
    endpoint_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    pidfile: Path = Path()
    log_file: Path = Path()


def client_plan(
    paths: RunPaths,
    program: Sequence[str],
    nsenter: str,
    netns_path: str,
    ifname: str,
    network_id: str,
    endpoint_id: str,
    hostname: str | None,
) -> ClientPlan:
    """argv for ``nsenter --net=NETNS -- udhcpc ...``: every value its own element, no shell.

    ``-R`` releases the lease when the client is stopped (the container left), so a pool is not
    used up by restarts; the script configures the interface and reports to dovesnap.
    """
    pidfile = paths.pidfile(network_id, endpoint_id)
    argv: list[str] = [
        nsenter, f"--net={netns_path}", "--", *program,
        "-f", "-R",
        "-i", ifname,
        "-s", str(paths.script),
        "-p", str(pidfile),
        "-t", str(DISCOVER_TRIES), "-T", str(DISCOVER_PAUSE), "-A", str(RETRY_AFTER_FAILURE),
    ]
    if hostname:
        argv += ["-x", f"hostname:{hostname}"]
    env = {"PATH": CLIENT_PATH, ENV_FIFO: str(paths.fifo), ENV_ENDPOINT: endpoint_id}
    return ClientPlan(
        network_id, endpoint_id, tuple(argv), env, pidfile, paths.log_file(network_id, endpoint_id)
    )


def is_own_client(cmdline: Sequence[str], pidfile: Path, script: Path) -> bool:
    """Is the process with this command line a client dovesnap started for ``pidfile``?

    (After a restart a pidfile may name a pid that some other process now has.)
    """
    args = list(cmdline)
    if not any(Path(arg).name == "udhcpc" for arg in args[:2]):
        return False
    return _has_pair(args, "-p", str(pidfile)) and _has_pair(args, "-s", str(script))


def _has_pair(args: Sequence[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(args))


def restart_delay(failures: int) -> float:
    """Seconds to wait before restarting a client that exited on its own."""
    return float(min(0.5 * 2 ** min(failures, 10), 30.0))


@dataclass(frozen=True)
class LeaseEvent:
    """One report from the client's script."""

    kind: str
    endpoint_id: str
    address: str | None = None  # "a.b.c.d/prefix" for bound/renew
    router: str | None = None
    lease_seconds: int | None = None

    @property
    def ip(self) -> str:
        return (self.address or "").split("/")[0]


def _ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def parse_event(line: str) -> LeaseEvent | None:
    """Read ``dovesnap-dhcp1 event=bound ep=ID ip=A mask=N router=R lease=S``; None if malformed.

    The values come from a DHCP server on the network, so each is checked, never trusted.
    """
    words = line.strip().split(" ")
    if len(words) < 3 or words[0] != EVENT_TAG:
        return None
    fields: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key in fields:
            return None
        fields[key] = value
    kind, endpoint_id = fields.get("event", ""), fields.get("ep", "")
    if kind not in EVENTS or not is_docker_id(endpoint_id):
        return None
    lease_text = fields.get("lease", "")
    lease = int(lease_text) if lease_text.isdigit() and len(lease_text) < 11 else None
    router = _ipv4(fields.get("router", ""))
    if kind not in LEASE_EVENTS:
        return LeaseEvent(kind, endpoint_id)
    ip = _ipv4(fields.get("ip", ""))
    mask_text = fields.get("mask", "") or "32"
    if ip is None or not mask_text.isdigit() or not 0 < int(mask_text) <= 32:
        return None
    return LeaseEvent(kind, endpoint_id, f"{ip}/{int(mask_text)}", router, lease)


def split_lines(buffer: bytes) -> tuple[list[str], bytes]:
    """Complete lines from what was read so far, and the incomplete rest."""
    *lines, rest = buffer.split(b"\n")
    return [line.decode("ascii", errors="replace") for line in lines if line], rest


def orphans_of(
    found: Iterable[tuple[str, str]], network_id: str, endpoint_ids: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Of the clients left from an earlier run, which of a restored network's to adopt (their
    endpoint is still there) and which to stop (it is gone)."""
    wanted = set(endpoint_ids)
    adopt: list[str] = []
    stop: list[str] = []
    for net_id, ep_id in found:
        if net_id != network_id:
            continue
        (adopt if ep_id in wanted else stop).append(ep_id)
    return adopt, stop
