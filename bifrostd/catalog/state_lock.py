"""One daemon per state folder: an exclusive ``flock`` on ``bifrostd.pid`` that records the holder's pid.

The lock, not the file's existence, is what counts: a daemon killed with
``kill -9`` leaves the file behind, but the kernel releases the lock with
the process, so the next start takes it and overwrites the pid. A second
daemon that finds the lock held reads the pid the holder wrote and refuses
to start with :class:`~bifrostd.errors.DaemonRunning`.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import DaemonError, DaemonRunning
from .state_folder import make_folder, open_private

LOCK_NAME = "bifrostd.pid"


class StateLock:
    """Held for the daemon's lifetime; :meth:`release` (or process exit) frees it."""

    def __init__(self, state_dir: Path, *, pid: int | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_NAME
        self.pid = os.getpid() if pid is None else pid
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        try:
            make_folder(self.state_dir)
            fd = open_private(self.path, os.O_RDWR)
        except OSError as exc:
            raise state_folder_error(self.state_dir, self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DaemonRunning(pid=holder or "unknown", state_dir=str(self.state_dir)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self.pid}\n".encode(), 0)
        except OSError as exc:  # a full disk: creating the empty file worked, writing the pid does not
            os.close(fd)
            raise state_folder_error(self.state_dir, self.path, exc) from exc
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the pid record and drop the lock (the file stays: unlinking would race a new holder)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def state_folder_error(state_dir: Path, path: Path, error: OSError) -> DaemonError:
    """What to tell the admin when the state folder can't be written (full disk, read-only, permissions)."""
    why = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DaemonError(f"the disk holding the state folder {state_dir} is full ({why}, writing {path}); "
                           "free space there (df -h, du) and start bifrostd again")
    return DaemonError(f"cannot write {path} in the state folder {state_dir}: {why}")


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def holder_pid(state_dir: Path) -> int | None:
    """The pid of the daemon holding ``state_dir``, or None when no daemon holds it."""
    path = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
