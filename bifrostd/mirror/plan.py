"""Planning a mirror run: from the catalog's diff to a list of bucket actions. Pure.

Input is what :meth:`MirrorState.diff` returns (files whose key lacks their
content, recorded keys no file wants) plus the recorded objects holding the
content of those files; output is a :class:`MirrorPlan`. Nothing here opens a
file, a socket or the catalog, so ``--dry-run`` is exactly the plan, and a plan
with no actions means the run touches no bucket.

Key layout: a file ``<root>:<relative path>`` goes to the object
``<target prefix>/<root>/<relative path>``; the key (what this module speaks
of) is ``<root>/<relative path>``, the target adds its bucket and prefix.

Names that can't be keys are refused, not encoded: S3, GCS and Azure keys are
UTF-8, and any encoding of other bytes would either collide with a real name
or rename ordinary files. So a file whose name is not valid UTF-8, holds a
backslash or a control character, or whose object name would exceed 1,024
bytes is reported in ``refused`` (every run, until renamed) and never sent.

Rules, in order, for a file whose key lacks its content:
1. the key already holds it (only the retention mark differs): revive the key;
2. another recorded key holds the same content: server-side copy from it
   (moves, renames, copies of a file), unless that key is itself being
   rewritten by this plan;
3. an earlier file of this plan uploads the same content and the file is at
   least ``COPY_MIN_BYTES``: copy from that key after the uploads (identical
   content under many paths is sent once); a smaller one is uploaded, which
   costs less than a copy (see ``COPY_MIN_BYTES``);
4. otherwise upload; with a HEAD first only if the key's content is unknown
   (a transfer to it was interrupted), so a resumed run re-sends nothing.

Recorded keys no file wants follow the target's delete policy: ``keep`` marks
them (the object stays), ``mirror`` deletes them, ``retain`` marks them and
deletes them ``retain_days`` after the mark. Deletions run after every copy,
so a moved file's old key serves as the copy source first. A run whose
deletions exceed the target's ``max_delete`` holds them all back (``held``)
unless deletions were allowed for it; they are planned again by the next run.
Only deletions that take content out of the bucket count and are held: not
the old key of a moved file (its content is copied to the new key first), nor
a key whose content another still wanted key holds (``held_elsewhere``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bifrostd.catalog.mirror_state import ALWAYS, NEVER, MirrorDiff, RecordedObject, WantedFile

from .targets import DeletePolicy, Target
from .transfer import check_key

__all__ = ["COPY_MIN_BYTES", "Copy", "Delete", "MirrorPlan", "Refusal", "Upload", "due_before", "key_problem", "object_key",
           "over_limit", "plan_mirror_run"]

DAY_NS = 86_400 * 10**9

#: Below this size, content that an upload of the same plan already sends is uploaded again rather than
#: copied from that upload's key. Both are one request (priced alike on S3), but a small PUT answers
#: sooner than a CopyObject: against moto, a PUT of 1-256 KiB took 0.80-0.95x the time of a copy, from
#: 384 KiB to 768 KiB they were level, from 1 MiB on the copy was faster (docs/performance.md). An upload
#: also runs in the upload phase instead of waiting for it to end, and does not fail with its source.
COPY_MIN_BYTES = 256 << 10


@dataclass(frozen=True, slots=True)
class Upload:
    key: str
    root: str
    path: str
    local_path: Path
    size: int
    mtime_ns: int
    inode: int
    hash: str
    check_existing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"action": "upload", "key": self.key, "size": self.size, "hash": self.hash,
                "check_existing": self.check_existing}


@dataclass(frozen=True, slots=True)
class Copy:
    src_key: str
    key: str
    root: str
    path: str
    size: int
    mtime_ns: int
    hash: str
    after_upload: bool = False  # the source is an upload of this same plan
    src_etag: str | None = None  # the source's recorded ETag (an upload's is known once it landed)

    def to_json(self) -> dict[str, Any]:
        return {"action": "copy", "key": self.key, "from": self.src_key, "size": self.size, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    root: str
    path: str
    size: int
    reason: str  # mirror | retain

    def to_json(self) -> dict[str, Any]:
        return {"action": "delete", "key": self.key, "size": self.size, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Refusal:
    root: str
    path: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "path": self.path, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class MirrorPlan:
    target: str
    uploads: tuple[Upload, ...] = ()
    copies: tuple[Copy, ...] = ()
    deletes: tuple[Delete, ...] = ()
    marks: tuple[tuple[str, str], ...] = ()  # (root, path) newly unwanted: start the retention clock
    revives: tuple[tuple[str, str], ...] = ()  # (root, path) wanted again with the content they hold
    refused: tuple[Refusal, ...] = ()
    oldest_change_ns: int | None = None  # of the files this plan sends: the mirror's lag
    held: tuple[Delete, ...] = ()  # deletions over the target's max_delete, not made
    held_reason: str | None = None

    @property
    def touches_bucket(self) -> bool:
        return bool(self.uploads or self.copies or self.deletes)

    @property
    def empty(self) -> bool:
        return not (self.touches_bucket or self.marks or self.revives or self.held)

    @property
    def upload_bytes(self) -> int:
        return sum(u.size for u in self.uploads)

    def counts(self) -> dict[str, int]:
        return {"upload": len(self.uploads), "upload_bytes": self.upload_bytes, "copy": len(self.copies),
                "delete": len(self.deletes), "held": len(self.held), "mark": len(self.marks),
                "revive": len(self.revives), "refused": len(self.refused)}

    def to_json(self) -> dict[str, Any]:
        every: tuple[Upload | Copy | Delete, ...] = (*self.uploads, *self.copies, *self.deletes)
        actions = [a.to_json() for a in every]
        return {"target": self.target, "counts": self.counts(), "actions": actions,
                "marks": [f"{r}/{p}" for r, p in self.marks], "revives": [f"{r}/{p}" for r, p in self.revives],
                "refused": [r.to_json() for r in self.refused],
                "held": [d.to_json() for d in self.held], "held_reason": self.held_reason}


def object_key(root: str, path: str) -> str:
    return f"{root}/{path}"


def split_key(key: str) -> tuple[str, str]:
    root, _, path = key.partition("/")
    return root, path


def key_problem(key: str, target: Target) -> str | None:
    """Why ``key`` can't name an object of ``target`` (see the module docstring), or None."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        return "the name holds a control character"
    return check_key(key, target)


