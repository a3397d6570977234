"""Content hashing: the only module that reads file content (xxh3-128, hex).

Why these choices (measured in the perf baseline): xxh3 runs at memory speed
and releases the GIL, so big files hash at ``cat`` speed with one reused
1 MiB ``readinto`` buffer, and two threads nearly double that on cached data.
Small files are bound by syscalls and the GIL: threads make them *slower*, so
``hash_many`` hashes small files inline and sends only big ones to threads.

Safety invariants:
- a path is opened with ``O_NOFOLLOW | O_NONBLOCK``: a symlink swapped in is
  refused, and a FIFO swapped in can never block the open; anything that is
  not a regular file (checked with ``fstat`` on the open descriptor) is
  closed unread.
- a hash is only reported ``STABLE`` if the file's (size, mtime_ns, inode,
  device) before, at open, after reading (``fstat``) and at the path
  afterwards (``lstat``) all agree: torn content never gets a recorded hash.
  Like every mtime check this cannot see a write landing in the same clock
  tick as the previous one; the caller hashes files that have settled.
"""

from __future__ import annotations

import errno
import os
import stat as st_
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

import xxhash

from bifrostd.model import FileState, Finding, FindingKind

__all__ = ["BIG_FILE", "BUFFER_SIZE", "HashOutcome", "HashStatus", "hash_file", "hash_many", "hash_stable"]

BUFFER_SIZE = 1 << 20
BIG_FILE = 4 << 20
"""Files at least this big go to worker threads in ``hash_many``; smaller ones are hashed inline."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_local = threading.local()

PathLike = str | os.PathLike[str]
StatFn = Callable[..., os.stat_result]


class HashStatus(str, Enum):
    STABLE = "stable"
    CHANGED = "changed"
    VANISHED = "vanished"
    NOT_REGULAR = "not-regular"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class HashOutcome:
    """The result of hashing one file; ``digest`` is set only when ``status`` is STABLE."""

    path: str
    status: HashStatus
    digest: str | None = None
    message: str = ""

    @property
    def changed(self) -> bool:
        """True when the file moved under us (content changed, replaced, or vanished): try again later."""
        return self.status in (HashStatus.CHANGED, HashStatus.VANISHED)

    def finding(self, root: str, relative: str) -> Finding | None:
        """The finding to report for this outcome, if any."""
        kind = _FINDING_KINDS.get(self.status)
        return None if kind is None else Finding(kind, root, relative, self.message)


_FINDING_KINDS = {
    HashStatus.CHANGED: FindingKind.CHANGED_WHILE_READING,
    HashStatus.VANISHED: FindingKind.VANISHED,
    HashStatus.NOT_REGULAR: FindingKind.SPECIAL_FILE,
    HashStatus.FAILED: FindingKind.IO_ERROR,
}


class NotRegularFile(OSError):
    """Raised by ``hash_file`` for anything but a regular file (it is closed unread)."""


def hash_file(path: PathLike, *, buffer: bytearray | None = None) -> str:
    """The xxh3-128 hex digest of a regular file's content. Raises OSError (NotRegularFile for specials)."""
    fd, st = _open_regular(path)
    try:
        return _digest_fd(fd, st.st_size, buffer)
    finally:
        os.close(fd)


def _open_regular(path: PathLike) -> tuple[int, os.stat_result]:
    fd = os.open(path, _OPEN_FLAGS)
    st = os.fstat(fd)
    if not st_.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, "not a regular file; special files are never read", os.fspath(path))
    return fd, st


def _digest_fd(fd: int, size_hint: int, buffer: bytearray | None) -> str:
    """Read to EOF. Small files take one ``os.read`` of size+1 (a short read proves EOF)."""
    if size_hint < BUFFER_SIZE:
        data = os.read(fd, size_hint + 1)
        if len(data) <= size_hint:
            return xxhash.xxh3_128_hexdigest(data)
        hasher = xxhash.xxh3_128(data)
    else:
        hasher = xxhash.xxh3_128()
    _stream(fd, hasher, buffer if buffer is not None else _thread_buffer())
    return hasher.hexdigest()


def _stream(fd: int, hasher: xxhash.xxh3_128, buffer: bytearray) -> None:
    view = memoryview(buffer)
    while True:
        n = os.readv(fd, [buffer])
        if not n:
            return
        hasher.update(view[:n])


