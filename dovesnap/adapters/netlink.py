"""Netlink adapter (pyroute2): veth pairs, link state, addresses, and TX checksum offload.

Blocking calls; the driver runs them in a worker thread.
"""

from __future__ import annotations

import array
import errno
import fcntl
import ipaddress
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from pyroute2 import IPRoute, NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

from dovesnap.errors import BackendError, NameTakenError

log = logging.getLogger(__name__)

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000
_SIOCETHTOOL = 0x8946
_ETHTOOL_STXCSUM = 0x00000017


class NetlinkBackend(Protocol):
    def create_veth(self, host: str, peer: str, mtu: int, peer_mac: str | None,
                    exist_ok: bool = False) -> None: ...
    def delete_link(self, name: str) -> None: ...
    def link_exists(self, name: str) -> bool: ...
    def set_up(self, name: str, mtu: int | None = None) -> None: ...
    def tx_checksum_off(self, name: str) -> None: ...
    def link_mac(self, name: str) -> str | None: ...
    def set_peer_mac_in_netns(self, host_ifname: str, netns_path: str, mac: str) -> None: ...
    def ensure_address(self, name: str, address: str, prefixlen: int) -> None: ...
    def links_with_prefix(self, prefix: str) -> list[str]: ...
    def netns_in_use(self, netns_path: str) -> bool: ...
    def disable_ipv6(self, name: str) -> None: ...
    def bounce(self, name: str) -> None: ...


