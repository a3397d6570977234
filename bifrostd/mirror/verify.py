"""Auditing a bucket against what the catalog expects it to hold. Read-only, always.

The catalog is how a mirror run avoids listing the bucket; this is the periodic
check that the bucket still agrees with it (out-of-band deletes, a lifecycle
rule, a half-restored bucket). One listing, then per object: size, the
``bifrost-xxh3`` metadata (a HEAD per object on S3, whose listings carry no
metadata), and with ``deep`` the content itself, re-read and hashed.

Leftovers of interrupted writes (temp files and objects from the listing, and
on S3 the incomplete multipart uploads under the prefix, which no listing
shows) are reported apart, with their bytes and how long ago they were last
written (:mod:`.leftovers`); they make the report not ok.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import xxhash

from .backends import RemoteObject, listing
from .leftovers import Leftover, of_listing, uploads
from .targets import Target
from .transfer import Transfer

__all__ = ["Expected", "ObjectProblem", "VerifyReport", "verify"]

BUFFER_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class Expected:
    size: int
    xxh3: str


@dataclass(frozen=True, slots=True)
class ObjectProblem:
    key: str
    kind: str  # missing | extra | wrong-size | wrong-hash | no-hash | unreadable
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    target: str
    checked: int
    problems: tuple[ObjectProblem, ...] = field(default_factory=tuple)
    deep: bool = False
    leftovers: tuple[Leftover, ...] = ()
    at_ns: int = 0  # when the bucket was looked at: leftovers' ages count from here

    def of(self, kind: str) -> list[str]:
        return sorted(p.key for p in self.problems if p.kind == kind)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.leftovers

    @property
    def leftover_bytes(self) -> int:
        return sum(leftover.size or 0 for leftover in self.leftovers)

    @property
    def oldest_leftover_s(self) -> float | None:
        idle = [i for i in (leftover.idle_ns(self.at_ns) for leftover in self.leftovers) if i is not None]
        return round(max(idle) / 1e9, 1) if idle else None

    def to_json(self) -> dict[str, Any]:
        return {"schema": "bifrost.mirror-verify.1", "target": self.target, "checked": self.checked,
                "deep": self.deep, "ok": self.ok, "problems": [p.to_json() for p in self.problems],
                "leftovers": {"count": len(self.leftovers), "bytes": self.leftover_bytes,
                              "oldest_age_s": self.oldest_leftover_s,
                              "items": [leftover.to_json(self.at_ns) for leftover in self.leftovers]}}


def verify(
    fs: Any,
    target: Target,
    expected: Mapping[str, Expected | tuple[int, str]],
    *,
    deep: bool = False,
    transfer: Transfer | None = None,
    now_ns: int | None = None,
) -> VerifyReport:
    """Compare the bucket under ``target.root`` with ``expected`` (key -> size and xxh3)."""
    transfer = transfer or Transfer(fs, target)
    at_ns = time.time_ns() if now_ns is None else now_ns
    wanted = {key: value if isinstance(value, Expected) else Expected(*value) for key, value in expected.items()}
    present: dict[str, tuple[RemoteObject, bool]] = {}
    leftovers: list[Leftover] = []
    for remote, has_meta in listing(fs, target):
        leftover = of_listing(target, remote)
        if leftover is not None:
            leftovers.append(leftover)
        else:
            present[remote.key] = (remote, has_meta)
    if target.protocol == "s3":
        leftovers += uploads(fs, target)
    problems = [ObjectProblem(key, "missing") for key in sorted(wanted.keys() - present.keys())]
    problems += [ObjectProblem(key, "extra") for key in sorted(present.keys() - wanted.keys())]
    common = sorted(wanted.keys() & present.keys())
    with ThreadPoolExecutor(target.concurrency, thread_name_prefix=f"bifrost-verify-{target.name}") as pool:
        found = pool.map(lambda key: _check_one(transfer, key, present[key], wanted[key], deep), common)
        problems += [problem for problem in found if problem is not None]
    return VerifyReport(target.name, len(common), tuple(problems), deep, tuple(leftovers), at_ns)


def _check_one(transfer: Transfer, key: str, found: tuple[RemoteObject, bool], want: Expected,
               deep: bool) -> ObjectProblem | None:
    remote, has_meta = found
    try:
        if not has_meta:
            remote = transfer.head(key) or remote
        if remote.size != want.size:
            return ObjectProblem(key, "wrong-size", f"{remote.size} bytes, expected {want.size}")
        if deep:
            digest = _rehash(transfer, key)
            if digest != want.xxh3:
                return ObjectProblem(key, "wrong-hash", f"content hashes to {digest}, expected {want.xxh3}")
        return _judge_metadata(key, remote, want, content_checked=deep)
    except Exception as error:  # one unreadable object is a finding, not the end of the audit
        return ObjectProblem(key, "unreadable", f"{type(error).__name__}: {error}")


def _judge_metadata(key: str, remote: RemoteObject, want: Expected, *, content_checked: bool) -> ObjectProblem | None:
    if remote.xxh3 is None:
        if content_checked:
            return None  # the content itself matched; a missing tag alone is not a finding then
        return ObjectProblem(key, "no-hash", "no bifrost-xxh3 metadata; verify with deep to hash the content")
    if remote.xxh3 != want.xxh3:
        return ObjectProblem(key, "wrong-hash", f"bifrost-xxh3 is {remote.xxh3}, expected {want.xxh3}")
    return None


def _rehash(transfer: Transfer, key: str) -> str:
    hasher = xxhash.xxh3_128()
    with transfer.fs.open(transfer.target.path_for(key), "rb", block_size=transfer.target.part_size,
                          cache_type="none") as source:
        while chunk := source.read(transfer.target.part_size):  # one ranged GET per part
            transfer.limiter.acquire(len(chunk))
            hasher.update(chunk)
    return hasher.hexdigest()