def _thread_buffer() -> bytearray:
    """One 1 MiB buffer per thread, reused for every big file it hashes."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER_SIZE)
    return buffer


def hash_stable(path: PathLike, before: os.stat_result | FileState, *, stat: StatFn = os.stat) -> HashOutcome:
    """Hash ``path`` if it is still the file ``before`` describes, and still is once read.

    Checked: the open descriptor's ``fstat`` against ``before`` (the inode we
    read is the one observed), then the path's ``lstat`` after reading (same
    inode, so same size and mtime means the content we read is unchanged, and
    nothing was renamed over it). Five syscalls for a small file, which is
    what keeps small-file hashing near the open+read+close floor.
    ``stat`` (called as ``stat(path, dir_fd=None, follow_symlinks=False)``) is a seam: a
    test can change the file between the read and the re-stat.
    """
    name = os.fspath(path)
    return _hash_at(name, name, _signature(before), None, stat)


def _hash_at(name: str, shown: str, expected: tuple[int, int, int, int], folder_fd: int | None,
             stat: StatFn) -> HashOutcome:
    """The flat core of ``hash_stable``; ``name`` is relative to ``folder_fd`` when one is given.

    Opening and stat-ing relative to an open folder skips resolving the whole
    path twice per file, which is most of a small file's cost.
    """
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=folder_fd)
    except OSError as error:
        return _failure(shown, error)
    try:
        at_open = os.fstat(fd)
        if not st_.S_ISREG(at_open.st_mode):
            return HashOutcome(shown, HashStatus.NOT_REGULAR, message="not a regular file any more; not read")
        if (at_open.st_size, at_open.st_mtime_ns, at_open.st_ino, at_open.st_dev) != expected:
            return HashOutcome(shown, HashStatus.CHANGED, message="changed since it was observed; hash later")
        digest = _digest_fd(fd, expected[0], None)
    except OSError as error:
        return _failure(shown, error)
    finally:
        os.close(fd)
    try:
        after = stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except OSError as error:
        return _failure(shown, error)
    if (after.st_size, after.st_mtime_ns, after.st_ino, after.st_dev) != expected:
        return HashOutcome(shown, HashStatus.CHANGED, message="changed or replaced while being read; hash later")
    return HashOutcome(shown, HashStatus.STABLE, digest)


def _signature(st: os.stat_result | FileState) -> tuple[int, int, int, int]:
    if type(st) is os.stat_result:
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    return (st.size, st.mtime_ns, st.inode, st.device)  # type: ignore[union-attr]


def _failure(name: str, error: OSError) -> HashOutcome:
    if isinstance(error, NotRegularFile) or error.errno == errno.ELOOP:  # ELOOP: O_NOFOLLOW met a symlink
        return HashOutcome(name, HashStatus.NOT_REGULAR, message="not a regular file any more; not read")
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return HashOutcome(name, HashStatus.VANISHED, message="vanished before it could be hashed")
    return HashOutcome(name, HashStatus.FAILED, message=error.strerror or str(error))


def hash_many(
    items: Iterable[tuple[PathLike, os.stat_result | FileState]],
    *,
    workers: int = 2,
    big_file: int = BIG_FILE,
) -> list[HashOutcome]:
    """``hash_stable`` for many files, outcomes in input order.

    Big files go to ``workers`` threads (xxh3 and reads release the GIL);
    small files are hashed inline on the calling thread meanwhile, because
    threads only add GIL hand-offs to syscall-bound small reads. (Opening
    relative to a per-folder descriptor was measured: the saved path lookups
    cost as much as the grouping.)
    """
    items = [(os.fspath(path), _signature(before)) for path, before in items]
    outcomes: list[HashOutcome | None] = [None] * len(items)
    big = {i for i, (_, expected) in enumerate(items) if expected[0] >= big_file} if workers > 1 else set()
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="bifrost-hash") as pool:
        futures = [(i, pool.submit(_hash_at, items[i][0], items[i][0], items[i][1], None, os.stat)) for i in big]
        stat = os.stat
        for i, (path, expected) in enumerate(items):
            if i not in big:
                outcomes[i] = _hash_at(path, path, expected, None, stat)
        for i, future in futures:
            outcomes[i] = future.result()
    return outcomes  # type: ignore[return-value]
