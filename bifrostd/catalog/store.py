"""The catalog object: one SQLite database, opened for writing (one process) or reading (any).

This is the seam every other module uses; nothing outside this subpackage
speaks SQL, so a PostgreSQL catalog for multi-server studios replaces what is
behind these methods and nothing in front of them. No ``sqlite3`` error a
user can act on leaves it as such: its methods, and the end of a ``with``
block around queries on :attr:`Catalog.conn`, raise the Bifrost error it
stands for (``integrity``).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from sqlite_utils import Database

from ..errors import CatalogError
from ..model import FileRecord, Plan
from ..model import CatalogView, WalkScope
from . import scans
from .connection import WriterLock, open_database
from .files import Applier, forget_records, load_dirs, load_records, load_signatures, load_view, missing_records
from .integrity import guard, translated
from .location import MountTable, system_mounts
from .mirror_state import mark_interrupted_runs
from .migrations import applied_migrations

Method = TypeVar("Method", bound=Callable[..., Any])


def _guarded(method: Method) -> Method:
    """Run ``method`` under :func:`integrity.guard`: damage it meets raises CatalogCorrupt."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with guard(self.path):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Catalog:
    """A catalog database. Use :meth:`open` as a context manager."""

    def __init__(self, path: Path, db: Database, *, writable: bool, lock: WriterLock | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        self.db = db
        self.writable = writable
        self.clock = clock
        self._lock = lock

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
            db = open_database(path, write=write, mounts=mounts)
        except BaseException:
            if lock:
                lock.release()
            raise
        catalog = cls(path, db, writable=write, lock=lock if write else None, clock=clock)
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
        scans.mark_interrupted(self.conn)
        mark_interrupted_runs(self.conn)

    def sibling(self) -> Catalog:
        """A second writing connection for another thread of this process (the daemon's mirror worker).

        It shares this catalog's writer lock, so it takes none and runs no
        migrations; SQLite (WAL, busy timeout) serialises the two connections'
        transactions. Close it before this one.
        """
        if not self.writable:
            raise CatalogError("only the catalog's writer can open a sibling writing connection")
        return type(self)(self.path, open_database(self.path, write=False), writable=True, clock=self.clock)

    def close(self) -> None:
        self.db.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        self.close()
        found = translated(error, self.path) if error is not None else None
        if found is not None:
            raise found from error

    @property
    def conn(self):
        return self.db.conn

    @_guarded
    def migrations(self) -> list[str]:
        return applied_migrations(self.db)

    # -- reconcile -------------------------------------------------------------------
    @_guarded
    def view(self, scope: WalkScope, *, whole: bool = False) -> CatalogView:
        return load_view(self.conn, scope, whole=whole)

    @_guarded
    def signatures(self, roots, fingerprint: str, *, hashed: bool) -> dict[str, dict[str, tuple]]:
        """Every record of ``roots`` as a compact signature (see ``files.load_signatures``)."""
        return load_signatures(self.conn, roots, fingerprint, hashed=hashed)

    @_guarded
    def records(self, roots, ids) -> CatalogView:
        """A view holding the records with ``ids``, and the remembered folders of ``roots``."""
        return load_records(self.conn, roots, ids)

    @_guarded
    def dirs(self, roots) -> dict[tuple[str, str], int]:
        """The remembered folder mtimes of ``roots``: the walker's prior view for pruning."""
        return load_dirs(self.conn, roots)

    @_guarded
    def dir_count(self, root: str) -> int:
        """How many folders of ``root`` the last walks remembered (the root folder included)."""
        return self.conn.execute("SELECT count(*) FROM dirs WHERE root = ?", (root,)).fetchone()[0]

    @_guarded
    def file_totals(self, root: str) -> tuple[int, int]:
        """(files, bytes) of the present records of ``root`` a rolling pass can name by path (UTF-8 names)."""
        row = self.conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM files "
                                "WHERE root = ? AND state = 'present' AND raw = x''", (root,)).fetchone()
        return int(row[0]), int(row[1])

    @_guarded
    def files_after(self, root: str, after: str, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` (path, size) of the present records of ``root`` after ``after``, in path order.

        Names that are not UTF-8 are left out: a path can't name them, and a
        full walk lists them anyway.
        """
        return [(path, size) for path, size in self.conn.execute(
            "SELECT path, size FROM files WHERE root = ? AND path > ? AND state = 'present' AND raw = x'' "
            "ORDER BY path LIMIT ?", (root, after, limit))]

    @_guarded
    def apply(self, plan: Plan, *, source: str = "scan", scan_id: int | None = None, batch_size: int = 20000,
              progress: Callable[[int], None] | None = None) -> int:
        self._require_writer()
        applier = Applier(self.conn, source=source, scan_id=scan_id, clock=self.clock)
        return applier.apply(plan, batch_size=batch_size, progress=progress)

    # -- forgetting ---------------------------------------------------------------
    @_guarded
    def missing(self, *, root: str | None = None, folder: str = "", entity_id: int | None = None) -> list[FileRecord]:
        """Missing records: every one, those at or below ``folder`` of ``root``, or those of an entity's subtree."""
        return missing_records(self.conn, root=root, folder=folder, entity_id=entity_id)

    @_guarded
    def forget(self, ids: Sequence[int], *, source: str = "command") -> list[int]:
        """Delete the records with ``ids`` that are still missing (logging each); returns the ids deleted."""
        self._require_writer()
        return forget_records(self.conn, ids, source=source, now_ns=self.clock())

    # -- scans -----------------------------------------------------------------------
    @_guarded
    def begin_scan(self, *, root: str | None, full: bool, fingerprint: str, source: str = "scan") -> int:
        self._require_writer()
        return scans.begin_scan(self.conn, root=root, full=full, fingerprint=fingerprint, source=source,
                                now_ns=self.clock())

    @_guarded
    def finish_scan(self, scan_id: int, *, counts: dict[str, int], findings, duration_s: float) -> None:
        self._require_writer()
        scans.finish_scan(self.conn, scan_id, counts=counts, findings=findings, duration_s=duration_s,
                          now_ns=self.clock())

    @_guarded
    def last_scan(self) -> scans.ScanRecord | None:
        return scans.last_scan(self.conn)

    @_guarded
    def release_memory(self) -> None:
        """Drop the page cache built up by a big walk; an idle daemon needs little of it."""
        self.conn.execute("PRAGMA shrink_memory")

    @_guarded
    def integrity(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def _require_writer(self) -> None:
        if not self.writable:
            raise CatalogError("the catalog was opened read-only")
