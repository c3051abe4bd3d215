"""Draw a :class:`Topology` with Graphviz: DOT source, then PNG or SVG from the ``dot`` program.

Labels are Graphviz HTML-like labels built from escaped text, so container names, ACL names and
fail-closed reasons (all user input) cannot change the markup.
"""

from __future__ import annotations

import html
import shutil
import textwrap

import graphviz

from dovesnap.errors import BackendError
from dovesnap.graph.model import (
    BRIDGE,
    CONTAINER,
    COPROCESSOR,
    EXTERNAL,
    GATEWAY,
    INTERFACE,
    MIRROR_BRIDGE,
    MIRROR_IN,
    MIRROR_OUT,
    OTHER_BRIDGE,
    PATCH,
    REMOTE_DP,
    STACK,
    Node,
    Topology,
)

FORMATS = ("png", "svg")

_NODE_STYLE: dict[str, dict[str, str]] = {
    BRIDGE: {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#dbe9f6"},
    CONTAINER: {"shape": "box", "style": "filled", "fillcolor": "#eef7ea"},
    EXTERNAL: {"shape": "cds", "style": "filled", "fillcolor": "#fdf1dc"},
    COPROCESSOR: {"shape": "cds", "style": "filled", "fillcolor": "#f6e3f3"},
    GATEWAY: {"shape": "house", "style": "filled", "fillcolor": "#fff8c4"},
    MIRROR_BRIDGE: {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": "#ece4f7"},
    OTHER_BRIDGE: {"shape": "box", "style": "rounded,filled", "fillcolor": "#e4e4e4"},
    INTERFACE: {"shape": "cds", "style": "filled", "fillcolor": "#ece4f7"},
    REMOTE_DP: {"shape": "box3d", "style": "filled", "fillcolor": "#e0f0f0"},
}
_EDGE_STYLE: dict[str, dict[str, str]] = {
    PATCH: {"style": "dashed", "dir": "none"},
    STACK: {"style": "bold", "color": "#1f5fa8", "dir": "none", "penwidth": "2"},
    MIRROR_OUT: {"color": "#7a4fb0"},
    MIRROR_IN: {"color": "#7a4fb0"},
}
ALERT_COLOUR = "#c0392b"


WRAP = 56  # characters per label line; long fail-closed reasons wrap


def _lines(text: str) -> list[str]:
    return textwrap.wrap(text, WRAP, break_long_words=True, break_on_hyphens=False) or [""]


def _label(node: Node) -> str:
    rows = [f"<tr><td><b>{html.escape(line)}</b></td></tr>" for line in _lines(node.title)]
    rows += [f'<tr><td><font point-size="10">{html.escape(part)}</font></td></tr>'
             for line in node.details for part in _lines(line)]
    if node.alert:
        rows += [f'<tr><td><font point-size="10" color="{ALERT_COLOUR}">{html.escape(part)}'
                 "</font></td></tr>" for part in _lines(node.alert)]
    return ('<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">'
            + "".join(rows) + "</table>>")


def _node_attrs(node: Node) -> dict[str, str]:
    attrs = dict(_NODE_STYLE.get(node.kind, {"shape": "box"}))
    if node.alert:
        attrs["color"] = ALERT_COLOUR
        attrs["penwidth"] = "2"
    return attrs


def to_dot(topology: Topology, title: str = "dovesnap") -> graphviz.Digraph:
    """The DOT graph: one cluster per host, remote FAUCET DPs outside any cluster."""
    dot = graphviz.Digraph(name=title)
    dot.attr(rankdir="LR", fontname="DejaVu Sans", fontsize="11", bgcolor="white")
    # A little room around labels: browsers measure text a shade wider than Graphviz does.
    dot.attr("node", fontname="DejaVu Sans", fontsize="11", margin="0.2,0.08")
    dot.attr("edge", fontname="DejaVu Sans", fontsize="9")
    # DOT reads "a:b" in an edge as node a, port b: give nodes plain ids of our own.
    ids = {node.id: f"n{index}" for index, node in enumerate(topology.nodes)}
    hosts = topology.hosts
    by_host: dict[str, list[Node]] = {}
    for node in topology.nodes:
        by_host.setdefault(node.host, []).append(node)
    for host, nodes in sorted(by_host.items()):
        if host and len(hosts) > 1:
            with dot.subgraph(name=f"cluster_{len(dot.body)}") as sub:
                sub.attr(label=graphviz.escape(f"host {host}"), style="rounded", color="#999999")
                for node in nodes:
                    sub.node(ids[node.id], _label(node), **_node_attrs(node))
        else:
            for node in nodes:
                dot.node(ids[node.id], _label(node), **_node_attrs(node))
    for edge in topology.edges:
        if edge.src in ids and edge.dst in ids:
            dot.edge(ids[edge.src], ids[edge.dst], label=graphviz.escape(edge.label),
                     **_EDGE_STYLE.get(edge.kind, {}))
    if not topology.nodes:
        dot.node("empty", "no dovesnap networks", shape="plaintext")
    return dot


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render(topology: Topology, fmt: str = "png") -> bytes:
    """PNG or SVG bytes of the topology; raises BackendError when Graphviz is missing or fails."""
    if fmt not in FORMATS:
        raise BackendError(f"unknown graph format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if not dot_available():
        raise BackendError("Graphviz's dot program is not installed",
                           "install it: apt-get install graphviz")
    try:
        data: bytes = to_dot(topology).pipe(format=fmt)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError) as err:
        raise BackendError(f"Graphviz could not draw the graph: {err}") from None
    return data
