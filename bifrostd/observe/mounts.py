"""The mount table: which filesystem holds a path, and whether it is a network one.

Read from ``/proc/self/mountinfo``; callers take the table as a parameter
(``MountTable``), so tests hand in a fake one instead of needing a real NFS
mount. Where no mount table exists (macOS, Windows) it is empty. The watcher
polls network roots (inotify sees no other client's writes there) and the
catalog refuses to open on one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")

#: Filesystem types where other hosts write too: inotify misses their changes and SQLite's locking can't be trusted.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "ceph", "fuse.ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "afs", "ncpfs", "davfs", "fuse.davfs2", "fuse.s3fs",
    "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs", "beegfs", "ocfs2", "gfs2",
})


@dataclass(frozen=True, slots=True)
class Mount:
    point: str
    fstype: str


MountTable = Callable[[], Iterable[Mount]]


def parse_mountinfo(text: str) -> list[Mount]:
    """Mount points and filesystem types from ``/proc/self/mountinfo`` text."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 5:
            continue
        after = fields[fields.index("-") + 1:]
        if after:
            mounts.append(Mount(_unescape(fields[4]), after[0]))
    return mounts


def _unescape(text: str) -> str:
    """Mount points escape space, tab, newline and backslash as octal (``\\040``)."""
    if "\\" not in text:
        return text
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def system_mounts() -> list[Mount]:
    try:
        return parse_mountinfo(MOUNTINFO.read_text(errors="surrogateescape"))
    except OSError:
        return []


def filesystem_of(path: Path, mounts: Iterable[Mount]) -> Mount | None:
    """The mount holding ``path``: the longest mount point that is a prefix of it."""
    target = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = target == point or target.startswith(point + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def is_network(fstype: str) -> bool:
    return fstype in NETWORK_FILESYSTEMS or fstype.split(".")[-1] in NETWORK_FILESYSTEMS
