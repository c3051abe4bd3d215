"""The short engine id: from Docker when it answers, else from the host's machine id."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dovesnap.runtime.engine import determine_engine_id
from tests.unit.fakes import FakeDocker


class SilentDocker(FakeDocker):
    """A Docker that is not up (yet)."""

    def engine_id(self) -> str:
        raise ConnectionRefusedError("docker.sock: connection refused")


async def test_docker_engine_id_wins(tmp_path: Path) -> None:
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    docker = FakeDocker(engine="AQAD:QG3L:345H:3Z6I")
    assert await determine_engine_id(docker, wait=0.0, files=[machine_id]) == "07A395"


async def test_machine_id_stands_in_when_docker_is_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dovesnap.runtime.engine")
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    found = await determine_engine_id(SilentDocker(), wait=0.2,
                                      files=[tmp_path / "missing", machine_id])
    assert found == "3D1219"
    assert "machine id" in caplog.text


async def test_no_id_at_all_is_empty(tmp_path: Path) -> None:
    assert await determine_engine_id(SilentDocker(), wait=0.0, files=[tmp_path / "x"]) == ""
