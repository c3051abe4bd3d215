"""FAUCET's exception log: its last error line."""

from __future__ import annotations

from pathlib import Path

from dovesnap.adapters.faucet_logs import FaucetExceptionLog, last_error

TRACE = """\
Nov 30 07:23:10 faucet.exception ERROR    Unhandled exception, killing RYU
Traceback (most recent call last):
  File "faucet/valve_table.py", line 157, in _verify_flowmod
    assert match_type in self.match_types, "%s match in table %s" % (
AssertionError: vlan_vid match in table egress_acl
"""


def test_last_error_line() -> None:
    assert last_error(TRACE) == "AssertionError: vlan_vid match in table egress_acl"
    assert last_error(TRACE + TRACE.replace("AssertionError", "faucet.conf.InvalidConfigError")
                      ) == "faucet.conf.InvalidConfigError: vlan_vid match in table egress_acl"
    assert last_error("all fine\n") == ""


def test_log_size_grows_with_each_error(tmp_path: Path) -> None:
    log = FaucetExceptionLog(tmp_path / "faucet_exception.log")
    assert log() == (0, "")
    log.path.write_text(TRACE)
    size, error = log()
    assert size == len(TRACE) and error.startswith("AssertionError")
