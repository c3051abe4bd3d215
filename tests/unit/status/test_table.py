"""``dovesnap status`` text: one block per network, ACL, mirror and fail-closed columns."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from dovesnap.cli import main
from dovesnap.status.table import format_status
from tests.unit.graph_samples import lab_faucet, lab_status


def test_table_rows_say_acl_mirror_and_state() -> None:
    text = format_status(lab_status(), lab_faucet())
    lines = text.splitlines()
    assert lines[0].startswith("labnet  bridge odsbraaaa1  dpid 0x7e7001  mode nat  vlan 100")
    assert "gateway 10.70.0.1/24" in lines[0]
    header = lines[1].split()
    assert header == ["PORT", "NAME", "MAC", "IP", "ACL", "MIRROR", "STATE"]
    rows = {line.split()[1]: line.split() for line in lines[2:] if line.strip()}
    assert rows["web"][4:7] == ["allowall", "yes", "ok"]
    assert rows["db"][4:7] == ["-", "-", "ok"]
    assert rows["broken"][6] == "FAIL-CLOSED:" and "no ACL nosuch" in text
    assert rows["eth9"][-2:] == ["host", "interface"] and rows["copro0"][-1] == "coprocessor"


def test_who_set_the_acl_and_the_mirroring_is_shown() -> None:
    status = lab_status()
    containers = next(iter(status.values()))["DynamicNetworkStates"]["Containers"]
    containers["ep1"]["OperatorPolicy"] = {"acls": ["allowall"]}  # dovesnap acl set
    containers["ep2"]["EndpointOptions"] = {"dovesnap.faucet.mirror": "labnet:false"}
    rows = {line.split()[1]: line for line in format_status(status, lab_faucet()).splitlines()[2:]
            if line.strip()}
    assert "allowall (set)" in rows["web"] and "yes (set)" not in rows["web"]
    assert "- (driver-opt)" in rows["db"]  # the option says "do not mirror"
    # Without a FAUCET config, the table says what the sources ask for, merged.
    rows = {line.split()[1]: line for line in format_status(status).splitlines()[2:]
            if line.strip()}
    assert "allowall (set)" in rows["web"]


def test_without_networks() -> None:
    assert format_status({}) == "no dovesnap networks\n"


@pytest.fixture
def status_server() -> Iterator[str]:
    body = json.dumps(lab_status()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/networks" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_status_command_reads_faucet_config(
    status_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "faucet.yaml"
    config.write_text(yaml.safe_dump(lab_faucet()))
    assert main(["status", "--status-addr", status_server, "--faucet-config", str(config)]) == 0
    out = capsys.readouterr().out
    web = next(line for line in out.splitlines() if " web " in line)
    assert "allowall" in web and " yes " in web
    # Without a readable FAUCET config the labels stand in.
    assert main(["status", "--status-addr", status_server,
                 "--faucet-config", str(tmp_path / "none.yaml")]) == 0
    assert "allowall" in capsys.readouterr().out
    assert main(["status", "--status-addr", status_server, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == lab_status()


def test_graph_command_writes_png_and_svg(status_server: str, tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz not installed")
    config = tmp_path / "faucet.yaml"
    config.write_text(yaml.safe_dump(lab_faucet()))
    png, svg = tmp_path / "g.png", tmp_path / "g.svg"
    assert main(["graph", "-o", str(png), "--status-addrs", status_server,
                 "--faucet-config", str(config)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert main(["graph", "-o", str(svg), "--status-addrs", f"{status_server},127.0.0.1:1",
                 "--faucet-config", str(config)]) == 0  # one host down: the others are drawn
    assert "<svg" in svg.read_text()


def test_ports_faucet_did_not_apply_say_why() -> None:
    status = lab_status()
    net = next(iter(status.values()))
    db = net["DynamicNetworkStates"]["Containers"]["ep2"]
    db["State"], db["StateReason"] = "not-applied", "FAUCET installed no flows for port 2"
    web = net["DynamicNetworkStates"]["Containers"]["ep1"]
    web["State"], web["StateReason"] = "pending", "link down"
    net["FaucetError"] = "FAUCET refused the config: DP labnet: bad"
    text = format_status(status, lab_faucet())
    assert "NOT-APPLIED: FAUCET installed no flows for port 2" in text
    assert "PENDING: link down" in text
    assert "  ERROR: FAUCET refused the config: DP labnet: bad" in text
