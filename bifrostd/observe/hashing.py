"""Content hashing: the only module that reads file content (xxh3-128, hex).

Why these choices (measured in docs/performance.md): xxh3 runs at memory
speed and releases the GIL, so big files hash with one reused 1 MiB
``readv`` buffer, on threads. Small files are bound by system calls, and the
per-file Python around them: ``hash_many`` hashes them on the calling thread
in one flat loop with the cyclic collector paused, which keeps pace with a
plain one-thread loop making the same checks. Splitting them with a worker
process lost on 0-4 KiB files (sending paths and answers, and a second
process competing for two shared cores), so a pool of worker processes
(started once, with the forkserver method where there is one: forking a
daemon full of threads and open catalogs is unsafe) is used only for batches
of at least ``POOL_MIN_FILES`` files and ``POOL_MIN_BYTES`` bytes. Workers get
paths and expected signatures and send back plain tuples; every safety check
below runs in the worker unchanged.

Safety invariants:
- a path is opened with ``O_NOFOLLOW | O_NONBLOCK``: a symlink swapped in is
  refused, and a FIFO swapped in can never block the open; anything that is
  not a regular file (checked with ``fstat`` on the open descriptor) is
  closed unread.
- a hash is only reported ``STABLE`` if the file's (size, mtime_ns, inode,
  device) as observed, at open (``fstat`` of the descriptor) and at the path
  after reading and closing (``lstat``) all agree: torn content never gets a
  recorded hash.
  Like every mtime check this cannot see a write landing in the same clock
  tick as the previous one; the caller hashes files that have settled.
"""

from __future__ import annotations

import atexit
import errno
import multiprocessing
import os
import select
import stat as st_
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from enum import Enum
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple, cast

import xxhash

from bifrostd.collector import gc_paused
from bifrostd.model import FileState, Finding, FindingKind
from bifrostd.progress import INTERVAL, Meter

__all__ = [
    "BIG_FILE", "BUFFER_SIZE", "POOL_MIN_BYTES", "POOL_MIN_FILES", "HashOutcome", "HashStatus", "copy_hashed", "hash_file", "hash_many", "hash_stable",
    "shutdown_pool", "uses_pool",
]

BUFFER_SIZE = 1 << 20
BIG_FILE = 4 << 20
"""Files at least this big go to worker threads in ``hash_many``; smaller ones are hashed inline."""
POOL_MIN_FILES = 2000
"""``hash_many`` hands small files to worker processes only when it has at least this many."""
POOL_MIN_BYTES = 1 << 30
"""... and only when they hold at least this many bytes between them.

50,000 files of 0-4 KiB (100 MB) hashed 0.65x as fast as a plain one-thread
loop when split with a worker process, even on a quiet machine, against
0.85x inline (before the inline loop was made flat): per-file system calls,
not bytes, bound them, and the second process only competes for the cores.
Where the files are bigger, reading and hashing bytes is the work, which a
second process can share; 1 GiB keeps the pool to such batches.
"""

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


class HashOutcome(NamedTuple):
    """The result of hashing one file; ``digest`` is set only when ``status`` is STABLE.

    A named tuple rather than a frozen dataclass: one is made per file, and
    making this one costs a third of the dataclass's (a 0-4 KiB file's whole
    hash is about 15 us).
    """

    path: str
    status: HashStatus
    digest: str | None = None
    message: str = ""

    @property
    def changed(self) -> bool:
        """True when the file moved under us (content changed, replaced, or vanished): try again later."""
        return self.status in (HashStatus.CHANGED, HashStatus.VANISHED)

    @property
    def gone(self) -> bool:
        """True when no regular file is at the path any more (vanished, or replaced by a folder or a link)."""
        return self.status in (HashStatus.VANISHED, HashStatus.NOT_REGULAR)

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


def hash_file(path: PathLike, *, buffer: bytearray | None = None, dir_fd: int | None = None) -> str:
    """The xxh3-128 hex digest of a regular file's content. Raises OSError (NotRegularFile for specials).

    ``dir_fd``: ``path`` is a name in that open folder (``bifrostd.observe.safe_paths``).
    """
    fd, st = _open_regular(path, dir_fd)
    try:
        return _digest_fd(fd, st.st_size, buffer)
    finally:
        os.close(fd)


def copy_hashed(path: PathLike, write: Callable[[memoryview], Any]) -> tuple[str, os.stat_result]:
    """Read a regular file once, handing each buffer to ``write``; its xxh3-128 and its ``fstat`` at open.

    How a publish copies a file and learns the source's hash in the same read.
    """
    fd, st = _open_regular(path)
    try:
        buffer = _thread_buffer()
        view = memoryview(buffer)
        hasher = xxhash.xxh3_128()
        while n := os.readv(fd, [buffer]):
            hasher.update(view[:n])
            write(view[:n])
        return hasher.hexdigest(), st
    finally:
        os.close(fd)


def _open_regular(path: PathLike, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    st = os.fstat(fd)
    if not st_.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(errno.EINVAL, "not a regular file; special files are never read", os.fspath(path))
    return fd, st


def _digest_fd(fd: int, size_hint: int, buffer: bytearray | None, meter: Meter | None = None) -> str:
    """Read to EOF. Small files take one ``os.read`` of size+1 (a short read proves EOF).

    ``meter`` is told each buffer's bytes of a file that is streamed (1 MiB and
    up), so progress moves while a big file is read; a small file adds no call.
    """
    head = os.read(fd, size_hint + 1) if size_hint < BUFFER_SIZE else None
    if head is not None and len(head) <= size_hint:
        return xxhash.xxh3_128_hexdigest(head)
    return _digest_from(fd, head, buffer, meter)


def _digest_from(fd: int, head: bytes | None, buffer: bytearray | None, meter: Meter | None) -> str:
    """The digest of ``head`` (what was read already, if anything) and the rest of the file, streamed."""
    hasher = xxhash.xxh3_128(head) if head is not None else xxhash.xxh3_128()
    _stream(fd, hasher, buffer if buffer is not None else _thread_buffer(), meter)
    return hasher.hexdigest()


def _stream(fd: int, hasher: xxhash.xxh3_128, buffer: bytearray, meter: Meter | None) -> None:
    view = memoryview(buffer)
    while True:
        n = os.readv(fd, [buffer])
        if not n:
            return
        hasher.update(view[:n])
        if meter is not None:
            meter.add(n)


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
    ``stat`` (called as ``stat(path, follow_symlinks=False)``) is a seam: a
    test can change the file between the read and the re-stat.
    """
    return _hash_at(os.fspath(path), _signature(before), stat)


def _hash_at(path: str, expected: tuple[int, int, int, int], stat: StatFn, meter: Meter | None = None) -> HashOutcome:
    """The core of ``hash_stable``, for one file: open, check, read, close, check again."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        return _failure(path, error)
    try:
        at_open = os.fstat(fd)
        if not st_.S_ISREG(at_open.st_mode) or (at_open.st_size, at_open.st_mtime_ns, at_open.st_ino,
                                                 at_open.st_dev) != expected:
            return _refused(path, at_open)
        digest = _digest_fd(fd, expected[0], None, meter)
    except OSError as error:
        return _failure(path, error)
    finally:
        os.close(fd)
    return _checked_after(path, expected, digest, partial(stat, follow_symlinks=False))


def _signature(st: os.stat_result | FileState) -> tuple[int, int, int, int]:
    return (_STAT_SIGNATURE if type(st) is os.stat_result else _STATE_SIGNATURE)(st)


# C-level getters: ``hash_many`` takes one signature a file, and a Python function call was 5 % of a small file.
_STAT_SIGNATURE = attrgetter("st_size", "st_mtime_ns", "st_ino", "st_dev")
_STATE_SIGNATURE = attrgetter("size", "mtime_ns", "inode", "device")


def _failure(name: str, error: OSError) -> HashOutcome:
    if isinstance(error, NotRegularFile) or error.errno == errno.ELOOP:  # ELOOP: O_NOFOLLOW met a symlink
        return HashOutcome(name, HashStatus.NOT_REGULAR, message="not a regular file any more; not read")
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return HashOutcome(name, HashStatus.VANISHED, message="vanished before it could be hashed")
    return HashOutcome(name, HashStatus.FAILED, message=error.strerror or str(error))


@gc_paused()
def hash_many(
    files: Iterable[tuple[PathLike, os.stat_result | FileState]],
    *,
    workers: int = 2,
    big_file: int = BIG_FILE,
    pool_min_files: int = POOL_MIN_FILES,
    pool_min_bytes: int = POOL_MIN_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> list[HashOutcome]:
    """``hash_stable`` for many files, outcomes in input order.

    Big files go to ``workers`` threads (xxh3 and reads release the GIL).
    Small files are bound by syscalls and the GIL, and are hashed inline by
    one flat loop unless there are at least ``pool_min_files`` of them *and*
    ``pool_min_bytes`` between them: only then (``workers`` > 1) do all but
    one share go to ``workers - 1`` worker processes while the calling thread
    hashes its own share. Sending paths and answers between processes, and
    the second process competing with the first for two shared cores, cost
    more than it saved on 0-4 KiB files (see ``POOL_MIN_BYTES``).

    ``progress(files, bytes)`` is told how much of this call is hashed, on the
    calling thread, at most ten times a second: per buffer while big files
    are read, per share for small ones. Without it no file costs anything more.

    Runs with the cyclic collector paused: two tuples a file (its signature
    and its outcome) set off collections that cost a tenth of a small file.
    """
    stat_result, fspath = os.stat_result, os.fspath
    items = [(fspath(path), (_STAT_SIGNATURE if type(before) is stat_result else _STATE_SIGNATURE)(before))
             for path, before in files]
    meter = Meter(progress) if progress is not None else None
    sizes = [expected[0] for _, expected in items]  # one pass, then C-level max: most calls have no big file
    big = [i for i, size in enumerate(sizes) if size >= big_file] if workers > 1 and max(sizes, default=0) >= big_file else []
    if not big and not uses_pool(items, workers, pool_min_files, pool_min_bytes):
        return _hash_inline(items, meter)
    outcomes: list[HashOutcome | None] = [None] * len(items)
    small = [i for i, (_, expected) in enumerate(items) if workers <= 1 or expected[0] < big_file]
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="bifrost-hash") as threads:
        futures = [(i, threads.submit(_hash_at, items[i][0], items[i][1], os.stat, meter))
                   for i in big]
        pooled = uses_pool([items[i] for i in small], workers, pool_min_files, pool_min_bytes)
        shares = _shares(small, workers) if pooled else [small]
        remote = [(share, _pool(workers - 1).submit(_hash_share, [items[i] for i in share])) for share in shares[1:]]
        if meter is not None:
            _count_when_done(meter, items, futures, remote)
        for i, outcome in zip(shares[0], _hash_batch([items[i] for i in shares[0]], meter)):
            outcomes[i] = outcome
        if meter is not None:
            meter.add(sum(items[i][1][0] for i in shares[0] if items[i][1][0] < BUFFER_SIZE), len(shares[0]))
            _wait_reporting(meter, [f for _, f in remote] + [f for _, f in futures])
        for share, future in remote:
            for i, (status, digest, message) in zip(share, _result(future, [items[i] for i in share])):
                outcomes[i] = HashOutcome(items[i][0], HashStatus(status), digest, message)
        for i, big_future in futures:
            outcomes[i] = big_future.result()
    return cast("list[HashOutcome]", outcomes)  # every index was filled above


def uses_pool(items: list[tuple[str, tuple[int, int, int, int]]], workers: int, min_files: int,
              min_bytes: int) -> bool:
    """Whether ``hash_many`` sends a share of these (small) files to worker processes."""
    return workers > 1 and len(items) >= min_files and sum(expected[0] for _, expected in items) >= min_bytes


def _hash_inline(items: list[tuple[str, tuple[int, int, int, int]]], meter: Meter | None) -> list[HashOutcome]:
    """Every file on the calling thread: no executor, no index bookkeeping."""
    outcomes = _hash_batch(items, meter)
    if meter is not None:  # streamed files (1 MiB and up) were counted per buffer as read
        meter.add(sum(expected[0] for _, expected in items if expected[0] < BUFFER_SIZE), len(items))
    return outcomes


def _count_when_done(meter: Meter, items: list[tuple[str, tuple[int, int, int, int]]],
                     big: list[tuple[int, Future]], remote: list[tuple[list[int], Future]]) -> None:
    """A big file's bytes were counted as read: it adds one file when done; a share adds its files and bytes."""
    for _, future in big:
        future.add_done_callback(lambda _f: meter.add(0, 1))
    for share, future in remote:
        size = sum(items[i][1][0] for i in share)
        future.add_done_callback(_adding(meter, size, len(share)))


def _adding(meter: Meter, size: int, files: int) -> Callable[[Future[Any]], None]:
    return lambda _future: meter.add(size, files)


def _wait_reporting(meter: Meter, futures: list[Future]) -> None:
    """Wait for the workers, reporting what they hashed meanwhile (they only count)."""
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=INTERVAL)
        meter.poll()


def _shares(indexes: list[int], count: int) -> list[list[int]]:
    """``count`` interleaved shares: neighbours (one folder's files) are spread, so shares cost alike."""
    return [indexes[n::count] for n in range(count)]


def _hash_share(items: list[tuple[str, tuple[int, int, int, int]]]) -> list[tuple[str, str | None, str]]:
    """In a worker process: hash a share of small files; plain tuples back (cheap to send)."""
    return [(outcome.status.value, outcome.digest, outcome.message) for outcome in _hash_batch(items)]


def _hash_batch(items: list[tuple[str, tuple[int, int, int, int]]], meter: Meter | None = None) -> list[HashOutcome]:
    """``_hash_at`` for each file, in order, as one flat loop: a 0-4 KiB file costs five system calls,
    and a function call, keyword arguments or a ``try`` more per file were a third of its time
    (user CPU 0.97 s against 0.55 s for a straight loop over 50,000 files).

    The checks are ``_hash_at``'s, in the same order, with the same outcomes.
    """
    out: list[HashOutcome] = []
    append = out.append
    for path, expected in items:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as error:
            append(_failure(path, error))
            continue
        try:
            at_open = _fstat(fd)
            if not _S_ISREG(at_open.st_mode) or (at_open.st_size, at_open.st_mtime_ns, at_open.st_ino,
                                                  at_open.st_dev) != expected:
                append(_refused(path, at_open))
                continue
            # _digest_fd inlined: one call less a file
            head = _read(fd, expected[0] + 1) if expected[0] < BUFFER_SIZE else None
            digest = (_hexdigest(head) if head is not None and len(head) <= expected[0]
                      else _digest_from(fd, head, None, meter))
        except OSError as error:
            append(_failure(path, error))
            continue
        finally:
            _close(fd)
        append(_checked_after(path, expected, digest))
    return out


