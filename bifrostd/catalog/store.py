"""The catalog object: one SQLite database, opened for writing (one process) or reading (any).

This is the seam every other module uses; nothing outside this subpackage
speaks SQL or holds the connection (``tests/test_layers.py`` checks), so a
PostgreSQL catalog for multi-server studios replaces what is behind these
methods and nothing in front of them. Methods take and return model values
(``bifrostd.model``) or the catalog's own frozen record types (``queries``,
``events``, ``scans``), never rows or cursors. No ``sqlite3`` error a user
can act on leaves it as such: its methods, the iterators they return, and
the end of a ``with`` block raise the Bifrost error it stands for
(``integrity``).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Mapping, Sequence, TypeVar

from ..authored import SidecarRead
from ..errors import CatalogCorrupt, CatalogError
from ..model import EntityRow, FileRecord, Plan
from ..model import CatalogView, KnownFile, WalkScope
from . import queries, scans
from .authored import AuthoredRow, authored_folders, authored_row, broken_sidecars, index_sidecar
from .connection import WriterLock, open_database
from .dirty_view import dirty_view
from .events import Event, read_log
from .files import Applier, forget_records, load_dirs, load_records, load_signatures, load_view, missing_records
from .integrity import guard, translated, vouch_sound
from .location import MountTable, system_mounts
from .search import SearchHit, SearchQuery, incoming_links, search, tags_of

Method = TypeVar("Method", bound=Callable[..., Any])


def _guarded(method: Method) -> Method:
    """Run ``method`` under :func:`integrity.guard`: damage it meets raises CatalogCorrupt."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        try:
            with guard(self.path):
                return method(self, *args, **kwargs)
        except CatalogCorrupt:
            self.damaged = True
            raise

    return wrapper  # type: ignore[return-value]


class _Health:
    """Whether a catalog's connections met damage."""

    __slots__ = ("damaged",)

    def __init__(self) -> None:
        self.damaged = False


