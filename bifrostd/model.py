"""Plain values shared by the core and the edges: observed files, findings, plans, and what a walk saw.

Relative paths are root-relative POSIX strings. Names that are not valid
UTF-8 are decoded with ``os.fsdecode`` (surrogate escapes), so they round-trip
to the same bytes with ``os.fsencode``; the catalog stores them losslessly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


@dataclass(slots=True)
class FileState:
    """What a walk or a watcher saw of one regular file; treat it as immutable (``dataclasses.replace``).

    Not ``frozen``: a frozen dataclass sets each field through
    ``object.__setattr__``, which makes creating one six times slower
    (1.5 µs against 0.23), and a full walk creates one per file.
    """

    root: str
    relative: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    uid: int = -1
    hash: str | None = None

    @property
    def signature(self) -> tuple[int, int, int]:
        """(size, mtime_ns, inode): a file whose signature is unchanged keeps its hash."""
        return (self.size, self.mtime_ns, self.inode)


KnownFile = tuple[str, int, int, int, int, int, int]
"""A catalogued file as a full walk compares it: (stored path, record id, size, mtime_ns, inode, device, uid).

Plain tuples, not objects: a full walk compares every file with one, and
most are unchanged. ``size`` is -1 for a record that is not settled (not
present, derived with other templates, or not hashed when hashing), so no
file ever matches it and such a record is always planned.
"""


class FindingKind(str, Enum):
    """Per-path problems met while walking, hashing or mirroring; never fatal to the job."""

    PERMISSION_DENIED = "permission-denied"
    VANISHED = "vanished"
    NOT_UTF8 = "not-utf8"
    SYMLINK_OUTSIDE_ROOT = "symlink-outside-root"
    SYMLINK_LOOP = "symlink-loop"
    SPECIAL_FILE = "special-file"
    CHANGED_WHILE_READING = "changed-while-reading"
    NAME_TOO_LONG = "name-too-long"
    UNICODE_NORMALIZATION = "unicode-normalization"
    IO_ERROR = "io-error"
    AMBIGUOUS_MATCH = "ambiguous-match"
    ROOT_EMPTY = "root-empty"  # a root folder with nothing in it where the catalog knew folders: not mounted?
    CHANGED_UNDER_SAME_MTIME = "changed-under-same-mtime"  # a re-hash found new content behind the same size and mtime


@dataclass(frozen=True, slots=True)
class RehashScope:
    """The files a scrub reads again whatever their size and mtime say: whole roots, folders, or named files.

    ``folders`` are ``(root, relative folder)`` pairs (``""`` for the whole
    root); ``files`` are ``(root, relative path)`` pairs, such as an entity's
    catalogued files.
    """

    folders: frozenset[tuple[str, str]] = frozenset()
    files: frozenset[tuple[str, str]] = frozenset()

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(sorted({root for root, _ in self.folders | self.files}))

    def covers(self, root: str, relative: str) -> bool:
        if (root, relative) in self.files:
            return True
        return any(r == root and (not folder or relative == folder or relative.startswith(folder + "/"))
                   for r, folder in self.folders)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    root: str
    relative: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "root": self.root, "path": self.relative, "message": self.message}


# -- catalog records and reconcile plans ------------------------------------------------
# Values exchanged between the catalog (which reads and writes them), the pure
# planner (bifrostd.reconcile.plan) and the commands that print plans.


class FileStatus(str, Enum):
    """Whether a catalogued file is on disk. Missing records keep their history."""

    PRESENT = "present"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class EntityRow:
    """One entity as the catalog stores it; ``parent`` is the parent's URI (None at the top)."""

    kind: str
    uri: str
    name: str
    keys_json: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class Classification:
    """What the templates say about a path: template, typed fields (canonical JSON), entity, sequence.

    ``entities`` is the entity's ancestry from the top down (the entity last),
    so an executor can create parents before children. ``sequence`` names the
    frame sequence a frame file belongs to (template + fields minus the frame).
    An unmanaged path has ``template`` None; ``candidates`` lists the templates
    of an ambiguous match.
    """

    template: str | None = None
    fields_json: str = "{}"
    entities: tuple[EntityRow, ...] = ()
    sequence: str | None = None
    frame: int | None = None
    candidates: tuple[str, ...] = ()

    @property
    def entity_uri(self) -> str | None:
        return self.entities[-1].uri if self.entities else None

    def same_as(self, other: Classification) -> bool:
        """Equal in what the catalog stores (template, fields, entity, sequence, frame)."""
        return (self.template, self.fields_json, self.entity_uri, self.sequence, self.frame) == (
            other.template, other.fields_json, other.entity_uri, other.sequence, other.frame)


