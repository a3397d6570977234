"""Bringing one object back to disk: what may be overwritten, and the atomic write that does it.

Restores never leave a partial file at the destination (temp name in the same
folder, fsync, ``os.replace``), never keep bytes whose xxh3-128 differs from the
recorded hash, and never overwrite a local file that is newer than the mirrored
version unless forced: after a disaster, the newest work on disk is usually
what an artist saved since the last mirror run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from bifrostd.hashing import hash_file

from .backends import TEMP_PREFIX, RemoteObject, fsync_folder, read_object

if TYPE_CHECKING:
    from .transfer import Outcome, Transfer

BUFFER_SIZE = 1 << 20


class ObjectGone(FileNotFoundError):
    """The object was listed but is no longer in the bucket (a local FileNotFoundError is not this)."""


def local_verdict(dest: Path, remote: RemoteObject, expected: str | None, *, force: bool) -> tuple[Outcome, str] | None:
    """Why ``dest`` must not be written (SKIPPED / REFUSED with a reason), or None to go ahead."""
    from .transfer import Outcome

    try:
        st = os.stat(dest, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if expected and st.st_size == remote.size and hash_file(dest) == expected:
        return Outcome.SKIPPED, "the local file already has this content"
    if not force and st.st_mtime_ns > _mirrored_mtime(remote):
        return Outcome.REFUSED, "the local file is newer than the mirrored copy; use force to overwrite it"
    return None


def _mirrored_mtime(remote: RemoteObject) -> int:
    """The source mtime recorded at upload; without one, any existing local file counts as newer."""
    return remote.mtime_ns if remote.mtime_ns is not None else 0


def download_once(
    transfer: Transfer, key: str, dest: Path, listed: RemoteObject, expected: str | None, *, force: bool,
    progress: Callable[[int], None] | None = None,
) -> int | tuple[Outcome, str]:
    """One attempt: stream to a temp file, verify, replace. Returns the bytes received.

    ``listed`` is what the listing (or a HEAD) said; the size, metadata and
    mtime checked are those the download's own responses carry. ``progress``
    is told each chunk's bytes as it is written.
    """
    from .transfer import _Mismatch

    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            remote, received, digest = _stream(transfer, key, fd, listed.size, progress)
            os.fsync(fd)
        finally:
            os.close(fd)
        if remote is None:
            raise ObjectGone(f"{key}: not in the bucket")
        expected = expected or remote.xxh3
        if received != remote.size or (expected and digest != expected):
            raise _Mismatch(f"{key}: received {received} bytes hashing to {digest}, "
                            f"expected {remote.size} bytes hashing to {expected}")
        if remote.mtime_ns is not None:
            os.utime(temp, ns=(remote.mtime_ns, remote.mtime_ns))
        verdict = local_verdict(dest, remote, None, force=force)  # the local file may have moved on meanwhile
        if verdict is not None:
            os.unlink(temp)
            return verdict
        os.replace(temp, dest)
        fsync_folder(str(dest.parent))
        return received
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _stream(transfer: Transfer, key: str, fd: int, size_hint: int,
            progress: Callable[[int], None] | None) -> tuple[RemoteObject | None, int, str]:
    hasher = xxhash.xxh3_128()
    received = 0

    def sink(chunk: bytes) -> None:
        nonlocal received
        transfer.limiter.acquire(len(chunk))
        hasher.update(chunk)
        _write_all(fd, chunk)
        received += len(chunk)
        if progress is not None:
            progress(len(chunk))

    remote = read_object(transfer.fs, transfer.target, key, sink, size_hint=size_hint)
    return remote, received, hasher.hexdigest()


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
