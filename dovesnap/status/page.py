"""The live status page: HTML built from the network facts and the topology SVG (pure).

Plain HTML and a few lines of JavaScript (served separately, so the page can forbid inline
script): the body is rendered on the server, and the script swaps in a fresh body every few
seconds. Everything shown is escaped; container names and labels are user input.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from dovesnap.graph.facts import CONTAINER, NetworkFacts, PortFacts, addresses_of

REFRESH_SECONDS = 3
CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "style-src 'unsafe-inline'")

STYLE = """
body { font-family: "DejaVu Sans", sans-serif; margin: 1.2em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em 0; }
h2 { font-size: 1.15em; margin: 1.4em 0 .3em 0; }
.meta { color: #555; font-size: .9em; }
.picture { background: white; border: 1px solid #ccc; padding: .5em; overflow: auto; }
.picture svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; background: white; font-size: .9em; margin-top: .3em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #e8eef5; }
tr.failed td { background: #fbe3e1; }
.bad { color: #c0392b; font-weight: bold; }
.ok { color: #2e7d32; }
.muted { color: #888; }
#state.lost { color: #c0392b; font-weight: bold; }
"""

SCRIPT = """\
"use strict";
(function () {
  var every = REFRESH_MS;
  function refresh() {
    fetch("ui/body", {cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (text) {
      document.getElementById("live").innerHTML = text;
      var state = document.getElementById("state");
      state.className = "";
      state.textContent = "live, updated " + new Date().toLocaleTimeString();
    }).catch(function (err) {
      var state = document.getElementById("state");
      state.className = "lost";
      state.textContent = "cannot reach dovesnap (" + err.message + "), retrying";
    });
  }
  setInterval(refresh, every);
})();
""".replace("REFRESH_MS", str(REFRESH_SECONDS * 1000))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _acl_cell(acls: Sequence[str]) -> str:
    return _e(", ".join(acls)) if acls else '<span class="muted">none</span>'


def _state_cell(port: PortFacts) -> str:
    if port.fail_closed:
        return f'<span class="bad">FAIL-CLOSED</span>: {_e(port.fail_closed)}'
    if port.state == "not-applied":
        return f'<span class="bad">NOT APPLIED by FAUCET</span>: {_e(port.state_reason)}'
    if port.state == "pending":
        return f'<span class="muted">pending</span>: {_e(port.state_reason)}'
    return '<span class="ok">forwarding</span>'


def _port_row(port: PortFacts) -> str:
    kind = {"container": "container", "external": "host interface", "copro": "coprocessor"}
    name = port.name or (port.endpoint_id[:12] if port.endpoint_id else "?")
    cells = [
        _e(port.ofport), _e(name), _e(kind.get(port.kind, port.kind)), _e(port.mac),
        "<br>".join(_e(a) for a in addresses_of(port)), _acl_cell(port.acls), "yes" if port.mirrored else "",
        _state_cell(port) if port.kind == CONTAINER else '<span class="ok">attached</span>',
    ]
    css = ' class="failed"' if port.fail_closed or port.state == "not-applied" else ""
    return f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _network_section(net: NetworkFacts) -> str:
    title = _e(net.name or net.network_id[:12])
    facts = [f"bridge {net.bridge}", f"dpid {net.dpid}", f"mode {net.mode}", f"VLAN {net.vlan}"]
    if net.gateways:
        facts.append("gateway " + ", ".join(net.gateways))
    if net.default_acls:
        facts.append("default ACL " + ",".join(net.default_acls))
    if net.userspace:
        facts.append("userspace datapath")
    if net.mirror_bridge:
        facts.append(f"mirror bridge {net.mirror_bridge}")
    parts = [f'<section class="network" data-network="{_e(net.name)}">',
             f"<h2>{title}</h2>", f'<div class="meta">{_e(" · ".join(facts))}</div>']
    if net.error:
        parts.append(f'<p class="bad">{_e(net.error)}</p>')
    if net.ports:
        parts.append(
            "<table><thead><tr><th>port</th><th>name</th><th>kind</th><th>MAC</th><th>IP</th>"
            "<th>ACL</th><th>mirrored</th><th>state</th></tr></thead><tbody>"
            + "".join(_port_row(p) for p in net.ports) + "</tbody></table>"
        )
    else:
        parts.append('<p class="muted">no containers or host interfaces</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_body(facts: Sequence[NetworkFacts], svg: str | None, svg_note: str = "") -> str:
    """The part of the page that refreshes: picture and one table per network."""
    cut = sum(1 for net in facts for p in net.ports if p.fail_closed)
    unapplied = sum(1 for net in facts for p in net.ports if p.state == "not-applied")
    summary = (f"{len(facts)} networks, "
               f"{sum(len(net.containers) for net in facts)} containers, {cut} failed closed")
    if unapplied:
        summary += f", {unapplied} not applied by FAUCET"
    parts = [f'<p class="meta" id="summary">{_e(summary)}</p>']
    if svg:
        parts.append(f'<div class="picture">{svg}</div>')
    elif svg_note:
        parts.append(f'<p class="muted">{_e(svg_note)}</p>')
    parts.extend(_network_section(net) for net in facts)
    if not facts:
        parts.append('<p class="muted">No dovesnap networks yet: '
                     "docker network create -d dovesnap -o ovs.bridge.dpid=0x1 NAME</p>")
    return "\n".join(parts)


def render_page(body: str, host: str = "") -> str:
    """The whole document around a body from :func:`render_body`."""
    heading = f"dovesnap on {host}" if host else "dovesnap"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(heading)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_e(heading)}</h1>
<p class="meta"><span id="state">live, refreshes every {REFRESH_SECONDS}s</span> ·
<a href="networks">status JSON</a> · <a href="metrics">metrics</a> · <a href="events">events</a>
· <a href="graph.svg">picture</a></p>
<div id="live">
{body}
</div>
<script src="ui/page.js"></script>
</body>
</html>
"""
