"""Leftovers of interrupted writes at a target: finding them, and when they may be removed.

A write killed mid-way (``kill -9``, a power cut) leaves what its writer had
begun: a ``.bifrost-tmp-*`` file in a folder target, an incomplete multipart
upload on S3 (in no listing, yet billed for its parts until aborted). GCS
resumable sessions and Azure's uncommitted blocks are discarded by the
services themselves (after a week) and show nowhere meanwhile, so nothing is
looked for there; a temp-named object in any bucket is reported all the same.

The rule for removing them. A run removes, as it starts, the leftovers that
nothing has written to for ``LEFTOVER_IDLE`` (an hour): a temp file's mtime,
an upload's newest part (or its start). What makes a sweep at the start of a
run safe is the catalog's writer lock: every run of a target, and every
``verify --repair``, holds it, and a run's transfers end before the run does
(its pool is joined; a daemon that gives up waiting for one exits, dropping
the lock with the process), so when a run starts no upload of this catalog
to this target is going. The idle hour is for writers the lock does not
see, such as a second catalog wrongly given the same URL: a live upload
writes every few seconds. ``verify --repair`` removes them all, whatever
their age, for the same reason.

Only a run after one that may have left some looks (the previous run did not
end ok, failed files, or left leftovers it could not remove yet), so an
ordinary run still makes no request to the bucket. A catalog that lost its
runs (rebuilt) does not know of its predecessor's leftovers: ``verify`` finds
them and ``verify --repair`` removes them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .backends import TEMP_PREFIX, RemoteObject, is_temp_key
from .targets import Target
from bifrostd.redaction import redact_credentials

if TYPE_CHECKING:
    from bifrostd.catalog.mirror_state import RunRecord

__all__ = ["LEFTOVER_IDLE_NS", "Leftover", "Sweep", "find", "may_remain", "of_listing", "remove", "sweep",
           "uploads"]

log = logging.getLogger("bifrostd.mirror")
LEFTOVER_IDLE_NS = 3600 * 10**9
TEMP_FILE = "temp-file"  # a folder target's temp file
TEMP_OBJECT = "temp-object"  # a temp-named object in a bucket (Bifrost writes none; another tool's, or older)
UPLOAD = "multipart-upload"  # an S3 multipart upload never completed nor aborted


@dataclass(frozen=True, slots=True)
class Leftover:
    """One leftover: the temp's own key, or for an upload the key it was for."""

    key: str
    kind: str  # TEMP_FILE | TEMP_OBJECT | UPLOAD
    size: int | None  # bytes it holds (an upload's parts); None when unknown
    written_ns: int | None  # its last write; None when unknown
    upload_id: str | None = None
    parts: int | None = None

    def idle_ns(self, now_ns: int) -> int | None:
        return None if self.written_ns is None else max(0, now_ns - self.written_ns)

    def to_json(self, now_ns: int) -> dict[str, Any]:
        idle = self.idle_ns(now_ns)
        return {"key": self.key, "kind": self.kind, "bytes": self.size,
                "age_s": None if idle is None else round(idle / 1e9, 1), "upload_id": self.upload_id,
                "parts": self.parts}


@dataclass(frozen=True, slots=True)
class Sweep:
    """What a run's sweep did: removed, left (too recent, or removal failed), and whether it could look at all."""

    removed: tuple[Leftover, ...] = ()
    left: tuple[Leftover, ...] = ()
    unchecked: str | None = None  # why the target could not be looked at

    def counts(self) -> dict[str, int]:
        """The run's counts for it; the next run sweeps again while ``leftovers_left`` or ``_unchecked`` is set."""
        counts = {"leftovers_removed": len(self.removed), "leftovers_left": len(self.left),
                  "leftovers_unchecked": 1 if self.unchecked else 0}
        return {name: value for name, value in counts.items() if value}


def may_remain(previous: RunRecord | None) -> bool:
    """Whether a run after ``previous`` (the target's last run record, or None) should look for leftovers."""
    if previous is None:
        return False  # the target's first run here: nothing of this catalog's can be left
    counts = previous.counts or {}
    if counts.get("leftovers_left") or counts.get("leftovers_unchecked"):
        return True
    if previous.status in ("ok", "incomplete"):
        return bool(counts.get("failed"))  # a failed transfer's writer may not have been cleaned up
    return True  # running (killed), interrupted, stopped, failed


# -- finding ------------------------------------------------------------------------------------------


def find(fs: Any, target: Target) -> list[Leftover]:
    """Every leftover Bifrost's own writers can leave at ``target`` (temp files of a folder, S3 uploads)."""
    if target.protocol == "file":
        return list(_temp_files(target))
    if target.protocol == "s3":
        return list(uploads(fs, target))
    return []