def due_before(target: Target, now_ns: int) -> int:
    """The ``gone_ns`` cutoff under which unwanted keys are deleted by this run."""
    if target.delete is DeletePolicy.MIRROR:
        return ALWAYS
    if target.delete is DeletePolicy.RETAIN:
        return now_ns - (target.retain_days or 0) * DAY_NS
    return NEVER


def plan_mirror_run(
    target: Target,
    diff: MirrorDiff,
    sources: Mapping[str, Iterable[RecordedObject]],
    *,
    locate: Callable[[str, str], Path],
    now_ns: int,
    objects: int = 0,
    allow_deletions: bool = False,
    held_elsewhere: Collection[str] = frozenset(),
) -> MirrorPlan:
    """The actions that bring ``target`` level with the catalog; see the module docstring.

    ``objects`` is how many objects the target holds (what a percentage
    ``max_delete`` is taken of); ``allow_deletions`` lifts the limit for this
    run; ``held_elsewhere`` are hashes that other, still wanted keys hold
    (deleting an object with such content loses nothing, so it never counts).
    """
    rewritten = {(w.root, w.path) for w in diff.changed if w.recorded}
    builder = _Builder(target, sources, rewritten, locate)
    for wanted in diff.changed:
        builder.want(wanted)
    marks, deletes = _unwanted(target, diff.unwanted, now_ns)
    moved_from = {c.src_key for c in builder.copies}  # their content stays in the bucket, under the new key
    hashes = {(r.root, r.path): r.hash for r in diff.unwanted}
    losing = tuple(d for d in deletes
                   if d.key not in moved_from and hashes.get((d.root, d.path)) not in held_elsewhere)
    held_reason = None if allow_deletions else over_limit(target, len(losing), objects)
    held = losing if held_reason else ()
    kept = tuple(d for d in deletes if d not in held)
    return MirrorPlan(target.name, tuple(builder.uploads), tuple(builder.copies), kept, marks,
                      tuple(builder.revives), tuple(builder.refused), builder.oldest, held, held_reason)


