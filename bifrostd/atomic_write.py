"""Writing a file atomically: never a partial file at its final name.

Content goes to a temp name created ``O_EXCL | O_NOFOLLOW`` in the final
file's own folder (a rename is atomic only within one filesystem), the temp
file is fsynced, renamed over the final name, and the folder is fsynced so
the rename itself survives a power cut. Any failure before the rename is in
place (a full disk, a read-only folder, a kill of the writer's caller)
removes the temp file and leaves whatever was at the final name untouched.
A symlink at the final name is replaced, never written through.

The folder is held by descriptor, opened once: a folder swapped for a
symlink while the file is written changes nothing. Callers that must not
follow symlinks on the way to the folder open it themselves (see
``bifrostd.observe.safe_paths``) and hand the descriptor over.

Temp names start with :data:`TEMP_PREFIX`, so leftovers of a writer killed
mid-write can be recognised (``bifrostd.mirror.leftovers``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Self

__all__ = ["TEMP_PREFIX", "AtomicFile", "open_folder_fd", "write_atomic"]

TEMP_PREFIX = ".bifrost-tmp-"


def open_folder_fd(folder: str | os.PathLike[str], *, create: bool = False) -> int:
    """A descriptor of ``folder`` (symlinks followed: the caller named it), made first if ``create``."""
    if create:
        os.makedirs(folder, exist_ok=True)
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


class AtomicFile:
    """A new file ``name`` in the folder ``folder`` (a descriptor this object now owns), in place only on ``commit``.

    ``mode`` is the new file's permission bits, less the umask (0o600 for a
    file only its owner may read). Leaving the ``with`` block without
    ``commit`` (an error) removes the temp file; so does a failed ``commit``.
    """

    def __init__(self, folder: int, name: str, *, mode: int = 0o666, prefix: str = TEMP_PREFIX) -> None:
        self.folder, self.name = folder, name
        self.temp = f"{prefix}{uuid.uuid4().hex}"
        try:
            self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                              dir_fd=self.folder)
        except BaseException:
            os.close(self.folder)
            raise
        self.done = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.abandon()

    def write(self, data: Any) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def existing(self) -> os.stat_result | None:
        """What is at the final name now (a symlink is not followed), or None."""
        try:
            return os.stat(self.name, dir_fd=self.folder, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def commit(self, *, mtime_ns: int | None = None) -> None:
        """fsync the content, give it ``mtime_ns``, rename it to the final name, fsync the folder."""
        try:
            if mtime_ns is not None:
                os.utime(self.fd, ns=(mtime_ns, mtime_ns))
            os.fsync(self.fd)
            os.rename(self.temp, self.name, src_dir_fd=self.folder, dst_dir_fd=self.folder)
        except BaseException:
            self.abandon()
            raise
        self.done = True
        os.close(self.fd)
        try:
            os.fsync(self.folder)
        finally:
            os.close(self.folder)

    def abandon(self) -> None:
        """Remove the temp file; the final name is left as it was."""
        if self.done:
            return
        self.done = True
        os.close(self.fd)
        try:
            os.unlink(self.temp, dir_fd=self.folder)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.folder)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666, mtime_ns: int | None = None,
                 create_folders: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring); ``mode`` is less the umask."""
    path = Path(path)
    with AtomicFile(open_folder_fd(path.parent, create=create_folders), path.name, mode=mode) as out:
        out.write(data)
        out.commit(mtime_ns=mtime_ns)
