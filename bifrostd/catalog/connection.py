"""Opening the catalog database: location check, pragmas, migrations, the writer lock.

One process writes (the daemon, or a one-shot ``bifrostctl scan`` when no
daemon runs); it holds an exclusive ``flock`` on ``catalog.db.lock`` for as
long as it is open for writing. Readers take no lock: WAL lets them read a
consistent snapshot while the writer commits. Connections use explicit
transactions only (``isolation_level=None``), so nothing commits behind the
executor's back. A reader gets a plain ``sqlite3`` connection: sqlite-utils
(about 50 ms to import) is loaded only by a writer, for the migrations.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import CatalogBusy, CatalogError, CatalogMissing
from .state_folder import make_folder, open_private
from .integrity import require_sound, take_vouch, translated
from ..observe.mounts import MountTable, system_mounts
from .location import check_local

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
    "PRAGMA recursive_triggers=ON",  # as sqlite-utils sets it, which every connection used to be opened through
)


class WriterLock:
    """An exclusive, non-blocking lock marking the one writer of a catalog."""

    def __init__(self, catalog_path: Path) -> None:
        self.path = catalog_path.with_name(catalog_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: SQLite's own locking is the only guard
            return
        make_folder(self.path.parent)
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CatalogBusy(f"another process is writing the catalog {self.path.with_suffix('')}; if it is "
                              "bifrostd, it already keeps the catalog current and runs the mirror schedule "
                              "('bifrostctl daemon status'); to run this command yourself, stop it first "
                              "('bifrostctl daemon stop')") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_database(path: Path, *, write: bool, mounts: MountTable = system_mounts) -> sqlite3.Connection:
    """A connection with the catalog's pragmas; a writer also checks the file and brings the schema up to
    date. Damage and a full disk raise their own errors (``integrity``)."""
    check_local(path, mounts=mounts)
    if not write and not path.exists():
        raise CatalogMissing(path=path)
    vouched = False
    if write:
        make_folder(path.parent)
        if not path.exists():  # SQLite gives the -wal and -shm files the database file's own mode
            os.close(open_private(path, os.O_RDONLY))
        vouched = take_vouch(path)  # as the last writer closed it cleanly: no need to check it again
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"cannot open the catalog {path}: {exc}") from exc
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        if write:
            from .migrations import apply_migrations

            if not vouched:
                require_sound(conn, path)  # before the migrations: nothing is written into a damaged file
            apply_migrations(conn)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise translated(exc, path) or CatalogError(f"cannot open the catalog {path}: {exc}") from exc
        raise
    return conn


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row the INSERT run by ``cursor`` added (sqlite3 leaves lastrowid None only before one)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (including KeyboardInterrupt)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")



@contextmanager
def foreign_keys_checked_at_end(conn: sqlite3.Connection) -> Iterator[Callable[[], None]]:
    """Foreign keys off for a bulk load, back on after it whatever happens; yields the check to run at its end.

    Enter it outside any transaction (the pragma is a no-op inside one).
    With keys on, every inserted file row looks up its folder, entity and
    sequence, and every event its folder: about a sixth of a first index's
    apply. The load calls the yielded check inside its transaction before
    committing: it raises ``CatalogError`` (so the load rolls back) for any
    row naming a missing parent that was not already so before the load,
    which is exactly what per-row checks would have refused. The pragma is
    per connection and not stored, so a kill -9 leaves nothing of it behind.
    """
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        before = _dangling(conn)
        yield lambda: _refuse_new_dangling(conn, before)
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def _dangling(conn: sqlite3.Connection) -> set[tuple]:
    """(table, rowid, parent, key) of every row naming a missing parent: a search of each child table."""
    return {tuple(row) for row in conn.execute("PRAGMA foreign_key_check")}


def _refuse_new_dangling(conn: sqlite3.Connection, before: set[tuple]) -> None:
    found = sorted(_dangling(conn) - before, key=str)
    if found:
        raise CatalogError(f"a bulk load would leave rows naming missing parents (table, rowid, parent): "
                           f"{[row[:3] for row in found[:5]]}; nothing was written")
