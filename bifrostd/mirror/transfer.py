"""Moving bytes between the studio and a bucket, one file at a time, with a typed result per file.

fsspec is the transport, not the sync engine: its bulk calls abandon a batch at
the first failure (``put``) or skip failures silently (``generic.rsync``). Here
every file is its own unit of work: a bounded pool of workers, a retry loop with
jittered backoff for transient errors, a shared bandwidth cap, bounded memory
(about one part per worker), and a ``FileResult`` per file that the caller records.
Nothing in a batch raises because one file failed.

Integrity, in the order the checks happen for an upload:
1. the file's (size, mtime_ns, inode) must still be what the caller hashed;
2. the bytes sent are hashed on the way (xxh3-128); if they do not hash to the
   caller's digest, the file changed mid-read and the upload is abandoned
   before commit, so the key never holds content that no catalog hash describes;
3. after commit, the object is confirmed: by the commit's response where it
   proves the content (S3: the ETag equals the MD5 form of what we sent, and the
   metadata went in the same request), otherwise by one HEAD of size and the
   ``bifrost-xxh3`` metadata;
4. the local file is stat'ed again: if it moved on, the result is CHANGED and the
   caller must not record it as mirrored (it goes again next run).

A server-side copy moves no bytes through this host; its source is an object
confirmed by the checks above when it was written. It is confirmed like an
upload: by the copy's response where that proves the content (S3: the source's
recorded ETag is the MD5 of its bytes, the copy is conditional on it, and the
response's ETag equals it; our metadata went in the same request), otherwise by
the size and the ``bifrost-xxh3`` metadata that came from the source with the
bytes, as the response reports them (GCS's rewrite) or one HEAD (the rest). Once one S3 copy's answer
could have proven it and did not (a bucket whose ETags are not MD5s), the rest of the run's copies go that
second way at once. A copy whose source is gone fails; the runner then forgets the source, so the next run
uploads the file.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import xxhash

from bifrostd.observe.safe_paths import RootedPath, UnsafePath
from bifrostd.observe.safe_paths import lstat as safe_lstat

from . import backends
from .backends import RemoteObject, head, is_transient, open_writer, remove, server_copy
from .outcomes import Mismatch, Outcome
from .pacing import Backoff, RateLimiter
from .targets import Target
from bifrostd.redaction import redact_credentials

__all__ = [
    "CopyItem",
    "FileResult",
    "Outcome",
    "RunSummary",
    "Transfer",
    "UploadItem",
    "check_key",
]

log = logging.getLogger("bifrostd.mirror")
BUFFER_SIZE = 1 << 20
MAX_KEY_BYTES = 1024  # S3's limit; emulators do not all enforce it
TICK = 0.1  # seconds between run_many's ticks
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UploadItem:
    """One settled, hashed file and the key it goes to; from the catalog's file record."""

    local_path: Path
    key: str
    size: int
    mtime_ns: int
    inode: int
    xxh3: str


@dataclass(frozen=True, slots=True)
class CopyItem:
    """Content already in the bucket under ``src_key`` that should also be at ``key``.

    ``mtime_ns`` is the destination file's (it goes into the copy's metadata
    where the copy can carry new metadata); ``src_etag`` is the source's ETag
    as recorded when it was confirmed, None if unknown.
    """

    src_key: str
    key: str
    size: int
    xxh3: str
    mtime_ns: int = 0
    src_etag: str | None = None


@dataclass(frozen=True, slots=True)
class FileResult:
    key: str
    outcome: Outcome
    bytes: int = 0  # bytes moved over the network (0 for skips and server-side copies)
    attempts: int = 1
    error: str | None = None
    etag: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the destination now holds the expected content: safe to record."""
        return self.outcome in (Outcome.UPLOADED, Outcome.COPIED, Outcome.DELETED, Outcome.DOWNLOADED,
                                Outcome.SKIPPED)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "outcome": self.outcome.value, "bytes": self.bytes,
                "attempts": self.attempts, "error": self.error, "etag": self.etag,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, slots=True)
class RunSummary:
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    failures: tuple[FileResult, ...] = ()
    stopped: bool = False  # should_stop() ended the run early

    def count(self, outcome: Outcome) -> int:
        return self.counts.get(outcome.value, 0)

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "bytes": self.bytes, "seconds": round(self.seconds, 3),
                "failures": [f.to_json() for f in self.failures], "stopped": self.stopped}


class _Changed(Exception):
    """The local file is not (or no longer) the one the caller hashed."""


def check_key(key: str, target: Target) -> str | None:
    """Why ``key`` can't be used on ``target``, or None. Keys are relative POSIX paths."""
    if not key or key.startswith("/") or key.endswith("/") or "\x00" in key or "\\" in key:
        return "keys are relative POSIX paths without a leading or trailing '/'"
    if any(part in ("", ".", "..") or part.startswith(backends.TEMP_PREFIX) for part in key.split("/")):
        return "keys must not contain empty, '.', '..' or temp-name segments"
    remote = target.path_for(key).split("/", 1)[-1] if target.protocol != "file" else key
    if len(remote.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
        return f"the object name is longer than {MAX_KEY_BYTES} bytes"
    return None


class Transfer:
    """Uploads, copies and downloads for one target over one fsspec filesystem.

    ``fs`` is passed in (tests give a filesystem pointed at an emulator);
    ``sleep`` and ``rng`` are seams for the backoff, ``writer`` for the object writer. One ``Transfer`` is shared by
    all worker threads of a run: the bandwidth cap is per target.
    """

    def __init__(
        self,
        fs: Any,
        target: Target,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        writer: Callable[..., backends.Writer] = open_writer,
    ) -> None:
        self.fs = fs
        self.open_writer = writer
        self.target = target
        self.limiter = limiter or RateLimiter(target.bandwidth)
        self.backoff = Backoff(base=target.backoff)
        self._sleep, self._rng, self._clock = sleep, rng, clock
        # Set once a copy that its response could have proven was not (an SSE-KMS or SSE-C bucket, whose ETags
        # are not MD5s): later copies go straight to the source's metadata and a HEAD, two requests instead of
        # three. Workers race to set it; any of them setting it is the same fact.
        self._copies_unproven = False

    # -- retries ------------------------------------------------------------------------------

    def _retrying(self, action: Callable[[], T]) -> tuple[T, int]:
        """Run ``action`` until it succeeds, a permanent error, or the retries run out."""
        attempt = 0
        while True:
            try:
                return action(), attempt + 1
            except (_Changed, KeyboardInterrupt):
                raise
            except Exception as error:
                if attempt >= self.target.retries or not (isinstance(error, Mismatch) or is_transient(error)):
                    _note_attempts(error, attempt + 1)
                    raise
                self._sleep(self.backoff.delay(attempt, self._rng))
                attempt += 1

    def head(self, key: str) -> RemoteObject | None:
        return self._retrying(lambda: head(self.fs, self.target, key))[0]

    # -- upload -------------------------------------------------------------------------------

    def upload(
        self,
        item: UploadItem,
        *,
        check_existing: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> FileResult:
        """Upload one file to its key; never raises for a per-file problem.

        ``check_existing`` HEADs the key first and skips the upload if it already
        holds this content (a run resumed after a crash re-sends nothing that
        landed). ``progress`` is called with each chunk's byte count, between reads.
        """
        started = self._clock()
        problem = check_key(item.key, self.target)
        if problem:
            return FileResult(item.key, Outcome.FAILED, error=f"invalid key: {problem}")
        try:
            if check_existing:
                existing = self.head(item.key)
                if existing and existing.size == item.size and existing.xxh3 == item.xxh3:
                    return FileResult(item.key, Outcome.SKIPPED, etag=existing.etag, seconds=self._clock() - started)
            (sent, remote), attempts = self._retrying(lambda: self._upload_once(item, progress))
            if _signature(item.local_path) != (item.size, item.mtime_ns, item.inode):
                raise _Changed("changed during upload; the object holds the earlier content")
        except _Changed as error:
            return FileResult(item.key, Outcome.CHANGED, error=str(error), seconds=self._clock() - started)
        except Exception as error:
            return self._failed(item.key, error, started)
        return FileResult(item.key, Outcome.UPLOADED, sent, attempts, etag=remote.etag,
                          seconds=self._clock() - started)

    def _upload_once(self, item: UploadItem, progress: Callable[[int], None] | None) -> tuple[int, RemoteObject]:
        path = self.target.path_for(item.key)
        with _open_source(item) as source:
            writer = self.open_writer(self.fs, self.target, path, size=item.size, xxh3=item.xxh3, mtime_ns=item.mtime_ns)
            try:
                sent, digest = self._pump(source, writer, progress)
                if sent != item.size or digest != item.xxh3 or _fd_signature(source) != _expected(item):
                    raise _Changed("changed while being uploaded; nothing was committed")
                confirmed = writer.commit()
            except BaseException:
                writer.abandon()
                raise
        if confirmed is not None:  # the commit's own response proved the bytes: no HEAD needed
            return sent, RemoteObject(item.key, item.size, item.xxh3, item.mtime_ns, confirmed)
        return sent, self._confirm(item.key, item.size, item.xxh3)

    def _pump(self, source: Any, writer: backends.Writer, progress: Callable[[int], None] | None) -> tuple[int, str]:
        """Copy the file to the writer, hashing on the way, reads aligned to part boundaries.

        Aligned reads make every part exactly ``part_size`` bytes, so S3's multipart
        ETag can be recomputed from the part size alone.
        """
        buffer = bytearray(BUFFER_SIZE)
        view = memoryview(buffer)
        hasher = xxhash.xxh3_128()
        part, sent = self.target.part_size, 0
        while True:
            n = source.readinto(view[: min(BUFFER_SIZE, part - sent % part)])
            if not n:
                return sent, hasher.hexdigest()
            self.limiter.acquire(n)
            hasher.update(view[:n])
            writer.write(view[:n])
            sent += n
            if progress is not None:
                progress(n)

    def _confirm(self, key: str, size: int, xxh3: str) -> RemoteObject:
        """HEAD the committed object: the key must now report our size and hash."""
        remote = head(self.fs, self.target, key)
        if remote is None:
            raise Mismatch(f"{key}: not found after upload")
        return self._check(key, remote, size, xxh3)

    def _check(self, key: str, remote: RemoteObject, size: int, xxh3: str) -> RemoteObject:
        """``remote`` (a HEAD's answer, or a write's response that says as much) must report our size and hash."""
        if remote.size != size:
            raise Mismatch(f"{key}: size {remote.size} after upload, expected {size}")
        if remote.xxh3 is not None and remote.xxh3 != xxh3:
            raise Mismatch(f"{key}: bifrost-xxh3 {remote.xxh3} after upload, expected {xxh3}")
        if remote.xxh3 is None and self.target.protocol != "file":
            raise Mismatch(f"{key}: no bifrost-xxh3 metadata after upload")
        return remote

    def upload_many(
        self,
        items: Iterable[UploadItem],
        *,
        on_result: Callable[[UploadItem, FileResult], None] | None = None,
        check_existing: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunSummary:
        """Upload every item with ``target.concurrency`` workers; see ``run_many``."""
        return self.run_many(items, lambda item: self.upload(item, check_existing=check_existing),
                             on_result=on_result, should_stop=should_stop)

    # -- server-side copy ---------------------------------------------------------------------

    def copy(self, item: CopyItem) -> FileResult:
        """Copy ``src_key`` to ``key`` inside the bucket (moves, renames, duplicate content)."""
        started = self._clock()
        problem = check_key(item.key, self.target) or check_key(item.src_key, self.target)
        if problem:
            return FileResult(item.key, Outcome.FAILED, error=f"invalid key: {problem}")
        src_etag = None if self._copies_unproven else item.src_etag
        try:
            def once() -> RemoteObject:
                reported = server_copy(self.fs, self.target, item.src_key, item.key, size=item.size,
                                       xxh3=item.xxh3, mtime_ns=item.mtime_ns, src_etag=src_etag)
                if reported is not None:  # the copy's own response says what a HEAD would: none needed
                    return self._check(item.key, reported, item.size, item.xxh3)
                if backends.copy_may_prove(self.target, src_etag, item.size):
                    self._copies_unproven = True  # ETags here are not MD5s (an encrypted bucket): skip the try
                return self._confirm(item.key, item.size, item.xxh3)

            remote, attempts = self._retrying(once)
        except Exception as error:
            return self._failed(item.key, error, started)
        return FileResult(item.key, Outcome.COPIED, 0, attempts, etag=remote.etag, seconds=self._clock() - started)

    def copy_many(self, items: Iterable[CopyItem], *, on_result=None, should_stop=None) -> RunSummary:
        return self.run_many(items, self.copy, on_result=on_result, should_stop=should_stop)

    # -- delete -------------------------------------------------------------------------------

    def delete(self, key: str) -> FileResult:
        """Remove the object at ``key``; an object already gone counts as deleted."""
        started = self._clock()
        problem = check_key(key, self.target)
        if problem:
            return FileResult(key, Outcome.FAILED, error=f"invalid key: {problem}")
        try:
            _, attempts = self._retrying(lambda: remove(self.fs, self.target, key))
        except Exception as error:
            return self._failed(key, error, started)
        return FileResult(key, Outcome.DELETED, 0, attempts, seconds=self._clock() - started)

    # -- download -----------------------------------------------------------------------------

    def download(self, key: str, dest: RootedPath | Path, *, expected_xxh3: str | None = None, force: bool = False,
                 listed: RemoteObject | None = None, progress: Callable[[int], None] | None = None) -> FileResult:
        """Restore one object to ``dest``: temp file beside it, verify xxh3-128, then rename.

        ``dest`` is resolved below its base without following symlinks (a plain
        path: below its parent folder); a symlink or a non-folder on the way makes
        the result REFUSED, whatever ``force`` says.

        A local file newer than the mirrored version (by the ``bifrost-mtime-ns``
        recorded at upload) is left alone unless ``force``; a local file that
        already has the content is left alone always. ``listed`` is the object as
        a listing reported it: with it, a restore into an empty folder sends no
        HEAD (the GET's response carries size and metadata); without it, or when
        a local file exists and the listing carried no metadata (S3), one HEAD
        tells whether the local file may be replaced. ``progress`` is called
        with each chunk's byte count as it arrives.
        """
        from .restore import ObjectGone, download_once  # with the hasher: only restores need it

        started = self._clock()
        dest = RootedPath.of(dest)
        try:
            early = self._restore_verdict(key, dest, expected_xxh3, force, listed)
            if isinstance(early, FileResult):
                return replace(early, seconds=self._clock() - started)
            remote = early
            received, attempts = self._retrying(
                lambda: download_once(self.fs, self.target, self.limiter, key, dest, remote, expected_xxh3,
                                      force=force, progress=progress))
        except ObjectGone:
            return FileResult(key, Outcome.FAILED, error="not in the bucket", seconds=self._clock() - started)
        except UnsafePath as error:  # a folder became a symlink since the first check
            return FileResult(key, Outcome.REFUSED, error=str(error), seconds=self._clock() - started)
        except Exception as error:
            return self._failed(key, error, started)
        if isinstance(received, tuple):  # the local file became newer while we downloaded
            return FileResult(key, received[0], error=received[1], seconds=self._clock() - started)
        return FileResult(key, Outcome.DOWNLOADED, received, attempts, etag=remote.etag,
                          seconds=self._clock() - started)

    def would_download(self, key: str, dest: RootedPath | Path, *, expected_xxh3: str | None = None,
                       force: bool = False, listed: RemoteObject | None = None) -> FileResult:
        """What ``download`` would do, found by the same checks, writing nothing.

        DOWNLOADED (with the object's size as ``bytes``) when it would
        download; SKIPPED, REFUSED or FAILED as ``download`` would answer
        before fetching. Like ``download``, it hashes a local file of the
        object's size and may HEAD the object: a dry run reads, never writes.
        """
        started = self._clock()
        try:
            early = self._restore_verdict(key, RootedPath.of(dest), expected_xxh3, force, listed)
        except Exception as error:
            return self._failed(key, error, started)
        if isinstance(early, FileResult):
            return replace(early, seconds=self._clock() - started)
        return FileResult(key, Outcome.DOWNLOADED, early.size, etag=early.etag, seconds=self._clock() - started)

    def _restore_verdict(self, key: str, dest: RootedPath, expected_xxh3: str | None, force: bool,
                         listed: RemoteObject | None) -> RemoteObject | FileResult:
        """The object to fetch, or the result that says why not (invalid key, gone, local file kept, unsafe path)."""
        from .restore import local_verdict

        problem = check_key(key, self.target)
        if problem:
            return FileResult(key, Outcome.FAILED, error=f"invalid key: {problem}")
        try:
            present = safe_lstat(dest) is not None
        except UnsafePath as error:
            return FileResult(key, Outcome.REFUSED, error=str(error))
        remote = listed
        if remote is None or (remote.xxh3 is None and present):
            remote = self.head(key)
        if remote is None:
            return FileResult(key, Outcome.FAILED, error="not in the bucket")
        verdict = local_verdict(dest, remote, expected_xxh3 or remote.xxh3, force=force)
        if verdict is not None:
            return FileResult(key, verdict[0], error=verdict[1])
        return remote

    # -- batches ------------------------------------------------------------------------------

    def run_many(
        self,
        items: Iterable[T],
        work: Callable[[T], FileResult],
        *,
        on_result: Callable[[T, FileResult], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> RunSummary:
        """Run ``work`` on every item with ``target.concurrency`` threads.

        Items are pulled lazily (at most two per worker in flight), so a plan of a
        million files costs no more memory than a plan of ten. ``on_result`` runs on
        the calling thread, in completion order: the catalog's single writer can
        record each result as it lands, and a crash loses at most the in-flight files.
        ``tick`` runs on the calling thread too, at least ten times a second while
        work is in flight (to show the progress of big files).
        """
        tally = _Tally(self._clock())
        source: Iterator[T] = iter(items)
        in_flight: dict[Future[FileResult], T] = {}
        limit = 2 * self.target.concurrency
        with ThreadPoolExecutor(self.target.concurrency, thread_name_prefix=f"bifrost-mirror-{self.target.name}") as pool:
            exhausted = False
            while True:
                while not exhausted and len(in_flight) < limit:
                    if should_stop is not None and should_stop():
                        tally.stopped = exhausted = True
                        break
                    pulled = next(source, _END)
                    if pulled is _END:
                        exhausted = True
                        break
                    item = cast("T", pulled)  # not _END: an item of the source
                    in_flight[pool.submit(work, item)] = item
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=TICK if tick is not None else None, return_when=FIRST_COMPLETED)
                if tick is not None:
                    tick()
                for future in done:
                    item = in_flight.pop(future)
                    result = future.result()
                    tally.add(result)
                    _log(self.target, result)
                    if on_result is not None:
                        on_result(item, result)
        return tally.summary(self._clock())

    def _failed(self, key: str, error: BaseException, started: float) -> FileResult:
        attempts = getattr(error, "attempts", 1)
        text = redact_credentials(f"{type(error).__name__}: {error}".strip())
        return FileResult(key, Outcome.FAILED, attempts=attempts, error=text, seconds=self._clock() - started)


_END = object()


def _log(target: Target, result: FileResult) -> None:
    """One line per file: failures and changes at WARNING, the rest at DEBUG. No options, no secrets."""
    level = logging.WARNING if result.outcome in (Outcome.FAILED, Outcome.CHANGED) else logging.DEBUG
    if log.isEnabledFor(level):
        detail = f" after {result.attempts} attempt(s): {result.error}" if result.error else ""
        log.log(level, "mirror %s: %s %s (%d bytes)%s", target.name, result.key, result.outcome.value,
                result.bytes, detail)


def _note_attempts(error: BaseException, attempts: int) -> None:
    try:
        error.attempts = attempts  # type: ignore[attr-defined]
    except AttributeError:
        pass


class _Tally:
    def __init__(self, started: float) -> None:
        self.started = started
        self.counts: dict[str, int] = {}
        self.bytes = 0
        self.failures: list[FileResult] = []
        self.stopped = False
        self._lock = threading.Lock()

    def add(self, result: FileResult) -> None:
        with self._lock:
            self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
            self.bytes += result.bytes
            if result.outcome is Outcome.FAILED:
                self.failures.append(result)

    def summary(self, now: float) -> RunSummary:
        return RunSummary(dict(self.counts), self.bytes, now - self.started, tuple(self.failures), self.stopped)


# -- local file checks --------------------------------------------------------------------------


def _expected(item: UploadItem) -> tuple[int, int, int]:
    return (item.size, item.mtime_ns, item.inode)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _fd_signature(source: Any) -> tuple[int, int, int]:
    st = os.fstat(source.fileno())
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class _open_source:
    """Open the file to upload and prove it is still the one that was hashed."""

    def __init__(self, item: UploadItem) -> None:
        self.item = item

    def __enter__(self) -> Any:
        try:
            fd = os.open(self.item.local_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOATIME", 0))
        except FileNotFoundError:
            raise _Changed("vanished before upload") from None
        except PermissionError:  # O_NOATIME needs ownership; retry without it
            fd = os.open(self.item.local_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.file = os.fdopen(fd, "rb", buffering=0)
        if _fd_signature(self.file) != _expected(self.item):
            self.file.close()
            raise _Changed("changed since it was hashed; hash again before mirroring")
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()
