"""Embedded FAUCET's reload: one in flight at a time, the next signal only once FAUCET is done."""

from __future__ import annotations

import time
from pathlib import Path
from signal import SIGHUP, SIGKILL

from dovesnap.adapters.faucet_metrics import reload_requests
from dovesnap.runtime.faucet import EmbeddedControllers

PAGE = """\
# HELP faucet_config_reload_requests_total number of config reload requests
# TYPE faucet_config_reload_requests_total counter
faucet_config_reload_requests_total {count}
faucet_config_reload_warm_total{{dp_id="0x1",dp_name="net1"}} 3.0
"""


class FaucetPage:
    """FAUCET's metrics page: its reload counter moves ``busy`` reads after each SIGHUP."""

    def __init__(self, busy: int) -> None:
        self.count = 4.0
        self.busy = busy
        self.reads = 0
        self.signalled = 0
        self.answers = True

    def __call__(self) -> str:
        if not self.answers:
            raise OSError("connection refused")
        self.reads += 1
        if self.signalled and self.reads > self.busy:
            self.count, self.signalled = self.count + 1, 0
        return PAGE.format(count=self.count)


def controllers(tmp_path: Path, page: FaucetPage) -> EmbeddedControllers:
    embedded = EmbeddedControllers(tmp_path, tmp_path)
    embedded._metrics = page  # type: ignore[assignment]

    def sighup(signum: int = 1) -> bool:
        page.signalled, page.reads = 1, 0
        return True

    embedded.faucet.signal = sighup  # type: ignore[method-assign]
    return embedded


def test_reload_requests_reads_the_unlabelled_counter() -> None:
    assert reload_requests(PAGE.format(count=7.0)) == 7.0
    assert reload_requests("faucet_config_load_error 0.0\n") is None


def test_reload_returns_once_faucet_has_finished(tmp_path: Path) -> None:
    page = FaucetPage(busy=5)
    controllers(tmp_path, page).reload(wait=10)
    assert page.count == 5.0 and page.reads == 6  # waited for it, and no longer


def test_a_faucet_that_never_finishes_a_reload_is_restarted(tmp_path: Path) -> None:
    page = FaucetPage(busy=10_000)
    embedded = controllers(tmp_path, page)
    sent: list[int] = []
    hup = embedded.faucet.signal

    def signal(signum: int = 1) -> bool:
        sent.append(signum)
        return hup(signum)

    embedded.faucet.signal = signal  # type: ignore[method-assign]
    started = time.monotonic()
    embedded.reload(wait=0.3)
    assert 0.3 <= time.monotonic() - started < 2 and page.count == 4.0
    assert sent == [SIGHUP, SIGKILL]  # wedged: killed, for its supervisor to start afresh


def test_reload_does_not_wait_for_a_faucet_that_does_not_answer(tmp_path: Path) -> None:
    page = FaucetPage(busy=5)
    page.answers = False
    started = time.monotonic()
    controllers(tmp_path, page).reload(wait=10)
    assert time.monotonic() - started < 1