def in_netns(netns_path: str, func: Callable[[], T]) -> T:
    """Run ``func`` in a fresh thread that has joined the network namespace at ``netns_path``.

    setns(2) moves only the calling thread, so the daemon's other threads stay where they are.
    (pyroute2's NetNS forks a helper instead; a forked child shares asyncio's signal wakeup fd
    and can make the daemon believe it was told to stop.)
    """
    import ctypes
    import threading

    libc = ctypes.CDLL(None, use_errno=True)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with open(netns_path, "rb") as target:
                if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns {netns_path}: {os.strerror(code)}")
            outcome["value"] = func()
        except BaseException as err:  # handed back to the caller's thread
            outcome["error"] = err

    # The thread ends after one use, so its namespace never leaks into a pooled thread.
    worker = threading.Thread(target=run, name="dovesnap-netns", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


class PyRoute2Netlink:
    """The real kernel, through pyroute2."""

    def create_veth(self, host: str, peer: str, mtu: int, peer_mac: str | None,
                    exist_ok: bool = False) -> None:
        """Make the pair; NameTakenError when either name is in use, unless ``exist_ok``
        (then the existing pair is set up as asked)."""
        with IPRoute() as ipr:
            try:
                ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer}, mtu=mtu)
            except NetlinkError as err:
                if err.code != errno.EEXIST:
                    raise BackendError(f"cannot create veth {host}/{peer}: {err}") from None
                if not exist_ok:
                    raise NameTakenError(f"interface {host} or {peer} already exists") from None
            peer_index = _index(ipr, peer)
            host_index = _index(ipr, host)
            if peer_index is None or host_index is None:
                raise BackendError(f"veth {host}/{peer} vanished right after it was made")
            if peer_mac:
                ipr.link("set", index=peer_index, address=peer_mac)
            ipr.link("set", index=peer_index, mtu=mtu)
            ipr.link("set", index=host_index, state="up", mtu=mtu)

    def delete_link(self, name: str) -> None:
        with IPRoute() as ipr:
            index = _index(ipr, name)
            if index is None:
                return
            try:
                ipr.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    raise BackendError(f"cannot delete {name}: {err}") from None

    def link_exists(self, name: str) -> bool:
        with IPRoute() as ipr:
            return _index(ipr, name) is not None

    def set_up(self, name: str, mtu: int | None = None, wait: float = 5.0) -> None:
        with IPRoute() as ipr:
            index = _index(ipr, name)
            deadline = time.monotonic() + wait
            # A userspace bridge's LOCAL tap can appear a moment after OVS reports the bridge.
            while index is None and time.monotonic() < deadline:
                time.sleep(0.02)
                index = _index(ipr, name)
            if index is None:
                raise BackendError(f"interface {name} does not exist")
            if mtu:
                try:
                    ipr.link("set", index=index, mtu=mtu)
                except NetlinkError as err:
                    log.warning("cannot set MTU %s on %s: %s", mtu, name, err)
            ipr.link("set", index=index, state="up")

    def tx_checksum_off(self, name: str) -> None:
        """Turn TX checksum offload off (needed for TCP through userspace OVS)."""
        value = array.array("B", struct.pack("II", _ETHTOOL_STXCSUM, 0))
        address, _ = value.buffer_info()
        request = struct.pack("16sP", name.encode()[:15], address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, request)
            except OSError as err:
                raise BackendError(f"cannot turn TX checksum offload off on {name}: {err}") from None

    def link_mac(self, name: str) -> str | None:
        with IPRoute() as ipr:
            index = _index(ipr, name)
            if index is None:
                return None
            mac: str | None = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
            return mac

    def set_peer_mac_in_netns(self, host_ifname: str, netns_path: str, mac: str) -> None:
        """Set the MAC of the container end of ``host_ifname``'s veth, inside the container."""
        with IPRoute() as ipr:
            index = _index(ipr, host_ifname)
            if index is None:
                raise BackendError(f"{host_ifname} does not exist")
            peer_index = ipr.get_links(index)[0].get_attr("IFLA_LINK")

        def set_mac() -> None:
            with IPRoute() as ns:
                ns.link("set", index=peer_index, address=mac)

        try:
            in_netns(netns_path, set_mac)
        except (NetlinkError, OSError) as err:
            raise BackendError(f"cannot set MAC {mac} in {netns_path}: {err}") from None

    def ensure_address(self, name: str, address: str, prefixlen: int) -> None:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        with IPRoute() as ipr:
            index = _index(ipr, name)
            if index is None:
                raise BackendError(f"interface {name} does not exist")
            present = {
                a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=family)
            }
            if address not in present:
                # No duplicate address detection on a gateway: it would leave the address
                # unusable (tentative) for a second or two after each (re)start.
                flags = IFA_F_NODAD if family == socket.AF_INET6 else 0
                ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=flags)

    def links_with_prefix(self, prefix: str) -> list[str]:
        with IPRoute() as ipr:
            names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
        return [n for n in names if isinstance(n, str) and n.startswith(prefix)]

    def bounce(self, name: str) -> None:
        """Take the link down and up again (its switch port reports both)."""
        with IPRoute() as ipr:
            index = _index(ipr, name)
            if index is None:
                raise BackendError(f"interface {name} does not exist")
            ipr.link("set", index=index, state="down")
            ipr.link("set", index=index, state="up")

    def disable_ipv6(self, name: str) -> None:
        """No IPv6 on ``name`` in this namespace (the setting does not follow the link into
        another namespace: there it takes that namespace's default)."""
        path = f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6"
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write("1")
        except FileNotFoundError:
            return  # a kernel without IPv6 (ipv6.disable=1): nothing to turn off
        except OSError as err:
            raise BackendError(f"cannot turn IPv6 off on {name}: {err}") from None

    def netns_in_use(self, netns_path: str) -> bool:
        """True when some process lives in the network namespace at ``netns_path`` (a Docker
        sandbox that a running container already uses), False for an empty one."""
        try:
            target = os.stat(netns_path)
        except OSError:
            return False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                seen = os.stat(f"/proc/{entry.name}/ns/net")
            except OSError:
                continue
            if (seen.st_ino, seen.st_dev) == (target.st_ino, target.st_dev):
                return True
        return False
    def link_kinds(self) -> dict[str, str]:
        """Every interface's name and kind (``veth``, ``bridge``...; "" for a physical NIC)."""
        kinds: dict[str, str] = {}
        with IPRoute() as ipr:
            for link in ipr.get_links():
                name = link.get_attr("IFLA_IFNAME")
                info = link.get_attr("IFLA_LINKINFO")
                kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
                if isinstance(name, str):
                    kinds[name] = kind if isinstance(kind, str) else ""
        return kinds
