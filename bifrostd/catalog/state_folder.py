"""Modes in the state folder: the folder 0750, the files Bifrost makes in it 0640, whatever the umask.

The catalog holds every path of the studio and who owns each file: only the
daemon's user and its group (the pipeline users added to it) may read it.
Under systemd the unit gives that (``StateDirectoryMode=0750``,
``UMask=0007``); started by hand or from cron with the usual umask 022,
the same files came out 0644 in a 0755 folder, readable by every user. So
what is created here gets its mode set exactly, not left to the umask (a
mode the umask takes bits from would also differ from host to host).

SQLite creates a database's ``-wal`` and ``-shm`` files with the mode of the
database file itself, so the catalog is created here (empty, which SQLite
takes for a new database) before SQLite opens it. The control socket is
0660 (``control.SOCKET_MODE``): members of the group may talk to the daemon.
A folder or file that already exists keeps its mode: an admin may have
chosen it.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o750
FILE_MODE = 0o640


def make_folder(path: Path) -> None:
    """Create ``path`` (and its missing parents); the folder itself gets FOLDER_MODE exactly."""
    path = Path(path)
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:  # made meanwhile by another process; its mode is that one's business
        return
    os.chmod(path, FOLDER_MODE)


def open_private(path: Path, flags: int) -> int:
    """Open ``path`` with ``flags``, creating it with FILE_MODE exactly when it does not exist."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags | os.O_CLOEXEC)
    if not hasattr(os, "fchmod"):  # Windows before 3.13: modes are not POSIX ones there anyway
        return fd
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd
