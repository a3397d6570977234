"""Plain values shared by the core and the edges: observed files and findings.

Relative paths are root-relative POSIX strings. Names that are not valid
UTF-8 are decoded with ``os.fsdecode`` (surrogate escapes), so they round-trip
to the same bytes with ``os.fsencode``; the catalog stores them losslessly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class FileState:
    """What a walk or a watcher saw of one regular file."""

    root: str
    relative: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    uid: int = -1
    hash: str | None = None

    @property
    def signature(self) -> tuple[int, int, int]:
        """(size, mtime_ns, inode): a file whose signature is unchanged keeps its hash."""
        return (self.size, self.mtime_ns, self.inode)


class FindingKind(str, Enum):
    """Per-path problems met while walking, hashing or mirroring; never fatal to the job."""

    PERMISSION_DENIED = "permission-denied"
    VANISHED = "vanished"
    NOT_UTF8 = "not-utf8"
    SYMLINK_OUTSIDE_ROOT = "symlink-outside-root"
    SYMLINK_LOOP = "symlink-loop"
    SPECIAL_FILE = "special-file"
    CHANGED_WHILE_READING = "changed-while-reading"
    NAME_TOO_LONG = "name-too-long"
    UNICODE_NORMALIZATION = "unicode-normalization"
    IO_ERROR = "io-error"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    root: str
    relative: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "root": self.root, "path": self.relative, "message": self.message}
