"""The sysctl adapter on a directory laid out like /proc/sys/net."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.adapters.sysctl import ProcSysctl
from dovesnap.errors import BackendError


def test_reads_and_writes_interface_settings(tmp_path: Path) -> None:
    conf = tmp_path / "ipv6" / "conf" / "all"
    conf.mkdir(parents=True)
    (conf / "forwarding").write_text("0\n")
    sysctl = ProcSysctl(tmp_path)
    assert sysctl.get_interface("ipv6", "all", "forwarding") == "0"
    sysctl.set_interface("ipv6", "all", "forwarding", "1")
    assert sysctl.get_interface("ipv6", "all", "forwarding") == "1"


def test_a_missing_setting_reads_as_none(tmp_path: Path) -> None:
    # A kernel booted with ipv6.disable=1 has no /proc/sys/net/ipv6 at all.
    sysctl = ProcSysctl(tmp_path)
    assert sysctl.get_interface("ipv6", "eth0", "disable_ipv6") is None
    with pytest.raises(BackendError, match=r"cannot set net\.ipv6\.conf\.eth0\.disable_ipv6"):
        sysctl.set_interface("ipv6", "eth0", "disable_ipv6", "1")


@pytest.mark.parametrize(
    ("family", "ifname", "key"),
    [("ipv5", "eth0", "x"), ("ipv6", "../../etc", "x"), ("ipv6", "eth0", "../x")],
)
def test_odd_names_are_refused(tmp_path: Path, family: str, ifname: str, key: str) -> None:
    with pytest.raises(BackendError, match="refusing odd sysctl"):
        ProcSysctl(tmp_path).get_interface(family, ifname, key)
