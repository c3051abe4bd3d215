"""FileWatch on a real directory: edits in place, replacement by rename, a symlinked file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dovesnap.adapters.file_watch import FileWatch, watched_names
from tests.unit.fakes import eventually


async def test_changes_to_the_file_are_seen_and_others_ignored(tmp_path: Path) -> None:
    path = tmp_path / "faucet.yaml"
    path.write_text("a: 1\n")
    seen: list[int] = []
    watch = FileWatch(path, lambda: seen.append(1))
    watch.start()
    try:
        (tmp_path / "other.yaml").write_text("x\n")
        await asyncio.sleep(0.05)
        assert seen == []
        path.write_text("a: 2\n")  # edited in place
        await eventually(lambda: seen)
        seen.clear()
        new = tmp_path / ".new"
        new.write_text("a: 3\n")
        os.replace(new, path)  # replaced, as editors and dovesnap do
        await eventually(lambda: seen)
    finally:
        watch.close()
    watch.close()  # twice is harmless


async def test_a_symlinked_file_is_watched_where_it_lives(tmp_path: Path) -> None:
    real = tmp_path / "real" / "faucet.yaml"
    real.parent.mkdir()
    real.write_text("a: 1\n")
    link = tmp_path / "etc" / "faucet.yaml"
    link.parent.mkdir()
    link.symlink_to(real)
    assert watched_names(link) == {link.parent: {"faucet.yaml"}, real.parent: {"faucet.yaml"}}
    seen: list[int] = []
    watch = FileWatch(link, lambda: seen.append(1))
    watch.start()
    try:
        real.write_text("a: 2\n")
        await eventually(lambda: seen)
    finally:
        watch.close()
