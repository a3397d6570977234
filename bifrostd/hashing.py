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

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOATIME", 0)
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
    fd = _open_regular(path)
    try:
        return _digest_fd(fd, os.fstat(fd).st_size, buffer)
    finally:
        os.close(fd)


def _open_regular(path: PathLike) -> int:
    fd = os.open(path, _OPEN_FLAGS)
    if not st_.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, "not a regular file; special files are never read", os.fspath(path))
    return fd


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

    ``stat`` (called as ``stat(path, follow_symlinks=False)`` after reading)
    is a seam: a test can change the file between the read and the re-stat.
    """
    name = os.fspath(path)
    expected = _signature(before)
    try:
        fd = _open_regular(name)
    except OSError as error:
        return _failure(name, error)
    try:
        if _signature(os.fstat(fd)) != expected:
            return HashOutcome(name, HashStatus.CHANGED, message="changed since it was observed; hash later")
        digest = _digest_fd(fd, expected[0], None)
        after_read = _signature(os.fstat(fd))
    except OSError as error:
        return _failure(name, error)
    finally:
        os.close(fd)
    return _verdict(name, digest, expected, after_read, stat)


def _verdict(name: str, digest: str, expected: tuple, after_read: tuple, stat: StatFn) -> HashOutcome:
    try:
        at_path = _signature(stat(name, follow_symlinks=False))
    except OSError as error:
        return _failure(name, error)
    if after_read != expected or at_path != expected:
        return HashOutcome(name, HashStatus.CHANGED, message="changed or replaced while being read; hash later")
    return HashOutcome(name, HashStatus.STABLE, digest)


def _signature(st: os.stat_result | FileState) -> tuple[int, int, int, int]:
    if isinstance(st, FileState):
        return (st.size, st.mtime_ns, st.inode, st.device)
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


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
    threads only add GIL hand-offs to syscall-bound small reads.
    """
    items = list(items)
    outcomes: list[HashOutcome | None] = [None] * len(items)
    big = [i for i, (_, before) in enumerate(items) if _signature(before)[0] >= big_file]
    if workers <= 1 or not big:
        return [hash_stable(path, before) for path, before in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bifrost-hash") as pool:
        futures = {i: pool.submit(hash_stable, *items[i]) for i in big}
        for i, (path, before) in enumerate(items):
            if i not in futures:
                outcomes[i] = hash_stable(path, before)
        for i, future in futures.items():
            outcomes[i] = future.result()
    return outcomes  # type: ignore[return-value]
