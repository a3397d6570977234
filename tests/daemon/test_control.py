"""The control protocol over a real Unix socket: answers, errors, permissions, unreachable daemons, and the
limits that keep a flood of idle or slow connections from locking others out or starving the daemon."""

from __future__ import annotations

import json
import os
import resource
import selectors
import socket
import stat
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from bifrostd.daemon.control import (
    MAX_LINE, PROTOCOL_VERSION, ControlClient, ControlServer, check_folder, client_path, socket_place,
)
from bifrostd.daemon.control_limits import FD_RESERVE, Limits, Slots, limits_for
from bifrostd.errors import DaemonError, DaemonRunning, DaemonUnreachable

from .conftest import installed, wait_until


def handlers(stopped: threading.Event):
    def status(request):
        return {"status": {"uptime_s": 1.5, "roots": []}}

    def stop(request):
        stopped.set()
        return {"stopping": True}

    def refuse(request):
        raise DaemonRunning(pid=42, state_dir="/state")

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



# -- limits: the books ----------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def books(clock: Clock, **limits) -> Slots:
    return Slots(Limits(**{"connections": 4, "per_uid": 2, "evict_after": 1.0, **limits}),
                 privileged=frozenset({0}), clock=clock)


def test_a_user_holds_its_share_and_root_what_is_left():
    table, evicted = books(Clock()), []
    assert all(table.admit(1000, f"a{i}", evict=evicted.append).slot for i in range(2))
    refused = table.admit(1000, "a3", evict=evicted.append)
    assert refused.slot is None and refused.refusal.startswith("uid 1000 already has 2 control connections")
    assert table.admit(1001, "b", evict=evicted.append).slot
    assert table.admit(0, "r", evict=evicted.append).slot
    full = table.admit(0, "r2", evict=evicted.append)
    assert full.slot is None and "busy: 4 connections are open" in full.refusal
    assert evicted == [] and len(table) == 4


def test_when_full_the_longest_idle_makes_room_never_one_being_answered():
    clock, evicted = Clock(), []
    table = books(clock, per_uid=4)
    first, second, third, fourth = (table.admit(1000, name, evict=evicted.append).slot for name in "abcd")
    clock.now += 0.5
    assert table.start_request(first)  # being answered: never evicted
    assert table.admit(0, "e", evict=evicted.append).slot is None  # the others waited 0.5 s only
    clock.now += 0.6
    table.end_request(third)  # answered: waits again from now
    admitted = table.admit(0, "e", evict=evicted.append)
    assert admitted.slot is not None and admitted.evicted is second and evicted == [second]
    assert not table.start_request(second)  # its line, had one come meanwhile, is dropped
    table.release(second)  # its thread's release is a no-op
    assert len(table) == 4
    table.evict_waiting(evicted.append)
    assert evicted == [second, third, fourth, admitted.slot] and len(table) == 1  # the one answered stays


@pytest.mark.parametrize(("nofile", "connections", "per_uid"), [
    (resource.RLIM_INFINITY, 64, 16), (1 << 20, 64, 16), (1024, 64, 16), (384, 64, 16), (256, 32, 8),
    (200, 18, 4), (140, 3, 1), (100, 1, 1),
])
def test_limits_shrink_with_the_descriptor_limit(nofile, connections, per_uid):
    limits = limits_for(nofile)
    assert (limits.connections, limits.per_uid, limits.fd_reserve) == (connections, per_uid, FD_RESERVE)


