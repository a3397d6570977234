"""A damaged catalog file: SQLite's reports of damage translated to :class:`CatalogCorrupt`, and the checks.

SQLite meets damage where it reads it: a page that is not what its b-tree
expects raises SQLITE_CORRUPT ("database disk image is malformed") from
whichever statement, or row, touched it; a header that is not SQLite's
raises SQLITE_NOTADB ("file is not a database") on the first statement. So
damage surfaces as ``sqlite3.DatabaseError`` anywhere below the catalog's
door. :func:`translated` turns those, and a full disk (SQLITE_FULL), into
Bifrost errors that say what to do; any other SQLite error is left as it is:
it is a bug, and shows its traceback.

Where the translation happens (``store.Catalog``): opening, every method,
the iterators methods return, and the end of a ``with Catalog.open(...)``
block, which covers what the mirror's ``MirrorState`` reads inside it. Rows
are not wrapped one by one: that would tax every query for an error that
almost never happens.

A writer runs ``PRAGMA quick_check`` before it writes anything (before
migrations too): SQLite refuses to write into a page it knows is bad, but a
damaged free-page list can make a write spread the damage. It reads every
page (about 3 s for a million files from the page cache, up to 15 s from
disk; ``bench/catalog_check.py``) and checks each b-tree's structure, not that
the indexes agree with their tables: that is ``PRAGMA integrity_check``
(five times slower), which ``bifrostctl catalog check`` runs.

The check is skipped when the writer opens the very file the last writer
closed cleanly: on a clean close (every page checkpointed into the file, no
write-ahead log left, no damage met), the writer leaves a small record of the
file's identity beside it (device, inode, size, mtime and ctime, in
``catalog.db.sound``), and the next writer takes that record away before it
writes. A crash, any write by another program (a copy, a restore, a disk
that flipped a page under a write), a write-ahead log left behind or a
moved file gives no record, or one that does not match, and the check runs.
So a ``bifrostctl scan`` after a clean one does not read a million-file
catalog twice, and nothing damaged since the last check goes unchecked
unless it was damaged without its size, times or inode changing (bit rot in
place, which ``catalog check`` and the scrub of the mirror exist for).
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..atomic_write import write_atomic
from ..errors import CatalogCorrupt, CatalogError, CatalogMissing

SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26
#: Their messages, for an error that lacks its code (raised by a wrapper, or an old Python).
_DAMAGE = ("database disk image is malformed", "file is not a database")
_FULL = "database or disk is full"
#: Problems a check lists at most (SQLite stops counting there).
CHECK_LIMIT = 100


def translated(error: BaseException, path: Path) -> CatalogError | None:
    """The Bifrost error an SQLite error stands for, or None when it is not one a user can act on."""
    if not isinstance(error, sqlite3.DatabaseError):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None  # extended codes carry the primary in the low byte
    text = str(error)
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or any(m in text for m in _DAMAGE):
        return CatalogCorrupt(path=path, why=text)
    if primary == SQLITE_FULL or _FULL in text:
        return CatalogError(f"the disk holding the catalog {path} is full ({text}); free space there and try again")
    return None


@contextmanager
def guard(path: Path) -> Iterator[None]:
    """Raise the Bifrost error an SQLite error in the block stands for (chained to it)."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        found = translated(error, path)
        if found is None:
            raise
        raise found from error


def problems(conn: sqlite3.Connection, *, quick: bool = True, limit: int = CHECK_LIMIT) -> list[str]:
    """What ``quick_check`` (or ``integrity_check``) finds: [] for a sound catalog. Reads only."""
    pragma = "quick_check" if quick else "integrity_check"
    found = [row[0] for row in conn.execute(f"PRAGMA {pragma}({int(limit)})")]
    return [] if found == ["ok"] else found


def _identity(path: Path) -> list[int] | None:
    """The file's identity as a clean close leaves it: None while a write-ahead log holds pages for it."""
    try:
        if Path(f"{path}-wal").stat().st_size:
            return None
    except FileNotFoundError:
        pass
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _sound_record(path: Path) -> Path:
    return path.with_name(path.name + ".sound")


def vouch_sound(path: Path) -> None:
    """After the writer's clean close: record the file as it was left, for the next writer (see the docstring)."""
    identity = _identity(path)
    if identity is None:  # a reader kept the log open: nothing to vouch for
        return
    try:
        write_atomic(_sound_record(path), json.dumps(identity).encode(), mode=0o640)
    except OSError:  # a full disk: the next writer checks, as it would without the record
        pass


def take_vouch(path: Path) -> bool:
    """Whether the file is as the last writer closed it cleanly; the record is gone after (before any write)."""
    record = _sound_record(path)
    try:
        text = record.read_bytes()
        record.unlink()
    except OSError:  # none (a crash, a first open) or unreadable: check
        return False
    try:
        return bool(json.loads(text) == _identity(path))
    except ValueError:
        return False


def require_sound(conn: sqlite3.Connection, path: Path) -> None:
    """Raise CatalogCorrupt unless a quick check finds nothing wrong (a writer calls this before writing)."""
    with guard(path):
        found = problems(conn, quick=True, limit=CHECK_LIMIT)
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise CatalogCorrupt(path=path, why=f"{found[0]}{more}")


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``bifrostctl catalog check`` found."""

    path: Path
    quick: bool
    problems: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"catalog": str(self.path), "quick": self.quick, "ok": self.ok, "problems": list(self.problems),
                "seconds": round(self.seconds, 3)}


def check_file(path: Path, *, quick: bool = False, limit: int = CHECK_LIMIT,
               clock: Callable[[], float] = time.perf_counter) -> CheckReport:
    """Check the catalog at ``path`` without writing to it; damage is a finding, never an exception.

    Opened read-only (``mode=ro``): no migration, no checkpoint. A running
    writer is no obstacle, WAL gives the check a consistent snapshot.
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogMissing(path=path)
    started = clock()
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.DatabaseError as error:
        return CheckReport(path, quick, (_damage(error, path),), clock() - started)
    try:
        found = tuple(problems(conn, quick=quick, limit=limit))
    except sqlite3.DatabaseError as error:
        found = (_damage(error, path),)
    finally:
        conn.close()
    return CheckReport(path, quick, found, clock() - started)


def _damage(error: sqlite3.DatabaseError, path: Path) -> str:
    """A check's finding for an error that stopped it; an error that is not damage is raised."""
    found = translated(error, path)
    if found is None:
        raise error
    if not isinstance(found, CatalogCorrupt):
        raise found from error
    return str(error)
