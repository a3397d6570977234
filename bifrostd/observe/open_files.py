"""Which files some process holds open for writing: read from ``/proc/<pid>/fd`` and ``fdinfo``.

A tree migration must not rename a file an application is still writing
(a save, a render, a publish in progress): the writer would finish into the
old name's inode at the new path, and the catalog would hash a partial file.
On Linux every process's open descriptors are listed in ``/proc``; a
descriptor whose ``fdinfo`` flags have ``O_WRONLY`` or ``O_RDWR`` is a
writer. Processes of other users are only visible to root (or with
``CAP_SYS_PTRACE``): an unprivileged run sees its own user's writers, which
is what :func:`open_for_writing` can promise; the docs say so. Where there
is no ``/proc`` (macOS) the answer is empty. Other hosts writing over NFS or
SMB are invisible to any local check.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PROC", "open_for_writing"]

PROC = Path("/proc")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR


def open_for_writing(under: tuple[str, ...], *, proc: Path = PROC) -> frozenset[str]:
    """The absolute paths below any of the folders ``under`` that a process holds open for writing."""
    prefixes = tuple(p.rstrip("/") + "/" for p in under)
    found: set[str] = set()
    try:
        pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:  # no /proc: nothing can be said
        return frozenset()
    for pid in pids:
        found.update(path for path in _writers(proc / pid) if path.startswith(prefixes))
    return frozenset(found)


def _writers(process: Path) -> list[str]:
    """The paths a process holds open for writing (none if it exited or is not ours to read)."""
    try:
        descriptors = os.listdir(process / "fd")
    except OSError:
        return []
    paths = []
    for fd in descriptors:
        try:
            target = os.readlink(process / "fd" / fd)
            if target.startswith("/") and _writes(process / "fdinfo" / fd):
                paths.append(target)
        except OSError:  # closed since the listing
            continue
    return paths


def _writes(fdinfo: Path) -> bool:
    for line in fdinfo.read_text().splitlines():
        if line.startswith("flags:"):
            return bool(int(line.split()[1], 8) & _WRITE_FLAGS)
    return False
