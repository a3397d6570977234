"""The control protocol over a real Unix socket: answers, errors, permissions, unreachable daemons."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading

import pytest

from bifrostd.control import (
    MAX_LINE, PROTOCOL_VERSION, ControlClient, ControlServer, check_folder, client_path, socket_place,
)
from bifrostd.errors import DaemonError, DaemonRunning, DaemonUnreachable


def handlers(stopped: threading.Event):
    def status(request):
        return {"status": {"uptime_s": 1.5, "roots": []}}

    def stop(request):
        stopped.set()
        return {"stopping": True}

    def refuse(request):
        raise DaemonRunning(42, "/state")

    def crash(request):
        raise RuntimeError("boom")

    return {"ping": lambda r: {"pid": os.getpid()}, "status": status, "stop": stop, "refuse": refuse,
            "crash": crash}


@pytest.fixture
def server(tmp_path):
    stopped = threading.Event()
    place = socket_place(tmp_path / "state")
    running = ControlServer(place, handlers(stopped)).start()
    running.stopped = stopped
    yield running
    running.stop()


def raw(path, payload: bytes) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return [json.loads(line) for line in data.splitlines()]


def test_ping_status_and_stop_round_trip(server):
    client = ControlClient(server.place.link)
    assert client.call("ping")["pid"] == os.getpid()
    response = client.call("status")
    assert response == {"ok": True, "v": PROTOCOL_VERSION, "op": "status",
                        "status": {"uptime_s": 1.5, "roots": []}}
    assert client.call("stop")["stopping"] is True
    assert server.stopped.is_set()


def test_socket_is_not_world_writable_and_its_folder_is_private(server):
    mode = os.stat(server.place.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660
    assert not stat.S_IMODE(mode) & (stat.S_IWOTH | stat.S_IROTH)
    folder_mode = stat.S_IMODE(os.stat(server.place.path.parent).st_mode)
    assert not folder_mode & stat.S_IWOTH


def test_errors_carry_a_message_and_an_exit_code(server):
    client = ControlClient(server.place.link)
    refused = client.request("refuse")
    assert refused == {"ok": False, "v": PROTOCOL_VERSION, "exit_code": 12,
                       "error": "Another bifrostd (pid 42) already runs on the state folder /state."}
    with pytest.raises(DaemonError) as caught:
        client.call("refuse")
    assert caught.value.exit_code == 12
    crashed = client.request("crash")
    assert crashed["ok"] is False and "RuntimeError: boom" in crashed["error"]
    unknown = client.request("frobnicate")
    assert unknown["exit_code"] == 2 and "unknown op 'frobnicate'" in unknown["error"]


def test_malformed_lines_get_errors_and_the_connection_survives(server):
    replies = raw(server.place.link, b'not json\n{"op": 3}\n{"op": "ping", "v": 99}\n\n{"op": "ping"}\n')
    assert [r["ok"] for r in replies] == [False, False, False, True]
    assert "not a JSON line" in replies[0]["error"]
    assert "newer than this daemon" in replies[2]["error"]


def test_overlong_request_is_refused_once_and_the_next_line_answered(server):
    replies = raw(server.place.link, b'{"op": "ping", "pad": "' + b"a" * (3 * MAX_LINE) + b'"}\n{"op": "ping"}\n')
    assert [r["ok"] for r in replies] == [False, True]
    assert "longer than" in replies[0]["error"]


def test_odd_versions_and_pathological_json_are_usage_errors(server):
    lines = [b'{"op": "ping", "v": "1"}', b'{"op": "ping", "v": true}', b'{"op": "ping", "v": -5}',
             b'{"op": "ping", "v": 1.0}', b"[" * 100_000 + b"]" * 100_000, b'{"op": "ping", "n": ' + b"9" * 5000 + b"}"]
    replies = raw(server.place.link, b"\n".join(lines) + b'\n{"op": "ping", "v": 1}\n')
    assert [(r["ok"], r.get("exit_code")) for r in replies] == [(False, 2)] * 6 + [(True, None)]


def test_many_clients_at_once(server):
    results = []

    def ask():
        results.append(ControlClient(server.place.link).call("status")["ok"])

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 20


def test_no_daemon_is_unreachable_with_the_path(tmp_path):
    with pytest.raises(DaemonUnreachable) as caught:
        ControlClient(tmp_path / "bifrostd.sock").call("status")
    assert str(tmp_path / "bifrostd.sock") in str(caught.value)
    assert caught.value.exit_code == 13


def test_a_dead_socket_is_unreachable_and_is_replaced_on_start(tmp_path):
    path = tmp_path / "bifrostd.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    with pytest.raises(DaemonUnreachable, match="refused"):
        ControlClient(path).call("ping")
    server = ControlServer(socket_place(tmp_path), {"ping": lambda r: {}}).start()
    try:
        assert ControlClient(path).call("ping")["ok"]
    finally:
        server.stop()
    assert not path.exists()


def test_a_silent_daemon_times_out(tmp_path):
    path = tmp_path / "bifrostd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(path))
        mute.listen()
        with pytest.raises(DaemonUnreachable, match="no answer within 0.2 s"):
            ControlClient(path, timeout=0.2).call("status")


def test_runtime_directory_socket_is_linked_from_the_state_folder(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o750)
    place = socket_place(tmp_path / "state", f"{runtime}:/other")
    assert place.path == runtime / "bifrostd.sock"
    assert place.link == client_path(tmp_path / "state")
    server = ControlServer(place, {"ping": lambda r: {"pong": 1}}).start()
    try:
        assert os.readlink(place.link) == str(place.path)
        assert ControlClient(client_path(tmp_path / "state")).call("ping")["pong"] == 1
    finally:
        server.stop()
    assert not place.link.exists() and not place.path.exists()


def test_world_writable_folder_is_refused(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(DaemonError, match="writable by everyone"):
        check_folder(folder)
    folder.chmod(0o1777)  # sticky, like /tmp: others cannot replace our socket
    check_folder(folder)


def test_a_regular_file_in_the_way_is_not_deleted(tmp_path):
    (tmp_path / "bifrostd.sock").write_text("precious")
    with pytest.raises(DaemonError, match="not a socket"):
        ControlServer(socket_place(tmp_path), {}).start()
    assert (tmp_path / "bifrostd.sock").read_text() == "precious"