UNMANAGED = Classification()


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file as the catalog knows it (the planner's view of one row)."""

    id: int
    root: str
    relative: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    uid: int
    hash: str | None
    classification: Classification
    fingerprint: str
    status: FileStatus = FileStatus.PRESENT

    @property
    def signature(self) -> tuple[int, int, int]:
        return (self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True, slots=True)
class Add:
    """A file not in the catalog appeared."""

    observed: FileState
    classification: Classification


@dataclass(frozen=True, slots=True)
class Update:
    """A known file's metadata or content changed, or a missing file came back."""

    record: FileRecord
    observed: FileState
    hash: str | None
    reappeared: bool = False


@dataclass(frozen=True, slots=True)
class Move:
    """A known file is now at another path (same inode and device, or same size and hash)."""

    record: FileRecord
    observed: FileState
    hash: str | None
    classification: Classification


@dataclass(frozen=True, slots=True)
class Vanish:
    """A known file is no longer on disk; the record stays, marked missing."""

    record: FileRecord


@dataclass(frozen=True, slots=True)
class Rematch:
    """The templates now say something else about a known path (or were re-derived)."""

    record: FileRecord
    classification: Classification
    fingerprint: str

    @property
    def changed(self) -> bool:
        return not self.record.classification.same_as(self.classification)


Action = Add | Update | Move | Vanish | Rematch


@dataclass(frozen=True, slots=True)
class DirState:
    """A folder a walk listed completely, with its mtime taken before listing."""

    root: str
    relative: str
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Catalog changes computed without side effects; executing them is the catalog's job.

    ``dirs`` are the folders to remember for pruning the next walk and
    ``dirs_gone`` the folders to forget; an executor writes them only after every
    file action, so an interrupted apply never hides a folder's changes.
    """

    actions: tuple[Action, ...] = ()
    findings: tuple[Finding, ...] = ()
    dirs: tuple[DirState, ...] = ()
    dirs_gone: tuple[tuple[str, str], ...] = ()
    fingerprint: str = ""

    @property
    def empty(self) -> bool:
        """True when no file would change (folder bookkeeping alone is not a change)."""
        return not self.actions

    def count(self, kind: type) -> int:
        return sum(1 for action in self.actions if type(action) is kind)


# -- what a walk saw and what the catalog holds: the planner's inputs ----------------------------
RootDir = tuple[str, str]


@dataclass(frozen=True, slots=True)
class WalkScope:
    """Which folders a walk saw. ``roots`` are the roots walked from the top.

    ``listed`` folders were listed completely; ``skipped`` ones were not listed
    because their mtime was unchanged; ``failed`` ones could not be read.
    """

    roots: frozenset[str]
    listed: frozenset[RootDir] = frozenset()
    skipped: frozenset[RootDir] = frozenset()
    failed: frozenset[RootDir] = frozenset()

    def absence_proves_gone(self, root: str, folder: str) -> bool:
        """True when a file of ``folder`` that was not observed is truly gone."""
        if root not in self.roots:
            return False
        key = (root, folder)
        if key in self.listed:
            return True
        while True:
            if key in self.skipped or key in self.failed:
                return False
            if key in self.listed:
                return True
            if not key[1]:
                return False
            key = (root, parent_dir(key[1]))

    @property
    def visited(self) -> frozenset[RootDir]:
        return self.listed | self.skipped | self.failed


@dataclass(frozen=True, slots=True)
class Observations:
    """What a walk (or a watcher's re-stat of dirty paths) saw."""

    files: tuple[FileState, ...]
    scope: WalkScope
    dirs: tuple[DirState, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class CatalogView:
    """The records a plan may touch, and the folders the catalog remembers (with mtimes).

    For a pruned walk the catalog loads only the records of listed folders,
    of folders that are gone, and the missing records (move candidates).
    """

    records: tuple[FileRecord, ...] = ()
    dirs: Mapping[RootDir, int] = field(default_factory=dict)


def parent_dir(relative: str) -> str:
    return relative.rpartition("/")[0]
