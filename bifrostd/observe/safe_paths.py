"""Creating files and folders under a root without following symlinks.

Anyone who can write in a root can replace a folder there with a symlink
(``projects/demo/x -> /etc``); a process that then writes ``root/demo/x/...``
by path, as root, writes wherever the link points. So everything below a
root's folder is resolved here one name at a time, each opened relative to
its parent's descriptor with ``O_NOFOLLOW | O_DIRECTORY``: a symlink or a
non-folder anywhere below the base is refused with ``UnsafePath`` (naming it)
and nothing is created through it. A folder swapped for a link after it was
opened changes nothing either: the descriptor still names the folder opened.
The base itself is opened as given, symlinks and all: it is configuration
(an admin's ``/mnt/projects -> /net/...``), not something a root's writers
control.

A file is written atomically in the folder so opened (``AtomicFile``, on
:mod:`bifrostd.atomic_write`): never a partial file at the final name, and
a symlink at the final name is replaced, not written through.

Everything that creates files or folders in a root goes through here
(restores, the demo studio). POSIX only: it needs ``dir_fd``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bifrostd.atomic_write import TEMP_PREFIX
from bifrostd.atomic_write import AtomicFile as _AtomicFile

__all__ = ["AtomicFile", "RootedPath", "UnsafePath", "lstat", "open_child", "open_folder", "write_file"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_BASE_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # the base may be a symlink: configuration


class UnsafePath(OSError):
    """A name on the way to a path under a root is a symlink or not a folder; nothing was written through it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.ELOOP if reason == "is a symlink" else errno.ENOTDIR, reason, path)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path} {self.reason}; nothing is written through it"


@dataclass(frozen=True, slots=True)
class RootedPath:
    """A path as a trusted base folder and the names below it (``relative``, POSIX) that are checked one by one."""

    base: Path
    relative: str

    def __post_init__(self) -> None:
        parts = self.relative.split("/")
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            raise ValueError(f"{self.relative!r} is not a relative path of plain names")

    @classmethod
    def of(cls, path: RootedPath | os.PathLike[str] | str) -> RootedPath:
        """``path`` as is, or a plain path as its parent (trusted) and its name."""
        if isinstance(path, RootedPath):
            return path
        path = Path(path)
        return cls(path.parent, path.name)

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(self.relative.split("/")[:-1])

    @property
    def name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]

    @property
    def path(self) -> Path:
        return self.base / self.relative

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return os.fspath(self.path)


def open_folder(base: Path, names: tuple[str, ...] | list[str], *, create: bool) -> int | None:
    """A descriptor of ``base/names...``, never following a symlink below ``base``; the caller closes it.

    With ``create``, missing folders (the base too) are made, with mode 0777
    less the umask; without, None when one is missing (nothing is created).
    Raises ``UnsafePath`` for a symlink or a non-folder below ``base``.
    """
    fd = _open_base(base, create)
    shown = base
    try:
        for name in names:
            if fd is None:
                return None
            shown = shown / name
            child = _open_child(fd, name, shown, create)
            os.close(fd)
            fd = child
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return fd


def _open_base(base: Path, create: bool) -> int | None:
    if create:
        os.makedirs(base, exist_ok=True)
    try:
        return os.open(base, _BASE_FLAGS)
    except FileNotFoundError:
        return None


def _open_child(parent: int, name: str, shown: Path, create: bool) -> int | None:
    try:
        return open_child(parent, name, shown)
    except FileNotFoundError:
        if not create:
            return None
    try:
        os.mkdir(name, 0o777, dir_fd=parent)
    except FileExistsError:
        pass  # made meanwhile (another worker of the same restore): opened with the same checks
    return open_child(parent, name, shown)


def open_child(parent: int, name: str, shown: Path) -> int:
    """A descriptor of the folder ``name`` in the folder ``parent``, refusing a symlink or a non-folder
    (``UnsafePath`` naming ``shown``); the caller closes it."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):  # O_NOFOLLOW met a link; not a folder
            raise _refusal(parent, name, shown) from None
        raise


def _refusal(parent: int, name: str, shown: Path) -> UnsafePath:
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    return UnsafePath(str(shown), "is a symlink" if stat.S_ISLNK(mode) else "is not a folder")


def lstat(path: RootedPath) -> os.stat_result | None:
    """What is at ``path`` (a symlink is not followed), or None when nothing is; creates nothing.

    Raises ``UnsafePath`` when a folder on the way is a symlink or not a folder.
    """
    folder = open_folder(path.base, path.folders, create=False)
    if folder is None:
        return None
    try:
        return os.stat(path.name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(folder)


class AtomicFile(_AtomicFile):
    """A new file at ``path``: written under a temp name in its folder, in place only on ``commit``.

    The folder is opened (and missing folders made) once, at construction,
    without following a symlink below the base; the rest is
    :class:`bifrostd.atomic_write.AtomicFile`.
    """

    def __init__(self, path: RootedPath, *, mode: int = 0o666, prefix: str = TEMP_PREFIX) -> None:
        self.path = path
        folder = open_folder(path.base, path.folders, create=True)
        assert folder is not None  # create=True
        super().__init__(folder, path.name, mode=mode, prefix=prefix)


def write_file(path: RootedPath, data: bytes, *, mtime_ns: int | None = None, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` atomically, creating missing folders, following no symlink below the base."""
    with AtomicFile(path, mode=mode) as out:
        out.write(data)
        out.commit(mtime_ns=mtime_ns)
