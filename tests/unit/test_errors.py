"""The error family's helpers (dovesnap/errors.py)."""

from __future__ import annotations

from dovesnap.errors import FAUCET_REJECTS, FaucetConfigError


def test_faucet_refusal_round_trip() -> None:
    err = FaucetConfigError.rejected("ACL nosuchacl is not defined", "define it")
    assert err.what == FAUCET_REJECTS + "ACL nosuchacl is not defined"
    assert err.fix == "define it"
    assert err.refusal == "ACL nosuchacl is not defined"


def test_refusal_of_another_config_error_is_its_whole_text() -> None:
    assert FaucetConfigError("faucet.yaml does not hold a YAML mapping").refusal == (
        "faucet.yaml does not hold a YAML mapping"
    )