def _refused(path: str, at_open: os.stat_result) -> HashOutcome:
    """What ``_hash_at`` says of a descriptor that is not the file observed: it is closed unread."""
    if not _S_ISREG(at_open.st_mode):
        return HashOutcome(path, HashStatus.NOT_REGULAR, message="not a regular file any more; not read")
    return HashOutcome(path, HashStatus.CHANGED, message="changed since it was observed; hash later")


def _checked_after(path: str, expected: tuple[int, int, int, int], digest: str,
                   lstat: Callable[[str], os.stat_result] = os.lstat) -> HashOutcome:
    """The digest, if the path's ``lstat`` after the read still shows the file observed."""
    try:
        after = lstat(path)
    except OSError as error:
        return _failure(path, error)
    if (after.st_size, after.st_mtime_ns, after.st_ino, after.st_dev) != expected:
        return HashOutcome(path, HashStatus.CHANGED, message="changed or replaced while being read; hash later")
    return _new_outcome(HashOutcome, (path, _STABLE, digest, ""))


_fstat, _read, _close, _hexdigest = os.fstat, os.read, os.close, xxhash.xxh3_128_hexdigest
_S_ISREG = st_.S_ISREG
_STABLE = HashStatus.STABLE
_new_outcome = tuple.__new__


def _result(future: Future, items: list[tuple[str, tuple[int, int, int, int]]]) -> list[tuple[str, str | None, str]]:
    """A worker's answer, or the share hashed here if the pool broke (a killed worker is no reason to fail)."""
    try:
        return future.result()
    except Exception:  # BrokenProcessPool, or a worker that could not start
        _reset_pool()
        return _hash_share(items)


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(size: int) -> ProcessPoolExecutor:
    """The worker processes, started on first use and kept (a scan hashes in many calls)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != size:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            _POOL = ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=_watch_parent,
                                        initargs=(os.getpid(),))
            _POOL_SIZE = size
        return _POOL


def _watch_parent(pid: int) -> None:
    """In a worker: exit as soon as the process that started the pool is gone, even after a kill -9.

    A pool worker otherwise waits forever on its task queue (it holds both
    ends of that pipe), and keeps the forkserver alive with it.
    """
    threading.Thread(target=_exit_with, args=(pid,), daemon=True, name="bifrost-hash-parent").start()


def _exit_with(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux: readable once the process exits
    except (AttributeError, OSError):  # elsewhere, or already gone: poll
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        os._exit(0)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(1.0)


def _reset_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=False, cancel_futures=True)
            _POOL = None


def shutdown_pool() -> None:
    """Stop the worker processes (they are started again when needed)."""
    _reset_pool()


atexit.register(shutdown_pool)
