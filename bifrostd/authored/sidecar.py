"""Reading and writing an entity's sidecar file: atomic, and read-modify-write under a lock.

The sidecar is :data:`SIDECAR_NAME` in the entity's folder. Writes go
through :func:`update_sidecar`, which takes an exclusive ``flock`` on
:data:`LOCK_NAME` in the same folder, reads the current document, applies
the caller's change and writes the result atomically (temp file, fsync,
rename, folder fsync). The lock is on a separate file because the rename
replaces the sidecar's inode: a lock on the sidecar itself would be held on
a file that is no longer the sidecar. So two writers, in threads or in
separate processes, never lose each other's change.

The lock is advisory: a hand edit is not excluded, but it is atomic only if
the editor renames (most do). A broken sidecar is never overwritten; the
write raises :class:`SidecarBroken` with file, line and reason.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..atomic_write import write_atomic
from ..errors import SidecarBroken
from ..templates.source import SourceProblem, Where
from .model import Authored, SidecarRead, parse_sidecar, render_sidecar

__all__ = ["LOCK_NAME", "SIDECAR_NAME", "read_sidecar", "sidecar_lock", "update_sidecar"]

SIDECAR_NAME = ".bifrost-entity.yaml"
LOCK_NAME = ".bifrost-entity.lock"
_MAX_BYTES = 1 << 20


def read_sidecar(folder: str | os.PathLike[str]) -> SidecarRead:
    """The sidecar of the entity at ``folder``: empty data when there is none, problems when it is broken."""
    path = Path(folder) / SIDECAR_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return SidecarRead(Authored())
    except OSError as exc:
        return _unreadable(path, f"cannot read: {exc.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unreadable(path, f"not UTF-8 text ({exc.reason})")
    return parse_sidecar(text, str(path))


def _unreadable(path: Path, reason: str) -> SidecarRead:
    return SidecarRead(None, (SourceProblem(Where(str(path), 1, 1), "", reason, code="unreadable"),))


@contextmanager
def sidecar_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive lock of the entity's sidecar (blocking until it is free)."""
    fd = os.open(Path(folder) / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def update_sidecar(folder: str | os.PathLike[str], change: Callable[[Authored], Authored], *,
                   ensure: bool = False) -> Authored:
    """Apply ``change`` to the entity's authored data under the lock and write it; return what was written.

    ``change`` sees the data as it is on disk at that moment (another
    writer's change included). An unchanged result writes nothing, unless
    ``ensure`` and there is no sidecar yet (``create`` marks every entity it makes).
    """
    with sidecar_lock(folder):
        current = read_sidecar(folder)
        if current.data is None:
            raise SidecarBroken(str(Path(folder) / SIDECAR_NAME), list(current.problems))
        updated = change(current.data)
        if updated != current.data or (ensure and not (Path(folder) / SIDECAR_NAME).exists()):
            write_atomic(Path(folder) / SIDECAR_NAME, render_sidecar(updated).encode("utf-8"))
        return updated
