"""FaucetConfigStore under load: edits arriving together become one validated write and one
reload, each caller gets its own refusal, the event loop stays free, and a change is validated
with the DPs it touched (FAUCET's own parser throughout)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from dovesnap.adapters.faucet_check import FaucetCheckProcess
from dovesnap.adapters.faucet_config import FaucetConfigStore
from dovesnap.errors import FaucetConfigError
from dovesnap.plan.faucet_dp import put_dp
from tests.unit.fakes import OPERATOR_YAML, CountingReloader


class RecordingValidator:
    """FAUCET's real checker, remembering the DPs of every file it was asked about."""

    def __init__(self, check: FaucetCheckProcess | None) -> None:
        self.check = check
        self.seen: list[list[str]] = []

    def __call__(self, path: str) -> None:
        self.seen.append(sorted((yaml.safe_load(Path(path).read_text()) or {}).get("dps") or {}))
        if self.check is not None:
            self.check(path)


def dp(dp_id: int, acls: list[str] | None = None, ports: int = 1) -> dict[str, Any]:
    ifaces: dict[int, Any] = {}
    for port in range(1, ports + 1):
        ifaces[port] = {"description": f"port {port}", "native_vlan": 100}
        if acls:
            ifaces[port]["acls_in"] = acls
    return {"dp_id": dp_id, "hardware": "Open vSwitch", "interfaces": ifaces}


def putter(name: str, value: Mapping[str, Any]) -> Any:
    return lambda config: put_dp(config, name, value)


@pytest.fixture
def recording(faucet_check: FaucetCheckProcess) -> RecordingValidator:
    return RecordingValidator(faucet_check)


@pytest.fixture
def batched(faucet_yaml: Path, reloader: CountingReloader,
            recording: RecordingValidator) -> FaucetConfigStore:
    return FaucetConfigStore(faucet_yaml, recording, reloader)


async def test_concurrent_edits_become_one_write_and_one_reload(
    batched: FaucetConfigStore, reloader: CountingReloader, recording: RecordingValidator
) -> None:
    results = await asyncio.gather(*(batched.update(putter(f"net{i}", dp(i))) for i in range(1, 11)))
    assert results == [True] * 10
    assert (batched.writes, reloader.calls, len(recording.seen)) == (1, 1, 1)
    assert sorted(yaml.safe_load(batched.path.read_text())["dps"]) == sorted(
        f"net{i}" for i in range(1, 11))
    assert batched.queue.largest == 10


async def test_each_caller_gets_its_own_refusal_and_the_rest_are_written(
    batched: FaucetConfigStore, reloader: CountingReloader
) -> None:
    acls = {2: ["nosuchacl"], 4: ["alsomissing"]}
    results = await asyncio.gather(
        *(batched.update(putter(f"net{i}", dp(i, acls.get(i, ["allowall"])))) for i in range(1, 6)),
        return_exceptions=True,
    )
    assert [r is True for r in results] == [True, False, True, False, True]
    assert isinstance(results[1], FaucetConfigError) and "nosuchacl" in results[1].what
    assert isinstance(results[3], FaucetConfigError) and "alsomissing" in results[3].what
    assert "nosuchacl" not in results[3].what  # its own refusal, not the other's
    written = yaml.safe_load(batched.path.read_text())["dps"]
    assert sorted(written) == ["net1", "net3", "net5"]
    assert (batched.writes, reloader.calls) == (1, 1)


async def test_a_lone_refused_edit_writes_nothing(
    batched: FaucetConfigStore, reloader: CountingReloader
) -> None:
    before = batched.path.read_bytes()
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await batched.update(putter("net1", dp(1, ["nosuchacl"])))
    assert batched.path.read_bytes() == before and reloader.calls == 0


async def test_an_edit_that_raises_fails_alone(batched: FaucetConfigStore) -> None:
    def broken(config: Mapping[str, Any]) -> Mapping[str, Any]:
        raise FaucetConfigError("this caller's own mistake")

    results = await asyncio.gather(batched.update(broken), batched.update(putter("net1", dp(1))),
                                   return_exceptions=True)
    assert isinstance(results[0], FaucetConfigError) and results[1] is True


async def test_a_change_is_validated_with_the_dps_it_touched(
    batched: FaucetConfigStore, recording: RecordingValidator
) -> None:
    await batched.update(putter("net1", dp(1)))
    await batched.update(putter("net2", dp(2)))
    await batched.update(putter("net1", dp(1, ["allowall"])))
    # the operator's file was never validated by dovesnap: the first check is the whole file
    assert recording.seen == [["net1"], ["net2"], ["net1"]]
    assert (batched.full_checks, batched.partial_checks) == (1, 2)
    with pytest.raises(FaucetConfigError, match="nosuchacl"):
        await batched.update(putter("net2", dp(2, ["nosuchacl"])))
    # someone else edits the file: the next change is checked against all of it again
    batched.path.write_text(batched.path.read_text() + "# edited\n")
    await batched.update(putter("net3", dp(3)))
    assert recording.seen[-1] == ["net1", "net2", "net3"]


async def test_the_parsed_config_is_kept_until_the_file_changes(
    batched: FaucetConfigStore
) -> None:
    await batched.update(putter("net1", dp(1)))
    first = batched.read()
    assert batched.read() is first  # not parsed again
    batched.path.write_text(batched.path.read_text().replace("port 1", "port one"))
    again = batched.read()
    assert again is not first and again["dps"]["net1"]["interfaces"][1]["description"] == "port one"


