"""The systemd unit's readiness check against real unix sockets (a tiny plugin, a stale file)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dovesnap.tools.service_ready import main, plugin_answers, wait_for_plugin

ACTIVATE_REPLY = (b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n'
                  b'{"Implements": ["NetworkDriver"]}')


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dsr-") as tmp:
        yield Path(tmp)


def serve_once_per_connection(sock_path: Path, reply: bytes) -> tuple[socket.socket, threading.Thread]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(4)

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(reply)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return server, thread


def test_answers_when_a_plugin_replies_to_activate(short_dir: Path) -> None:
    path = short_dir / "p.sock"
    server, _ = serve_once_per_connection(path, ACTIVATE_REPLY)
    try:
        assert plugin_answers(path)
        assert main(["--timeout", "1", str(path)]) == 0
    finally:
        server.close()


def test_a_socket_that_is_not_a_network_driver_does_not_count(short_dir: Path) -> None:
    path = short_dir / "p.sock"
    server, _ = serve_once_per_connection(path, b"HTTP/1.0 404 Not Found\r\n\r\n")
    try:
        assert not plugin_answers(path)
    finally:
        server.close()


def test_a_stale_socket_file_is_not_ready(short_dir: Path) -> None:
    path = short_dir / "p.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed daemon leaves
    assert path.exists()
    assert not plugin_answers(path)


def test_wait_gives_up_after_the_timeout(short_dir: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    assert not wait_for_plugin(short_dir / "missing.sock", 1.0, 0.25, lambda: now[0], sleep)
    assert sum(slept) == pytest.approx(1.0)


def test_wait_returns_once_the_plugin_comes_up(short_dir: Path) -> None:
    path = short_dir / "p.sock"
    servers: list[socket.socket] = []

    def sleep(_: float) -> None:
        if not servers:  # the daemon binds its socket while we wait
            servers.append(serve_once_per_connection(path, ACTIVATE_REPLY)[0])

    try:
        assert wait_for_plugin(path, 30.0, 0.01, sleep=sleep)
    finally:
        for server in servers:
            server.close()


def test_main_reports_the_socket_it_waited_for(
    short_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = short_dir / "gone.sock"
    monkeypatch.setenv("DOVESNAP_PLUGIN_SOCKET", str(path))
    assert main(["--timeout", "0"]) == 1
    assert str(path) in capsys.readouterr().err
