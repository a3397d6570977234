"""systemd notifications against a real datagram socket bound by the test (path and abstract namespace)."""

from __future__ import annotations

import socket
import uuid

import pytest

from bifrostd.daemon.sdnotify import Heartbeat, Notifier, WatchdogPinger, watchdog_interval


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def receive(sock) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_status_stopping_reach_the_socket(listener):
    path, sock = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.ready("watching 2 roots")
    assert receive(sock) == {"READY": "1", "STATUS": "watching 2 roots"}
    notifier.status("line one\nline two")
    assert receive(sock) == {"STATUS": "line one line two"}
    notifier.stopping()
    assert receive(sock) == {"STOPPING": "1", "STATUS": "stopping"}
    assert notifier.sent == 3


def test_abstract_namespace_address():
    name = f"bifrost-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier(f"@{name}").notify(ready=1)
        assert receive(sock) == {"READY": "1"}


def test_without_a_socket_nothing_is_sent_and_nothing_fails(tmp_path):
    assert not Notifier.from_environ({}).ready("x")
    broken = Notifier(str(tmp_path / "nobody-listens"))
    assert not broken.ready("x")
    assert broken.errors == 1


@pytest.mark.parametrize(("environ", "expected"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "100"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "101"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_watchdog_usec(environ, expected):
    assert watchdog_interval(environ, pid=100) == expected


def test_pinger_pings_while_the_heartbeat_is_fresh_and_stops_when_it_is_stale(listener):
    path, sock = listener
    now = [0.0]
    heartbeat = Heartbeat(clock=lambda: now[0])
    pinger = WatchdogPinger(Notifier(path), heartbeat, interval=0.02).start()
    try:
        assert receive(sock) == {"WATCHDOG": "1"}
        now[0] = 1.0  # the main loop has not beaten for 50 intervals: it is stuck
        sock.settimeout(0.2)
        while True:  # drain pings sent before the clock moved
            try:
                sock.recv(4096)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        heartbeat.beat()
        sock.settimeout(5)
        assert receive(sock) == {"WATCHDOG": "1"}
    finally:
        pinger.stop()