async def test_rendering_and_validating_leave_the_event_loop_free(tmp_path: Path) -> None:
    def slow_validator(path: str) -> None:
        time.sleep(0.3)  # as FAUCET's parser on a large file

    path = tmp_path / "faucet.yaml"
    path.write_text(OPERATOR_YAML)
    big = FaucetConfigStore(path, slow_validator, CountingReloader())
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - before - 0.005)

    # pytest's own heap is large: keep it out of the collector's pauses (the daemon freezes its
    # start-up objects the same way), so what is measured is where the work runs.
    gc.collect()
    gc.freeze()
    try:
        ticks = asyncio.ensure_future(ticker())
        started = loop.time()
        await big.update(putter("big", dp(1, ["allowall"], ports=3000)))
        await big.update(putter("big", dp(1, ["denyall"], ports=3000)))
        took = loop.time() - started
        done = True
        await ticks
    finally:
        gc.unfreeze()
    assert took > 1.0  # two renders and checks of a ~300 KiB file took this long ...
    assert worst < 0.25, f"the event loop was blocked for {worst:.3f}s"  # ... off the loop


def described(dp_id: int, description: str) -> dict[str, Any]:
    body = dp(dp_id)
    body["interfaces"][1]["description"] = description
    return body


@pytest.fixture
async def holding(faucet_yaml: Path, reloader: CountingReloader, recording: RecordingValidator
                  ) -> AsyncIterator[Callable[[float], FaucetConfigStore]]:
    """Stores that hold renames back for the given delay (closed after the test)."""
    made: list[FaucetConfigStore] = []

    def make(delay: float) -> FaucetConfigStore:
        made.append(FaucetConfigStore(faucet_yaml, recording, reloader, description_delay=delay))
        return made[-1]

    yield make
    for store in made:
        await store.close()


async def reloads_reach(reloader: CountingReloader, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while reloader.calls < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def test_a_description_alone_waits_and_goes_out_with_the_next_change(
    holding: Callable[[float], FaucetConfigStore], reloader: CountingReloader, faucet_yaml: Path
) -> None:
    store = holding(30.0)
    assert await store.update(putter("net1", described(1, "starting container e1")))
    assert await store.update(putter("net1", described(1, "web 4c1f2")))  # held back
    assert (store.writes, reloader.calls, store.held_batches) == (1, 1, 1)
    assert "starting container e1" in faucet_yaml.read_text()
    assert await store.update(putter("net2", dp(2)))  # forwarding changes: both go out
    assert (store.writes, reloader.calls) == (2, 2)
    dps = yaml.safe_load(faucet_yaml.read_text())["dps"]
    assert dps["net1"]["interfaces"][1]["description"] == "web 4c1f2"
    assert "net2" in dps


async def test_a_held_description_is_written_alone_after_its_delay(
    holding: Callable[[float], FaucetConfigStore], reloader: CountingReloader, faucet_yaml: Path
) -> None:
    store = holding(0.05)
    await store.update(putter("net1", described(1, "starting container e1")))
    await store.update(putter("net1", described(1, "web 4c1f2")))
    assert reloader.calls == 1
    await reloads_reach(reloader, 2)
    assert reloader.calls == 2 and store.writes == 2
    assert "web 4c1f2" in faucet_yaml.read_text()
    await asyncio.sleep(0.2)
    assert reloader.calls == 2  # nothing more: the timer is not a polling loop


async def test_a_later_edit_of_the_same_dp_wins_over_a_held_one(
    holding: Callable[[float], FaucetConfigStore], faucet_yaml: Path
) -> None:
    store = holding(30.0)
    await store.update(putter("net1", described(1, "starting container e1")))
    await store.update(putter("net1", described(1, "web 4c1f2")))  # held
    newer = described(1, "web 4c1f2")
    newer["interfaces"][2] = {"description": "db 77a0e", "native_vlan": 100}
    await store.update(putter("net1", newer))
    ports = yaml.safe_load(faucet_yaml.read_text())["dps"]["net1"]["interfaces"]
    assert ports[1]["description"] == "web 4c1f2" and ports[2]["description"] == "db 77a0e"


async def test_renames_in_a_row_wait_for_the_last_one_but_not_forever(
    holding: Callable[[float], FaucetConfigStore], reloader: CountingReloader, faucet_yaml: Path
) -> None:
    store = holding(0.3)
    await store.update(putter("net1", described(1, "starting container e0")))
    loop = asyncio.get_running_loop()
    began = loop.time()
    renamed_at: list[float] = []
    for n in range(20):  # a rename every 0.1 s for 2 s: longer than 5 delays
        await store.update(putter("net1", described(1, f"web {n}")))
        if reloader.calls > 1 and not renamed_at:
            renamed_at.append(loop.time() - began)
        await asyncio.sleep(0.1)
    # Held while they kept coming, written once the limit (5 x 0.3 s) was reached.
    assert renamed_at and renamed_at[0] >= 1.4  # (and before the 2 s loop ended)
    assert reloader.calls == 2
    await reloads_reach(reloader, 3)
    assert reloader.calls == 3  # the rest: one more write, 0.3 s after the last
    assert "web 19" in faucet_yaml.read_text()