# -- limits: a server in this process --------------------------------------------------------------
@contextmanager
def limited_server(tmp_path, **kwargs):
    stopped = threading.Event()
    server = ControlServer(socket_place(tmp_path / "state"), handlers(stopped), **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def connections(path, count: int, first: bytes = b""):
    """``count`` connections to ``path``, each having sent ``first``; all closed on the way out."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            opened.append(sock)
            sock.settimeout(5)
            sock.connect(str(path))
            if first:
                sock.sendall(first)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def last_words(sock: socket.socket, timeout: float = 5.0) -> list[dict]:
    """What the daemon says before it closes the connection (raises TimeoutError if it does not)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # closed with our input unread: what it sent was read first
        pass
    return [json.loads(line) for line in data.splitlines()]


def test_a_connection_over_the_cap_gets_a_busy_line_and_is_closed(tmp_path):
    with limited_server(tmp_path, limits=Limits(connections=2, evict_after=60)) as server, \
            connections(server.place.link, 2) as idle, connections(server.place.link, 1) as (over,):
        assert last_words(over) == [{"ok": False, "v": PROTOCOL_VERSION, "exit_code": 13, "busy": True,
                                     "error": "the control socket is busy: 2 connections are open, the most it "
                                              "takes; try again"}]
        for sock in idle:  # the two admitted still answer
            sock.sendall(b'{"op": "ping"}\n')
            assert json.loads(sock.makefile("rb").readline())["ok"] is True
        with pytest.raises(DaemonError) as caught:
            ControlClient(server.place.link, timeout=0.3).call("ping")  # retried, busy all along
        assert caught.value.exit_code == 13 and "busy" in str(caught.value)


def test_one_user_over_its_share_is_refused_while_the_cap_has_room(tmp_path):
    with limited_server(tmp_path, limits=Limits(connections=8, per_uid=2), privileged=frozenset()) as server, \
            connections(server.place.link, 2), connections(server.place.link, 1) as (over,):
        [refusal] = last_words(over)
        assert refusal["busy"] and refusal["error"].startswith(f"uid {os.geteuid()} already has 2 control connections")


def test_half_a_line_or_a_drip_is_dropped_at_the_deadline_and_others_are_answered(tmp_path):
    with limited_server(tmp_path, limits=Limits(request_timeout=0.6)) as server, \
            connections(server.place.link, 1, b'{"op": "pi') as (half,), connections(server.place.link, 1) as (drip,):
        started = time.monotonic()
        for byte in b'{"op": "ping"':  # a byte every 0.1 s: each comes in time, the line does not
            assert ControlClient(server.place.link).call("ping")["ok"]
            try:
                drip.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
        expected = [{"ok": False, "v": PROTOCOL_VERSION, "exit_code": 2,
                     "error": "no request line within 0.6 s; closing the connection"}]
        assert last_words(half) == expected and last_words(drip) == expected
        assert 0.5 < time.monotonic() - started < 3


def test_an_idle_connection_makes_room_and_its_late_request_is_not_run(tmp_path):
    with limited_server(tmp_path, limits=Limits(connections=1, evict_after=0.3)) as server, \
            connections(server.place.link, 1) as (idle,):
        started = time.monotonic()
        assert ControlClient(server.place.link, timeout=3).call("status")["ok"]  # busy, retried, then in
        assert 0.25 < time.monotonic() - started < 3
        [notice] = last_words(idle)
        assert notice["busy"] and notice["error"].startswith("closed to make room for another client after 0.")
        try:
            idle.sendall(b'{"op": "stop"}\n')
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert not server.handlers["stop"].__closure__[0].cell_contents.is_set()


def test_nothing_is_accepted_while_descriptors_are_short(tmp_path):
    free = {"now": FD_RESERVE - 1}
    with limited_server(tmp_path, free_descriptors=lambda: free["now"]) as server:
        with pytest.raises(DaemonUnreachable, match="no answer within 0.5 s"):
            ControlClient(server.place.link, timeout=0.5).call("ping")
        with connections(server.place.link, 1, b'{"op": "ping"}\n') as (waiting,):  # in the listen queue
            free["now"] = FD_RESERVE
            waiting.settimeout(5)
            assert json.loads(waiting.makefile("rb").readline())["ok"] is True
        assert ControlClient(server.place.link).call("ping")["ok"]


def test_stopping_closes_idle_connections_at_once_and_leaves_no_thread(tmp_path):
    with limited_server(tmp_path) as server, connections(server.place.link, 3) as idle:
        wait_until(lambda: len(server.slots) == 3, timeout=5, what="the connections to be accepted")
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 0.5
        assert all(last_words(sock) == [{"ok": False, "v": PROTOCOL_VERSION, "exit_code": 13, "busy": True,
                                         "error": "the daemon is stopping"}] for sock in idle)
    assert not [t for t in threading.enumerate() if t.name.startswith("bifrostd-control")]


# -- limits: the real daemon --------------------------------------------------------------------------
SHOT = "demo/sequences/sq010/sh0100"


@contextmanager
def nofile_at_least(count: int):
    """This process may open ``count`` descriptors (skips where the hard limit forbids it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is below the {count} descriptors this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, count), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def with_nofile(soft: int, hard: int) -> list[str]:
    """A command running the installed bifrostd under RLIMIT_NOFILE (soft, hard), like systemd's 1024:524288."""
    code = (f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); "
            "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code, installed("bifrostd")]


def flood(path, count: int, seconds: float) -> list[socket.socket]:
    """Up to ``count`` connections that say nothing, made within ``seconds`` (a full listen queue is retried)."""
    opened: list[socket.socket] = []
    deadline = time.monotonic() + seconds
    try:
        while len(opened) < count and time.monotonic() < deadline:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(str(path))
            except BlockingIOError:  # the listen queue is full
                sock.close()
                time.sleep(0.002)
                continue
            opened.append(sock)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened


def heard(sock: socket.socket) -> str:
    """``open`` (nothing said), ``closed``, or the error the daemon sent before closing."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return "open"
    except ConnectionResetError:
        return "closed"
    return json.loads(data.splitlines()[0])["error"] if data else "closed"


def descriptors(pid: int) -> tuple[int, int, int]:
    """Open descriptors of ``pid``, and its soft and hard RLIMIT_NOFILE."""
    with open(f"/proc/{pid}/limits") as table:
        limits = next(line for line in table if line.startswith("Max open files")).split()
    return len(os.listdir(f"/proc/{pid}/fd")), int(limits[3]), int(limits[4])


def test_a_thousand_idle_connections_leave_status_and_indexing_working(studio, daemon_factory):
    """Under systemd's kind of limit (a low soft one), 1,000 silent connections once gave EMFILE in the
    daemon's loop and no answer to anyone; now the daemon raises its soft limit, takes 64 and refuses the rest."""
    count, hard = 1000, min(2048, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    with nofile_at_least(count + 256):
        d = daemon_factory(studio / "bifrost.yaml", command=with_nofile(256, hard))
        work = studio / "projects" / SHOT / "anim" / "work" / "maya"
        work.mkdir(parents=True, exist_ok=True)
        idle = flood(studio / ".bifrost" / "bifrostd.sock", count, seconds=10)
        try:
            (work / "sh0100_anim_v077.ma").write_bytes(b"saved while flooded")
            started = time.monotonic()
            answered = d.ctl("daemon", "status", "--json", check=False)
            assert answered.returncode == 0, answered.stderr
            assert time.monotonic() - started < 5
            assert json.loads(answered.stdout)["phase"] == "watching"
            wait_until(lambda: f"{SHOT}/anim/work/maya/sh0100_anim_v077.ma" in d.files(work), what="the save")
            assert len(idle) == count  # every one accepted at once, if only to be refused
            fates = [heard(sock) for sock in idle]
            assert fates.count("open") <= 64
            refused = [f for f in fates if f not in ("open", "closed")]
            assert len(refused) + fates.count("closed") >= count - 64
            assert refused and all(f.startswith(("the control socket is busy", "closed to make room",
                                                 "no request line within 5 s")) for f in refused), set(refused)
            held, soft, hard_seen = descriptors(d.process.pid)
            assert soft == hard_seen == hard and held < 256
        finally:
            for sock in idle:
                sock.close()
        log = d.log()
        assert "Too many open files" not in log and "EMFILE" not in log and "Errno 24" not in log
        assert d.stop() == 0


def test_slow_clients_are_dropped_after_the_documented_five_seconds(studio, daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    path = studio / ".bifrost" / "bifrostd.sock"
    with connections(path, 3, b'{"op": "sta') as halves, connections(path, 3) as drips, \
            selectors.DefaultSelector() as selector:
        started = time.monotonic()
        for sock in halves + drips:
            selector.register(sock, selectors.EVENT_READ)
        closed_at: dict[socket.socket, float] = {}
        dripped, asked = 0, False
        while len(closed_at) < 6 and time.monotonic() - started < 9:
            for key, _ in selector.select(timeout=0.1):
                closed_at[key.fileobj] = time.monotonic() - started  # its last words, or the end of input
                selector.unregister(key.fileobj)
            if time.monotonic() - started > dripped:  # a byte a second, whitespace before the object: never a line
                dripped += 1
                for sock in drips:
                    try:
                        sock.send(b" ")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
            if not asked and time.monotonic() - started > 1:
                asked = True
                assert d.status() is not None  # others are answered meanwhile
        assert len(closed_at) == 6 and all(4.5 < t < 7 for t in closed_at.values()), closed_at.values()
        assert all(last_words(sock) == [{"ok": False, "v": PROTOCOL_VERSION, "exit_code": 2,
                                         "error": "no request line within 5 s; closing the connection"}]
                   for sock in halves + drips)
    assert d.stop() == 0
