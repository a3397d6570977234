"""The control socket: ``bifrostctl`` ↔ ``bifrostd`` over a Unix stream socket, JSON lines.

Protocol (documented for scripts in docs/control-protocol.md)::

    → {"op": "status", "v": 1}\\n
    ← {"ok": true, "v": 1, "op": "status", "status": {...}}\\n
    ← {"ok": false, "v": 1, "error": "unknown op 'x'", "exit_code": 2}\\n

One request per line, one response line per request; a connection may carry
several. ``v`` is the protocol version a client speaks (default 1); a daemon
refuses versions newer than its own. Lines are limited to ``MAX_LINE`` bytes.

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
import socket
import socketserver
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import BifrostError, DaemonError, DaemonUnreachable

PROTOCOL_VERSION = 1
SOCKET_NAME = "bifrostd.sock"
SOCKET_MODE = 0o660
MAX_LINE = 1 << 20
#: The longest path ``bind`` accepts (``sun_path`` is 108 bytes, NUL included).
MAX_SOCKET_PATH = 107

log = logging.getLogger("bifrostd.control")

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
    """A request object; raises DaemonError (exit code 2) for anything malformed."""
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


def usage_error(message: str) -> DaemonError:
    """A malformed request (exit code 2): for handlers, as for the protocol itself."""
    error = DaemonError(message)
    error.exit_code = 2
    return error


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
class _Connection(socketserver.StreamRequestHandler):
    timeout = 60.0

    def handle(self) -> None:
        while True:
            try:
                line = self.rfile.readline(MAX_LINE + 1)
            except (OSError, TimeoutError):
                return
            if not line:
                return
            if len(line) > MAX_LINE:
                response = error_response(f"request longer than {MAX_LINE} bytes", 2)
                if not line.endswith(b"\n") and not self._skip_rest_of_line():
                    return
            elif not line.strip():
                continue
            else:
                response = answer(self.server.handlers, line)  # type: ignore[attr-defined]
            try:
                self.wfile.write(json.dumps(response, default=str).encode() + b"\n")
                self.wfile.flush()
            except OSError:
                return


    def _skip_rest_of_line(self) -> bool:
        """Read past the end of an over-long line, so it gets one answer; False when the peer went away."""
        while True:
            try:
                chunk = self.rfile.readline(MAX_LINE)
            except (OSError, TimeoutError):
                return False
            if not chunk:
                return False
            if chunk.endswith(b"\n"):
                return True


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, path: str, handlers: Mapping[str, Handler]) -> None:
        self.handlers = handlers
        super().__init__(path, _Connection, bind_and_activate=False)


class ControlServer:
    """A stoppable thread answering requests on the control socket with ``handlers`` (op → function)."""

    def __init__(self, place: SocketPlace, handlers: Mapping[str, Handler]) -> None:
        self.place = place
        self.handlers = dict(handlers)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ControlServer:
        path = self.place.path
        check_folder(path.parent)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise DaemonError(f"the control socket path {path} is longer than {MAX_SOCKET_PATH} bytes; "
                              "use a shorter state folder")
        _remove_stale(path)
        server = _Server(str(path), self.handlers)
        try:
            server.server_bind()
            os.chmod(path, SOCKET_MODE)
            server.server_activate()
        except OSError as exc:
            server.server_close()
            raise DaemonError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
        if self.place.link != path:
            check_folder(self.place.link.parent)
            _remove_stale(self.place.link)
            os.symlink(path, self.place.link)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="bifrostd-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        for path in {self.place.link, self.place.path}:
            _remove_stale(path)


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
        """The raw response object (``ok`` true or false)."""
        line = json.dumps({"op": op, "v": PROTOCOL_VERSION, **fields}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(self.timeout)
                _connect(sock, str(self.path), self.timeout)
                sock.sendall(line)
                reply = _read_line(sock)
        except FileNotFoundError:
            raise DaemonUnreachable(str(self.path), "no socket (is bifrostd running?)") from None
        except ConnectionRefusedError:
            raise DaemonUnreachable(str(self.path), "connection refused (bifrostd is not running)") from None
        except TimeoutError:
            raise DaemonUnreachable(str(self.path), f"no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise DaemonUnreachable(str(self.path), exc.strerror or str(exc)) from None
        try:
            response = json.loads(reply)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DaemonUnreachable(str(self.path), "the answer is not JSON") from None
        if not isinstance(response, dict) or "ok" not in response:
            raise DaemonUnreachable(str(self.path), "the answer is not a protocol response")
        return response

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """The response of a successful request; a refusal raises DaemonError with the daemon's exit code."""
        response = self.request(op, **fields)
        if not response["ok"]:
            error = DaemonError(response.get("error", "the daemon refused the request"))
            error.exit_code = int(response.get("exit_code", DaemonError.exit_code))
            raise error
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