def of_listing(target: Target, remote: RemoteObject) -> Leftover | None:
    """The leftover a listed object is (a temp name), with its last write where the folder says it; else None."""
    if not is_temp_key(remote.key):
        return None
    if target.protocol != "file":
        return Leftover(remote.key, TEMP_OBJECT, remote.size, None)
    try:
        written = os.stat(target.path_for(remote.key), follow_symlinks=False).st_mtime_ns
    except OSError:
        written = None
    return Leftover(remote.key, TEMP_FILE, remote.size, written)


def _temp_files(target: Target) -> Iterator[Leftover]:
    """Temp files anywhere under a folder target (a walk that follows no symlink)."""
    root = target.root.rstrip("/") or "/"
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                key = target.key_for(entry.path)
                if key is not None:
                    yield Leftover(key, TEMP_FILE, st.st_size, st.st_mtime_ns)


def uploads(fs: Any, target: Target) -> Iterator[Leftover]:
    """The S3 multipart uploads under the target's prefix, each with its parts' bytes and last write."""
    bucket, prefix = _bucket_prefix(fs, target)
    markers: dict[str, str] = {}
    while True:
        out = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, **markers)
        for upload in out.get("Uploads", []):
            key = target.key_for(f"{bucket}/{upload['Key']}")
            if key is not None:
                yield _upload(fs, bucket, key, upload)
        if not out.get("IsTruncated"):
            return
        markers = {"KeyMarker": out["NextKeyMarker"], "UploadIdMarker": out["NextUploadIdMarker"]}


def _bucket_prefix(fs: Any, target: Target) -> tuple[str, str]:
    bucket, prefix, _ = fs.split_path(target.root)
    return bucket, (prefix.strip("/") + "/" if prefix.strip("/") else "")


def _upload(fs: Any, bucket: str, key: str, upload: dict[str, Any]) -> Leftover:
    """One upload with its bytes and last write (its newest part; its start when it has none)."""
    sizes: list[int] = []
    times = [_ns(upload.get("Initiated"))]
    marker: dict[str, Any] = {}
    while True:
        out = fs.call_s3("list_parts", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"], **marker)
        for part in out.get("Parts", []):
            sizes.append(int(part.get("Size", 0)))
            times.append(_ns(part.get("LastModified")))
        if not out.get("IsTruncated"):
            break
        marker = {"PartNumberMarker": out["NextPartNumberMarker"]}
    known = [t for t in times if t is not None]
    return Leftover(key, UPLOAD, sum(sizes), max(known) if known else None, upload["UploadId"], len(sizes))


def _ns(when: Any) -> int | None:
    if isinstance(when, datetime):
        return int(when.timestamp() * 1e9)
    return None


# -- removing -----------------------------------------------------------------------------------------


def remove(fs: Any, target: Target, leftover: Leftover) -> None:
    """Remove one leftover; one already gone is fine."""
    if leftover.kind == UPLOAD:
        bucket, _ = _bucket_prefix(fs, target)
        name = fs.split_path(target.path_for(leftover.key))[1]
        try:
            fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=name, UploadId=leftover.upload_id)
        except Exception as error:  # noqa: BLE001 - s3fs wraps NoSuchUpload in assorted OSErrors
            if "NoSuchUpload" not in str(error) and not isinstance(error, FileNotFoundError):
                raise
        return
    from .backends import remove as remove_object

    remove_object(fs, target, leftover.key)


def sweep(fs: Any, target: Target, *, now_ns: int, idle_ns: int = LEFTOVER_IDLE_NS) -> Sweep:
    """Remove the target's leftovers idle for ``idle_ns`` (see the module docstring); never raises."""
    try:
        found = find(fs, target)
    except Exception as error:  # noqa: BLE001 - the run goes on; the next one looks again
        reason = redact_credentials(f"{type(error).__name__}: {error}")
        log.warning("mirror %s: could not look for leftovers of interrupted writes: %s", target.name, reason)
        return Sweep(unchecked=reason)
    removed, left = [], []
    for leftover in found:
        idle = leftover.idle_ns(now_ns)
        if idle is not None and idle < idle_ns:
            left.append(leftover)
            continue
        try:
            remove(fs, target, leftover)
        except Exception as error:  # noqa: BLE001 - one that can't go is left for the next run
            log.warning("mirror %s: could not remove %s %s: %s", target.name, leftover.kind, leftover.key,
                        redact_credentials(f"{type(error).__name__}: {error}"))
            left.append(leftover)
        else:
            removed.append(leftover)
    if removed or left:
        log.info("mirror %s: removed %d leftover(s) of interrupted writes; %d left for a later run",
                 target.name, len(removed), len(left))
    return Sweep(tuple(removed), tuple(left))