def over_limit(target: Target, deletions: int, objects: int, *, command: str = "mirror run {name}") -> str | None:
    """Why ``deletions`` at a target holding ``objects`` are too many for one go, or None.

    ``command`` is the bifrostctl command that, given ``--allow-deletions``, makes them.
    """
    allowed = target.max_delete.allowed(objects)
    if allowed is None or deletions <= allowed:
        return None
    return (f"{deletions:,} deletions held back: more than max_delete ({target.max_delete.describe()}) of the "
            f"{objects:,} objects at the target; if the files are really gone, "
            f"run 'bifrostctl {command.format(name=target.name)} --allow-deletions'")


@dataclass
class _Builder:
    target: Target
    sources: Mapping[str, Iterable[RecordedObject]]
    rewritten: set[tuple[str, str]]
    locate: Callable[[str, str], Path]
    uploads: list[Upload] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    revives: list[tuple[str, str]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    uploading: dict[tuple[str, int], str] = field(default_factory=dict)
    oldest: int | None = None

    def want(self, w: WantedFile) -> None:
        key = object_key(w.root, w.path)
        problem = "the name is not valid UTF-8" if not w.utf8 else key_problem(key, self.target)
        if problem:
            self.refused.append(Refusal(w.root, w.path, problem))
            return
        if w.recorded and w.recorded_hash == w.hash:
            self.revives.append((w.root, w.path))
            return
        self.oldest = w.seen_ns if self.oldest is None else min(self.oldest, w.seen_ns)
        source = self._source(w)
        if source is not None:
            self.copies.append(Copy(source.key, key, w.root, w.path, w.size, w.mtime_ns, w.hash,
                                    src_etag=source.etag))
        elif (w.hash, w.size) in self.uploading and w.size >= COPY_MIN_BYTES:
            self.copies.append(Copy(self.uploading[(w.hash, w.size)], key, w.root, w.path, w.size, w.mtime_ns,
                                    w.hash, after_upload=True))
        else:
            check = w.recorded and w.recorded_hash is None
            self.uploads.append(Upload(key, w.root, w.path, self.locate(w.root, w.path), w.size, w.mtime_ns,
                                       w.inode, w.hash, check_existing=check))
            self.uploading[(w.hash, w.size)] = key

    def _source(self, w: WantedFile) -> RecordedObject | None:
        for candidate in self.sources.get(w.hash, ()):
            if candidate.hash == w.hash and candidate.size == w.size and \
                    (candidate.root, candidate.path) not in self.rewritten:
                return candidate
        return None


def _unwanted(target: Target, rows: Iterable[RecordedObject],
              now_ns: int) -> tuple[tuple[tuple[str, str], ...], tuple[Delete, ...]]:
    marks: list[tuple[str, str]] = []
    deletes: list[Delete] = []
    cutoff = due_before(target, now_ns)
    for row in rows:
        if target.delete is DeletePolicy.MIRROR or (row.gone_ns is not None and row.gone_ns <= cutoff):
            deletes.append(Delete(row.key, row.root, row.path, row.size, target.delete.value))
        elif row.gone_ns is None:
            marks.append((row.root, row.path))
    return tuple(marks), tuple(deletes)
