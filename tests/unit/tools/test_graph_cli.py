"""``graph_dovesnap``: the command line around the graph model and renderer."""

from __future__ import annotations

from pathlib import Path

import pytest

from dovesnap.tools.graph_cli import main as graph_main


def test_graph_command_without_any_status_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.png"
    code = graph_main(["-o", str(out), "--status-addrs", "127.0.0.1:1",
                       "--faucet-config", str(tmp_path / "none.yaml")])
    assert code == 1 and not out.exists()
    assert "cannot read http://127.0.0.1:1/networks" in capsys.readouterr().err
