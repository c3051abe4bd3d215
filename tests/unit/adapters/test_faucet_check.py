"""The FAUCET checker: its request loop and the helper process the daemon keeps, FAUCET's own parser."""

from __future__ import annotations

import io
import json
import time
import warnings
from pathlib import Path

import pytest

from dovesnap.adapters.faucet_check import FaucetCheckProcess, _serve
from dovesnap.errors import BackendError, FaucetConfigError


def test_checker_loop_answers_one_line_per_request(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("dps:\n  a:\n    dp_id: 1\n    interfaces:\n      1:\n        native_vlan: 100\n")
    bad.write_text(good.read_text() + "        acls_in: [nope]\n")
    requests = [json.dumps({"path": str(good)}), json.dumps({"path": str(bad)}), "not json",
                json.dumps({"no": "path"})]
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FAUCET's eventlet import warns
        _serve(io.StringIO("\n".join(requests) + "\n"), out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["ok"] for a in answers] == [True, False, False, False]
    assert "nope" in answers[1]["error"]
    assert answers[2]["error"] and answers[3]["error"]


def test_checker_answers_for_good_and_bad_files(tmp_path: Path, faucet_check: FaucetCheckProcess) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("dps:\n  a:\n    dp_id: 1\n    interfaces:\n      1:\n        native_vlan: 100\n")
    bad.write_text(good.read_text() + "        acls_in: [nope]\n")
    faucet_check(str(good))
    with pytest.raises(FaucetConfigError, match="nope"):
        faucet_check(str(bad))
    with pytest.raises(FaucetConfigError):
        faucet_check(str(tmp_path / "missing.yaml"))


def test_checker_restarts_after_it_dies(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("dps:\n  a:\n    dp_id: 1\n    interfaces:\n      1:\n        native_vlan: 100\n")
    check = FaucetCheckProcess()
    try:
        check(str(good))
        first = check._proc
        assert first is not None
        first.kill()
        first.wait()
        check(str(good))  # answered by a fresh checker
        assert check._proc is not None and check._proc is not first
    finally:
        check.close()
    assert check._proc is None


def test_a_hung_check_is_killed_after_the_timeout_and_the_next_one_gets_a_fresh_checker(
    tmp_path: Path,
) -> None:
    check = FaucetCheckProcess(timeout=1.0, module="tests.unit.adapters.hanging_checker")
    try:
        check(str(tmp_path / "good.yaml"))
        hung = check._proc
        assert hung is not None
        started = time.monotonic()
        with pytest.raises(BackendError, match="did not answer within 1s"):
            check(str(tmp_path / "hang.yaml"))
        assert time.monotonic() - started < 5
        assert hung.poll() is not None  # killed, not left running
        assert check.timeouts == 1
        check(str(tmp_path / "good.yaml"))  # answered by a fresh checker
        assert check._proc is not None and check._proc is not hung
    finally:
        check.close()