class Catalog:
    """A catalog database. Use :meth:`open` as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, writable: bool, lock: WriterLock | None = None,
                 clock: Callable[[], int] = time.time_ns, health: _Health | None = None) -> None:
        self.path = path
        self._connection = conn
        self.writable = writable
        self.clock = clock
        self._lock = lock
        self._health = health if health is not None else _Health()  # shared with its siblings

    @classmethod
    def open(cls, path: Path, *, write: bool = False, mounts: MountTable = system_mounts,
             clock: Callable[[], int] = time.time_ns, lock: WriterLock | None = None) -> Catalog:
        """Open for reading, or for writing (taking the writer lock, checking the file, migrating, marking
        stale scans). ``lock`` is a writer lock the caller holds already; it is released with the catalog
        (or at once, when opening fails)."""
        path = Path(path)
        if write and lock is None:
            lock = WriterLock(path)
            lock.acquire()
        try:
            conn = open_database(path, write=write, mounts=mounts)
        except BaseException:
            if lock:
                lock.release()
            raise
        catalog = cls(path, conn, writable=write, lock=lock if write else None, clock=clock)
        if write:
            try:
                catalog.mark_interrupted()
            except BaseException:
                catalog.close()
                raise
        return catalog

    @_guarded
    def mark_interrupted(self) -> None:
        """Record scans and mirror runs that a dead writer left running as interrupted."""
        from .mirror_state import mark_interrupted_runs  # a writer's concern: readers don't load it

        scans.mark_interrupted(self._conn)
        mark_interrupted_runs(self._conn)

    def sibling(self) -> Catalog:
        """A second writing connection for another thread of this process (the daemon's mirror worker).

        It shares this catalog's writer lock, so it takes none and runs no
        migrations; SQLite (WAL, busy timeout) serialises the two connections'
        transactions. Close it before this one.
        """
        if not self.writable:
            raise CatalogError("only the catalog's writer can open a sibling writing connection")
        return type(self)(self.path, open_database(self.path, write=False), writable=True, clock=self.clock,
                          health=self._health)

    @property
    def damaged(self) -> bool:
        """Damage was met, through this connection or a sibling: the close vouches for nothing
        (``integrity.vouch_sound``)."""
        return self._health.damaged

    @damaged.setter
    def damaged(self, value: bool) -> None:
        self._health.damaged = value

    def close(self) -> None:
        """Close; the writer that holds the lock and met no damage leaves the file vouched for as sound."""
        self._connection.close()
        if self._lock:
            if not self.damaged:
                vouch_sound(self.path)
            self._lock.release()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        found = translated(error, self.path) if error is not None else None
        self.damaged = self.damaged or isinstance(found, CatalogCorrupt) or isinstance(error, CatalogCorrupt)
        self.close()
        if found is not None:
            raise found from error

    @property
    def _conn(self) -> Any:
        """The SQLite connection: for this subpackage only (``MirrorState.of``, tests of its internals)."""
        return self._connection

    @_guarded
    def migrations(self) -> list[str]:
        from .migrations import applied_migrations

        return applied_migrations(self._conn)

    # -- reconcile -------------------------------------------------------------------
    @_guarded
    def view(self, scope: WalkScope, *, whole: bool = False, dirs: Mapping[tuple[str, str], int] | None = None
             ) -> CatalogView:
        """The records a walk with ``scope`` may change (``files.load_view``); ``dirs``: the remembered folders,
        when the caller read them already (``dirs()``) and has not written since."""
        return load_view(self._conn, scope, whole=whole, dirs=dirs)

    @_guarded
    def signatures(self, roots, fingerprint: str, *, hashed: bool) -> dict[str, dict[str, KnownFile]]:
        """Every record of ``roots`` as a compact signature, by root and relative path (see ``files.load_signatures``)."""
        return load_signatures(self._conn, roots, fingerprint, hashed=hashed)

    @_guarded
    def records(self, roots, ids, *, dirs: Mapping[tuple[str, str], int] | None = None) -> CatalogView:
        """A view holding the records with ``ids``, and the remembered folders of ``roots`` (``dirs`` when
        the caller read them already)."""
        return load_records(self._conn, roots, ids, dirs=dirs)

    @_guarded
    def dirs(self, roots) -> dict[tuple[str, str], int]:
        """The remembered folder mtimes of ``roots``: the walker's prior view for pruning."""
        return load_dirs(self._conn, roots)

    @_guarded
    def dir_count(self, root: str) -> int:
        """How many folders of ``root`` the last walks remembered (the root folder included)."""
        return self._conn.execute("SELECT count(*) FROM dirs WHERE root = ?", (root,)).fetchone()[0]

    @_guarded
    def file_totals(self, root: str) -> tuple[int, int]:
        """(files, bytes) of the present records of ``root`` a rolling pass can name by path (UTF-8 names)."""
        row = self._conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM files "
                                "WHERE root = ? AND state = 'present' AND raw = x''", (root,)).fetchone()
        return int(row[0]), int(row[1])

    @_guarded
    def files_after(self, root: str, after: str, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` (path, size) of the present records of ``root`` after ``after``, in path order.

        Names that are not UTF-8 are left out: a path can't name them, and a
        full walk lists them anyway.
        """
        return [(path, size) for path, size in self._conn.execute(
            "SELECT path, size FROM files WHERE root = ? AND path > ? AND state = 'present' AND raw = x'' "
            "ORDER BY path LIMIT ?", (root, after, limit))]

    @_guarded
    def dirty_view(self, root: str, files: Iterable[str], folders: Iterable[str],
                   inodes: Iterable[tuple[int, int]]) -> CatalogView:
        """The planner's view for a batch of the watcher's dirty paths of ``root``: the records at ``files``,
        the records and remembered folders under ``folders``, and the missing records with one of ``inodes``
        ((device, inode) pairs: sources of a move). Costs in proportion to the batch, not the catalog."""
        return dirty_view(self._conn, root, files, folders, inodes)

    @_guarded
    def apply(self, plan: Plan, *, source: str = "scan", scan_id: int | None = None, batch_size: int = 20000,
              progress: Callable[[int], None] | None = None) -> int:
        self._require_writer()
        applier = Applier(self._conn, source=source, scan_id=scan_id, clock=self.clock)
        return applier.apply(plan, batch_size=batch_size, progress=progress)

    # -- authored data (sidecars) ---------------------------------------------------
    @_guarded
    def index_sidecar(self, root: str, folder: str, read: SidecarRead, entity: Sequence[EntityRow] = ()) -> None:
        """Record the sidecar of ``folder`` as read: good data replaces, a broken read keeps the last good.

        ``entity`` is the chain of rows (parents first) of the entity whose folder it is: the entity is
        catalogued with the sidecar, so one made by ``bifrostctl create`` is known before it has files.
        """
        self._require_writer()
        index_sidecar(self._conn, root, folder, read, self.clock(), entity)

    @_guarded
    def authored(self, root: str, folder: str) -> AuthoredRow | None:
        """What the catalog knows of the sidecar of ``folder`` (None: no sidecar was ever indexed there)."""
        return authored_row(self._conn, root, folder)

    @_guarded
    def authored_folders(self) -> list[tuple[str, str]]:
        """(root, folder) of every folder holding a sidecar the catalog indexed: the entities people made
        or authored something about (``skeleton check`` holds them to their folder skeleton)."""
        return authored_folders(self._conn)

    @_guarded
    def broken_sidecars(self) -> list[AuthoredRow]:
        """Every folder whose sidecar is broken now, with its problems and its last good values."""
        return broken_sidecars(self._conn)

    # -- search ------------------------------------------------------------------------
    @_guarded
    def search(self, query: SearchQuery) -> list[SearchHit]:
        """The entities matching ``query`` (FTS5 over names, paths and authored text), best first."""
        return search(self._conn, query)

    @_guarded
    def links_to(self, uri: str) -> list[tuple[str, str]]:
        """(uri, kind) of every entity whose sidecar links to ``uri``: the other direction of links."""
        return incoming_links(self._conn, uri)

    @_guarded
    def tags_of(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The tags of the entities with ``ids`` as their sidecars say (entities without tags left out)."""
        return tags_of(self._conn, list(ids))

    # -- forgetting ---------------------------------------------------------------
    @_guarded
    def missing(self, *, root: str | None = None, folder: str = "", entity_id: int | None = None) -> list[FileRecord]:
        """Missing records: every one, those at or below ``folder`` of ``root``, or those of an entity's subtree."""
        return missing_records(self._conn, root=root, folder=folder, entity_id=entity_id)

    @_guarded
    def forget(self, ids: Sequence[int], *, source: str = "command") -> list[int]:
        """Delete the records with ``ids`` that are still missing (logging each); returns the ids deleted."""
        self._require_writer()
        return forget_records(self._conn, ids, source=source, now_ns=self.clock())

    # -- scans -----------------------------------------------------------------------
    @_guarded
    def begin_scan(self, *, root: str | None, full: bool, fingerprint: str, source: str = "scan") -> int:
        self._require_writer()
        return scans.begin_scan(self._conn, root=root, full=full, fingerprint=fingerprint, source=source,
                                now_ns=self.clock())

    @_guarded
    def finish_scan(self, scan_id: int, *, counts: dict[str, int], findings, duration_s: float) -> None:
        self._require_writer()
        scans.finish_scan(self._conn, scan_id, counts=counts, findings=findings, duration_s=duration_s,
                          now_ns=self.clock())

    @_guarded
    def last_scan(self) -> scans.ScanRecord | None:
        return scans.last_scan(self._conn)

    @_guarded
    def mark_scans_interrupted(self) -> int:
        """Record the scans left running (one cut short at a batch boundary) as interrupted; returns how many.

        Unlike :meth:`mark_interrupted`, mirror runs are left alone: the
        daemon's mirror worker may be running one on its sibling connection.
        """
        self._require_writer()
        return scans.mark_interrupted(self._conn)

    # -- read models for commands: status, drift, log, targets ------------------------------
    @_guarded
    def status(self) -> queries.Status:
        """Counts per entity kind and file state, drift in brief, the last scan."""
        return queries.status(self._conn)

    @_guarded
    def count_missing(self) -> int:
        """How many records are not present on disk."""
        return queries.count_missing(self._conn)

    @_guarded
    def unmanaged_by_folder(self, *, examples: int = 3, limit: int = 200) -> list[queries.FolderGroup]:
        """Present files no template matches, grouped by folder, biggest groups first."""
        return queries.unmanaged_by_folder(self._conn, examples=examples, limit=limit)

    @_guarded
    def missing_files(self, *, limit: int = 1000) -> list[FileRecord]:
        """The first ``limit`` missing records in (root, path) order: drift's listing (see :meth:`missing`)."""
        return queries.missing_files(self._conn, limit=limit)

    @_guarded
    def gaps(self, *, limit: int = 1000) -> list[queries.Gap]:
        """Frame sequences with frames missing between their first and last."""
        return queries.gaps(self._conn, limit=limit)

    def present_records(self, *, other_than: str | None = None) -> Generator[FileRecord, None, None]:
        """Present records, streamed; with ``other_than``, only those matched by another template set.

        A writer finishes or closes the iterator before it writes (SQLite
        would otherwise hold the read open across the write). Damage met while
        iterating raises the Bifrost error, like a method.
        """
        try:
            with guard(self.path):
                yield from queries.present_records(self._conn, other_than=other_than)
        except CatalogCorrupt:
            self.damaged = True
            raise

    @_guarded
    def entity_by_uri(self, uri: str) -> queries.EntityInfo | None:
        """The catalogued entity with the canonical ``uri`` (``bifrost:///kind/...``), or None."""
        return queries.entity_by_uri(self._conn, uri)

    @_guarded
    def entity_file_paths(self, entity_id: int) -> list[tuple[str, str]]:
        """(root, relative path) of every present file of an entity and the entities below it."""
        return queries.entity_file_paths(self._conn, entity_id)

    @_guarded
    def events(self, *, since_ns: int = 0, limit: int = 100, kind: str | None = None,
               entity_uri: str | None = None) -> list[Event]:
        """The activity log, newest first: at most ``limit`` events at or after ``since_ns``."""
        return list(read_log(self._conn, since_ns=since_ns, limit=limit, kind=kind, entity_uri=entity_uri))

    # -- read models for ls, versions, version=latest and the Python API ----------------------
    @_guarded
    def entities(self, kind: str | None = None) -> list[queries.EntityInfo]:
        """Every entity of ``kind`` (of every kind, for None), in URI order."""
        return queries.entities_of_kind(self._conn, kind)

    @_guarded
    def children(self, entity_id: int | None) -> list[queries.EntityInfo]:
        """The entities right below an entity (the top-level ones, for None), in natural name order."""
        return queries.children(self._conn, entity_id)

    @_guarded
    def entity_files(self, entity_id: int) -> tuple[list[queries.FileRow], list[queries.SequenceInfo]]:
        """An entity's own files, every state: single files, and frames collapsed into sequences."""
        return queries.entity_files(self._conn, entity_id)

    @_guarded
    def files_below(self, entity_id: int) -> list[queries.FileRow]:
        """The present files of an entity and of the entities below it, in (root, path) order."""
        return queries.files_below(self._conn, entity_id)

    @_guarded
    def files_under(self, root: str, folder: str, *, limit: int = 5000) -> list[queries.FileRow]:
        """The files at or below a root-relative folder ("" for the whole root), every state."""
        return queries.files_under(self._conn, root, folder, limit=limit)

    @_guarded
    def versions(self, entity_id: int, version_field: str) -> list[queries.VersionInfo]:
        """The versions at or below an entity with their files, by task then number."""
        return queries.versions(self._conn, entity_id, version_field)

    @_guarded
    def version_entities(self, entity_id: int) -> list[queries.EntityInfo]:
        """The version entities at or below an entity, with their present file counts (no file rows)."""
        return queries.descendants(self._conn, entity_id, "version")

    @_guarded
    def versions_newest_first(self, entity_id: int, version_field: str) -> list[queries.EntityInfo]:
        """The versions at or below an entity that still have files on disk, the highest number first."""
        return queries.versions_newest_first(self._conn, entity_id, version_field)

    @_guarded
    def has_present_files(self, root: str, relative: str) -> bool:
        """Whether a present file is catalogued at ``relative`` of ``root``, or below it as a folder."""
        return queries.has_present_files(self._conn, root, relative)

    @_guarded
    def sequence_has_frames(self, root: str, pattern: str) -> bool:
        """Whether the frame sequence ``pattern`` (``####`` for the frame) of ``root`` has present frames."""
        return queries.sequence_has_frames(self._conn, root, pattern)

    @_guarded
    def release_memory(self) -> None:
        """Drop the page cache built up by a big walk; an idle daemon needs little of it."""
        self._conn.execute("PRAGMA shrink_memory")

    @_guarded
    def integrity(self) -> str:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def _require_writer(self) -> None:
        if not self.writable:
            raise CatalogError("the catalog was opened read-only")
