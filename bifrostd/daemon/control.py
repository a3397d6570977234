"""The control socket: ``bifrostctl`` ↔ ``bifrostd`` over a Unix stream socket, JSON lines.

Protocol (documented for scripts in docs/control-protocol.md)::

    → {"op": "status", "v": 1}\\n
    ← {"ok": true, "v": 1, "op": "status", "status": {...}}\\n
    ← {"ok": false, "v": 1, "error": "unknown op 'x'", "exit_code": 2}\\n

One request per line, one response line per request; a connection may carry
several. ``v`` is the protocol version a client speaks (default 1); a daemon
refuses versions newer than its own. Lines are limited to ``MAX_LINE`` bytes.

Connections are capped, each request line is due within seconds, and nothing
is accepted while the daemon is short of file descriptors (the rules are in
``control_limits``). A connection refused over the cap gets one busy line
(``"busy": true``, exit code 13; nothing was done, so clients retry) and is
closed, never queued.

Where the socket lives: ``$RUNTIME_DIRECTORY/bifrostd.sock`` when systemd
provides a runtime folder, else ``<state>/bifrostd.sock``; in the first case
``<state>/bifrostd.sock`` is a symlink to it, so clients, which only know the
config, always connect to ``<state>/bifrostd.sock``. The socket is mode 0660
and its folder must not be writable by others: anyone who can connect can
stop the daemon.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import selectors
import socket
import stat
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .control_limits import Limits, Slot, Slots, free_descriptors, limits_for
from ..errors import BifrostError, DaemonError, DaemonRequestInvalid, DaemonUnreachable, error_class

PROTOCOL_VERSION = 1
SOCKET_NAME = "bifrostd.sock"
SOCKET_MODE = 0o660
MAX_LINE = 1 << 20
#: The longest path ``bind`` accepts (``sun_path`` is 108 bytes, NUL included).
MAX_SOCKET_PATH = 107

log = logging.getLogger("bifrostd.daemon.control")

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class SocketPlace:
    """Where the daemon binds (``path``) and where clients connect (``link``, equal unless systemd gives a runtime folder)."""

    path: Path
    link: Path


def socket_place(state_dir: Path, runtime_dir: str | None = None) -> SocketPlace:
    link = Path(state_dir) / SOCKET_NAME
    if runtime_dir:
        return SocketPlace(Path(runtime_dir.split(":")[0]) / SOCKET_NAME, link)
    return SocketPlace(link, link)


def client_path(state_dir: Path) -> Path:
    return Path(state_dir) / SOCKET_NAME


# -- messages ---------------------------------------------------------------------------
def error_response(message: str, exit_code: int) -> dict[str, Any]:
    return {"ok": False, "v": PROTOCOL_VERSION, "error": message, "exit_code": exit_code}


def parse_request(line: bytes) -> dict[str, Any]:
    """A request object; raises DaemonRequestInvalid (exit code 2) for anything malformed."""
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise usage_error(f"not a JSON line: {exc}") from None
    except (ValueError, RecursionError):  # a number of thousands of digits, arrays nested thousands deep
        raise usage_error("not a JSON line this daemon reads (too deeply nested, or a number too long)") from None
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise usage_error('a request is a JSON object with an "op" string')
    version = request.get("v", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise usage_error(f'"v" is the protocol version, a positive integer (this daemon speaks {PROTOCOL_VERSION})')
    if version > PROTOCOL_VERSION:
        raise usage_error(f"protocol version {version!r} is newer than this daemon's ({PROTOCOL_VERSION})")
    return request


def usage_error(message: str) -> DaemonRequestInvalid:
    """A malformed request (exit code 2): for handlers, as for the protocol itself."""
    return DaemonRequestInvalid(message)


def answer(handlers: Mapping[str, Handler], line: bytes) -> dict[str, Any]:
    """The response to one request line: the handler's fields, or an error. Never raises."""
    try:
        request = parse_request(line)
        handler = handlers.get(request["op"])
        if handler is None:
            raise usage_error(f"unknown op {request['op']!r} (ops: {', '.join(sorted(handlers))})")
        return {"ok": True, "v": PROTOCOL_VERSION, "op": request["op"], **handler(request)}
    except BifrostError as exc:
        return error_response(str(exc), exc.exit_code)
    except Exception as exc:  # a bug in a handler must not kill the connection thread silently
        log.exception("control request failed")
        return error_response(f"internal error: {type(exc).__name__}: {exc}", 2)


