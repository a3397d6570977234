"""Bringing one object back to disk: what may be overwritten, and the atomic write that does it.

Restores never leave a partial file at the destination (temp name in the same
folder, fsync, rename), never keep bytes whose xxh3-128 differs from the
recorded hash, and never overwrite a local file that is newer than the mirrored
version unless forced: after a disaster, the newest work on disk is usually
what an artist saved since the last mirror run.

Nor do they write through a symlink below the root (or below ``--to DIR``):
a restore often runs as root, and anyone who can write in a root could
otherwise point a folder at ``/etc``. Destinations are ``RootedPath`` values
and every file is written through ``bifrostd.observe.safe_paths``; a symlink or a file
where a folder should be makes that object REFUSED, naming the path, and the
restore goes on with the others. ``--force`` never overrides that.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import xxhash

from bifrostd.observe.hashing import hash_file
from bifrostd.observe.safe_paths import AtomicFile, RootedPath, UnsafePath, lstat, open_folder

from .backends import RemoteObject, read_object
from .outcomes import Mismatch, Outcome
from .pacing import RateLimiter
from .targets import Target

BUFFER_SIZE = 1 << 20
FILE_MODE = 0o644  # less the umask, as before: readable by the studio


class ObjectGone(FileNotFoundError):
    """The object was listed but is no longer in the bucket (a local FileNotFoundError is not this)."""


def local_verdict(dest: RootedPath, remote: RemoteObject, expected: str | None, *,
                  force: bool) -> tuple[Outcome, str] | None:
    """Why ``dest`` must not be written (SKIPPED / REFUSED with a reason), or None to go ahead."""
    try:
        st = lstat(dest)
    except UnsafePath as error:
        return Outcome.REFUSED, str(error)
    return _judge(dest, st, remote, expected, force=force)


def _judge(dest: RootedPath, st: os.stat_result | None, remote: RemoteObject, expected: str | None, *,
           force: bool) -> tuple[Outcome, str] | None:
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        return Outcome.REFUSED, f"{dest} is a folder; a file is never put in its place"
    if expected and stat.S_ISREG(st.st_mode) and st.st_size == remote.size and _local_hash(dest) == expected:
        return Outcome.SKIPPED, "the local file already has this content"
    if not force and st.st_mtime_ns > _mirrored_mtime(remote):
        return Outcome.REFUSED, "the local file is newer than the mirrored copy; use force to overwrite it"
    return None


def _local_hash(dest: RootedPath) -> str | None:
    folder = open_folder(dest.base, dest.folders, create=False)
    if folder is None:
        return None
    try:
        return hash_file(dest.name, dir_fd=folder)
    finally:
        os.close(folder)


def _mirrored_mtime(remote: RemoteObject) -> int:
    """The source mtime recorded at upload; without one, any existing local file counts as newer."""
    return remote.mtime_ns if remote.mtime_ns is not None else 0


def download_once(
    fs: Any, target: Target, limiter: RateLimiter, key: str, dest: RootedPath, listed: RemoteObject,
    expected: str | None, *, force: bool, progress: Callable[[int], None] | None = None,
) -> int | tuple[Outcome, str]:
    """One attempt: stream to a temp file, verify, rename. Returns the bytes received.

    ``fs`` and ``target`` say where the object is; ``limiter`` is the
    target's bandwidth cap. ``listed`` is what the listing (or a HEAD) said;
    the size, metadata and mtime checked are those the download's own
    responses carry. ``progress`` is told each chunk's bytes as it is written.
    Raises ``UnsafePath`` when a folder on the way is a symlink or not a folder.
    """
    with AtomicFile(dest, mode=FILE_MODE) as out:
        remote, received, digest = _stream(fs, target, limiter, key, out, listed.size, progress)
        if remote is None:
            raise ObjectGone(f"{key}: not in the bucket")
        expected = expected or remote.xxh3
        if received != remote.size or (expected and digest != expected):
            raise Mismatch(f"{key}: received {received} bytes hashing to {digest}, "
                           f"expected {remote.size} bytes hashing to {expected}")
        verdict = _judge(dest, out.existing(), remote, None, force=force)  # the local file may have moved on
        if verdict is not None:
            out.abandon()
            return verdict
        out.commit(mtime_ns=remote.mtime_ns)
        return received


def _stream(fs: Any, target: Target, limiter: RateLimiter, key: str, out: AtomicFile, size_hint: int,
            progress: Callable[[int], None] | None) -> tuple[RemoteObject | None, int, str]:
    hasher = xxhash.xxh3_128()
    received = 0

    def sink(chunk: bytes) -> None:
        nonlocal received
        limiter.acquire(len(chunk))
        hasher.update(chunk)
        out.write(chunk)
        received += len(chunk)
        if progress is not None:
            progress(len(chunk))

    remote = read_object(fs, target, key, sink, size_hint=size_hint)
    return remote, received, hasher.hexdigest()
