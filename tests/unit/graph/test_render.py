"""Drawing the topology with the real Graphviz ``dot``: PNG and SVG, escaped labels."""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

import pytest

from dovesnap.errors import BackendError
from dovesnap.graph.model import Edge, Node, Topology, build_topology
from dovesnap.graph.render import render, to_dot
from tests.unit.graph_samples import lab_faucet, lab_status, second_host_status

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


@needs_dot
def test_png_is_a_png_of_sane_size(tmp_path: Path) -> None:
    data = render(build_topology([lab_status(), second_host_status()], lab_faucet()), "png")
    out = tmp_path / "graph.png"
    out.write_bytes(data)
    assert 10_000 < len(data) < 5_000_000
    described = subprocess.run(["file", str(out)], capture_output=True, text=True, check=True)
    assert "PNG image data" in described.stdout
    width, height = (int(x) for x in described.stdout.split("PNG image data,")[1].split(",")[0]
                     .split(" x "))
    assert 300 < width < 6000 and 200 < height < 6000


@needs_dot
def test_svg_shows_every_container_and_the_fail_closed_reason() -> None:
    svg = html.unescape(render(build_topology([lab_status()], lab_faucet()), "svg").decode())
    for text in ("web", "db", "broken", "NAT gateway", "odsmire1e1e1", "mirout", "root"):
        assert f">{text}<" in svg
    assert "FAIL-CLOSED (labnet)" in svg


NASTY = ['<b>bold</b>', 'a"b', "back\\slash\\", "x:y:z", "&amp;", "new\nline", "{}[];-->"]


@needs_dot
@pytest.mark.parametrize("text", NASTY)
def test_user_text_cannot_change_the_markup(text: str) -> None:
    topology = Topology(
        (Node("a:b", "container", text, (text,), alert=text), Node("c", "bridge", "br")),
        (Edge("c", "a:b", label=text),),
    )
    svg = render(topology, "svg").decode()
    assert "<b>" not in svg
    assert svg.count("<g id=\"node") == 2 and svg.count("<g id=\"edge") == 1


def test_node_ids_with_colons_are_not_ports() -> None:
    topology = Topology((Node("bridge:h:b", "bridge", "b"), Node("container:h:c", "container", "c")),
                        (Edge("bridge:h:b", "container:h:c"),))
    source = to_dot(topology).source
    assert "bridge:h" not in source and "n0 -> n1" in source


def test_empty_topology_still_draws() -> None:
    assert "no dovesnap networks" in to_dot(Topology()).source


def test_unknown_format_is_refused() -> None:
    with pytest.raises(BackendError, match="unknown graph format"):
        render(Topology(), "gif")