# -- server -----------------------------------------------------------------------------
LISTEN_BACKLOG = 64
RESERVE_PAUSE = 0.25  # seconds between looks at the free descriptors while short of them
STOP_WAIT = 1.0  # seconds stop() waits for connections still being answered
TALLY_EVERY = 60.0  # seconds between log lines about refused, evicted and timed-out connections


def busy_response(message: str) -> dict[str, Any]:
    """Refused before any request was read: nothing was done, the same request may be sent again."""
    return {**error_response(message, DaemonUnreachable.exit_code), "busy": True}


class _LineTooLong(Exception):
    """A request line longer than MAX_LINE, read past to its end."""


class _Lines:
    """Request lines from one connection, each due by a deadline (dripping a line's bytes does not extend it)."""

    def __init__(self, conn: socket.socket, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.clock = clock
        self.buffer = bytearray()
        self.scanned = 0  # bytes of buffer known to hold no newline
        self.skipping = False  # inside a line already too long, whose start was dropped

    def next(self, deadline: float) -> bytes | None:
        """The next line, newline included; None at the end of input. Raises TimeoutError, _LineTooLong, OSError."""
        while True:
            end = self.buffer.find(b"\n", self.scanned)
            if end >= 0:
                line = bytes(self.buffer[:end + 1])
                del self.buffer[:end + 1]
                self.scanned = 0
                if self.skipping or len(line) > MAX_LINE:
                    self.skipping = False
                    raise _LineTooLong
                return line
            if len(self.buffer) > MAX_LINE:
                self.skipping, self.buffer = True, bytearray()
            self.scanned = len(self.buffer)
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise TimeoutError
            self.conn.settimeout(remaining)
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk


class _Tally:
    """Connections refused, evicted or timed out: the first logged at once, then one line a minute at most."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.window_end: float | None = None
        self._lock = threading.Lock()

    def note(self, what: str, detail: str) -> None:
        with self._lock:
            if self.window_end is None:
                log.warning("control socket: %s", detail)
                self.window_end = self.clock() + TALLY_EVERY
            else:
                self.counts[what] = self.counts.get(what, 0) + 1

    def flush(self, open_now: int, limits: Limits) -> None:
        with self._lock:
            if self.window_end is None or self.clock() < self.window_end:
                return
            counts, self.counts = self.counts, {}
            self.window_end = self.clock() + TALLY_EVERY if counts else None
        if counts:
            told = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
            log.warning("control socket: in the last %g s, %s (%d connections open; at most %d, %d per user, "
                        "a request line within %g s)", TALLY_EVERY, told, open_now, limits.connections,
                        limits.per_uid, limits.request_timeout)


class ControlServer:
    """The control socket: a thread accepting connections within ``limits`` (see ``control_limits``), and a
    thread per connection answering its requests with ``handlers`` (op → function).

    ``limits`` default to those of the soft RLIMIT_NOFILE at start; ``privileged`` are the uids without a
    per-user share (root and the daemon's own); ``free_descriptors`` and ``clock`` are seams for tests.
    """

    def __init__(self, place: SocketPlace, handlers: Mapping[str, Handler], *, limits: Limits | None = None,
                 privileged: frozenset[int] | None = None,
                 free_descriptors: Callable[[], int | None] = free_descriptors,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.place = place
        self.handlers = dict(handlers)
        self.limits = limits or limits_for(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        self.slots = Slots(self.limits, privileged=privileged if privileged is not None else
                           frozenset({0, os.geteuid()}), clock=clock)
        self.free_descriptors = free_descriptors
        self.clock = clock
        self._tally = _Tally(clock)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._connections: set[threading.Thread] = set()
        self._short = False  # accepting nothing for want of descriptors

    def start(self) -> ControlServer:
        path = self.place.path
        check_folder(path.parent)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise DaemonError(f"the control socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
                              "use a shorter state folder")
        _remove_stale(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            listener.bind(str(path))
            os.chmod(path, SOCKET_MODE)
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise DaemonError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        if self.place.link != path:
            check_folder(self.place.link.parent)
            _remove_stale(self.place.link)
            os.symlink(path, self.place.link)
        self._listener = listener
        self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._accept_loop, name="bifrostd-control", daemon=True)
        self._thread.start()
        log.info("control socket: at most %d connections, %d per user but root and the daemon's own, "
                 "a request line within %g s, %d file descriptors kept for the daemon's work",
                 self.limits.connections, self.limits.per_uid, self.limits.request_timeout, self.limits.fd_reserve)
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        assert self._listener is not None and self._wake is not None
        self._stopping.set()
        os.write(self._wake[1], b"!")
        thread.join()
        self._listener.close()
        for fd in self._wake:
            os.close(fd)
        self.slots.evict_waiting(lambda slot: _shut(slot.conn, busy_response("the daemon is stopping")))
        deadline = time.monotonic() + STOP_WAIT  # answers under way (a stop's own) are finished, briefly
        for connection in list(self._connections):
            connection.join(max(0.0, deadline - time.monotonic()))
        for path in {self.place.link, self.place.path}:
            _remove_stale(path)

    # -- accepting (one thread) --------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                ready = selector.select(timeout=1.0)
                self._tally.flush(len(self.slots), self.limits)
                if self._stopping.is_set() or not ready:
                    continue
                if self._short_of_descriptors():
                    self._stopping.wait(RESERVE_PAUSE)  # waiting clients stay in the listen queue
                    continue
                self._accept_one(self._listener)

    def _short_of_descriptors(self) -> bool:
        free = self.free_descriptors()
        short = free is not None and free < self.limits.fd_reserve
        if short and not self._short:
            log.warning("control socket: accepting no connection while only %d file descriptors are free "
                        "(%d are kept for the daemon's own work)", free, self.limits.fd_reserve)
        elif self._short and not short:
            log.info("control socket: accepting connections again (%s file descriptors free)", free)
        self._short = short
        return short

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):  # the client gave up before we got to it
            return
        except OSError as exc:  # out of descriptors or memory all the same: the daemon's own work comes first
            self._tally.note("failed accepts", f"cannot accept a connection: {exc.strerror or exc}")
            self._stopping.wait(RESERVE_PAUSE)
            return
        uid = peer_uid(conn)
        admission = self.slots.admit(uid, conn, evict=self._evict)
        if admission.slot is None:
            self._tally.note("refused", f"refused a connection from uid {uid}: {admission.refusal}")
            _close_with(conn, busy_response(admission.refusal), drain=True)
            return
        thread = threading.Thread(target=self._serve, args=(admission.slot,), name="bifrostd-control-connection",
                                  daemon=True)
        self._connections.add(thread)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had
            self._connections.discard(thread)
            self.slots.release(admission.slot)
            _close_with(conn, busy_response("the daemon cannot take a connection now; try again"))

    def _evict(self, slot: Slot) -> None:
        waited = self.clock() - (slot.waiting_since or self.clock())
        message = f"closed to make room for another client after {waited:.1f} s without a request"
        self._tally.note("closed while idle to make room", f"{message} (uid {slot.uid})")
        _shut(slot.conn, busy_response(message))

    # -- answering (a thread per connection) --------------------------------------------------
    def _serve(self, slot: Slot) -> None:
        conn = slot.conn
        lines = _Lines(conn, self.clock)
        try:
            while True:
                response = self._next_response(slot, lines)
                if response is None:
                    return
                conn.settimeout(self.limits.request_timeout)  # a peer that does not read its answer is dropped
                conn.sendall(json.dumps(response, default=str).encode() + b"\n")
                self.slots.end_request(slot)
        except OSError:
            return
        finally:
            self.slots.release(slot)
            conn.close()
            self._connections.discard(threading.current_thread())

    def _next_response(self, slot: Slot, lines: _Lines) -> dict[str, Any] | None:
        """The answer to the next request line, or None when the connection is to be closed."""
        timeout = self.limits.request_timeout
        while True:
            try:
                line = lines.next((slot.waiting_since or self.clock()) + timeout)
            except _LineTooLong:
                return error_response(f"request longer than {MAX_LINE} bytes", 2) \
                    if self.slots.start_request(slot) else None
            except TimeoutError:
                self._tally.note("closed without a request line in time",
                                 f"closed a connection from uid {slot.uid}: no request line within {timeout:g} s")
                _say(slot.conn, error_response(f"no request line within {timeout:g} s; closing the connection", 2))
                return None
            if line is None:
                return None
            if line.strip():  # a blank line is skipped, and its deadline runs on
                return answer(self.handlers, line) if self.slots.start_request(slot) else None


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end (SO_PEERCRED; None where the platform has none)."""
    try:
        credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None
    return struct.unpack("3i", credentials)[1]


def _say(conn: socket.socket, response: Mapping[str, Any]) -> None:
    """Send one line without waiting: a peer whose buffer is full does not get it."""
    try:
        conn.send(json.dumps(response).encode() + b"\n", socket.MSG_DONTWAIT)
    except OSError:
        pass


def _shut(conn: socket.socket, response: Mapping[str, Any]) -> None:
    """Say a last line and shut a connection down that its own thread is reading: that thread wakes up to an
    end of input and closes it (closing it here would neither wake it nor be safe while it reads)."""
    _say(conn, response)
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close_with(conn: socket.socket, response: Mapping[str, Any], *, drain: bool = False) -> None:
    """Say a last line and close. Unread input makes the close a reset, so what was sent is read first."""
    if drain:
        try:
            conn.recv(65536, socket.MSG_DONTWAIT)
        except OSError:
            pass
    _say(conn, response)
    conn.close()


def check_folder(folder: Path) -> None:
    """Create the socket's folder (0750) or refuse one that others may write to."""
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    mode = folder.stat().st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise DaemonError(f"{folder} is writable by everyone; the control socket must not live there "
                          f"(chmod o-w {folder})")


def _remove_stale(path: Path) -> None:
    """Remove a socket or link left by a daemon that died (we hold the state lock, so it is not live)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode):
        path.unlink()
    else:
        raise DaemonError(f"{path} exists and is not a socket; remove it")


# -- client -----------------------------------------------------------------------------
class ControlClient:
    """Requests to a running daemon; raises DaemonUnreachable when none answers in ``timeout`` seconds."""

    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """The raw response object (``ok`` true or false). A busy reply is retried until the timeout: the
        daemon refused the connection before reading anything, so nothing was done."""
        line = json.dumps({"op": op, "v": PROTOCOL_VERSION, **fields}).encode() + b"\n"
        deadline = time.monotonic() + self.timeout
        pause = 0.05
        while True:
            response = self._exchange(line, deadline)
            if response.get("busy") is not True or time.monotonic() + pause > deadline:
                return response
            time.sleep(pause)
            pause = min(2 * pause, 0.5)

    def _exchange(self, line: bytes, deadline: float) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
                remaining = max(0.01, deadline - time.monotonic())
                sock.settimeout(remaining)
                _connect(sock, str(self.path), remaining)
                try:
                    sock.sendall(line)
                except (BrokenPipeError, ConnectionResetError):  # refused and closed at once: its busy line waits
                    pass
                reply = _read_line(sock)
        except FileNotFoundError:
            raise DaemonUnreachable(socket=str(self.path), why="no socket (is bifrostd running?)") from None
        except ConnectionRefusedError:
            raise DaemonUnreachable(socket=str(self.path), why="connection refused (bifrostd is not running)") from None
        except TimeoutError:
            raise DaemonUnreachable(socket=str(self.path), why=f"no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise DaemonUnreachable(socket=str(self.path), why=exc.strerror or str(exc)) from None
        if not reply:
            raise DaemonUnreachable(socket=str(self.path), why="the connection was closed without an answer")
        try:
            response = json.loads(reply)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DaemonUnreachable(socket=str(self.path), why="the answer is not JSON") from None
        if not isinstance(response, dict) or "ok" not in response:
            raise DaemonUnreachable(socket=str(self.path), why="the answer is not a protocol response")
        return response

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """The response of a successful request; a refusal raises the error class of the daemon's exit code."""
        response = self.request(op, **fields)
        if not response["ok"]:
            raise error_class(int(response.get("exit_code", DaemonError.exit_code)))(
                response.get("error", "the daemon refused the request"))
        return response


def _connect(sock: socket.socket, path: str, timeout: float) -> None:
    """Connect, retrying while the listen backlog is full (Unix sockets answer EAGAIN, not a wait)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError from None
            time.sleep(0.01)


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_LINE:
            break
    return b"".join(chunks)
