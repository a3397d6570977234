"""Mirror bookkeeping: per target, which content sits at which key, and the record of each run.

The mirror planner never lists a bucket to decide what to send: it diffs two
tables here, the catalogued files and ``mirror_objects`` (what Bifrost wrote
to each target), in SQL. A run with nothing to do is two indexed queries that
return no rows.

Invariants a reader could break:
- a row's ``hash`` is the content the object holds, or NULL when that is
  unknown. A transfer marks its key NULL (committed) *before* it starts and
  records the hash only after the object was confirmed, so a run killed at any
  moment leaves every possibly-touched key NULL, and only those are checked
  (one HEAD each) when the run resumes;
- only rows with a known hash are offered as sources of server-side copies;
- ``gone_ns`` is set when no included, present file wants the key any more,
  and cleared when one does again.

Keys are ``<root>/<path>`` with ``path`` the catalog's text form; only files
whose names are valid UTF-8 (``raw`` empty) can be mirrored, the planner
refuses the others.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from .connection import inserted_id, transaction

__all__ = ["IncludeFilter", "MirrorDiff", "MirrorState", "RecordedObject", "RunRecord", "WantedFile"]

NEVER = -1  # a retention cutoff no ``gone_ns`` reaches: unwanted rows are only marked
ALWAYS = 1 << 62  # a cutoff every ``gone_ns`` reaches: unwanted rows are due at once


@dataclass(frozen=True, slots=True)
class IncludeFilter:
    """Which catalogued files a target wants; an empty tuple means all."""

    roots: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # entity kinds: a file is included if its entity or an ancestor has one


@dataclass(frozen=True, slots=True)
class WantedFile:
    """A present, hashed, included file whose key does not (known to) hold its content."""

    root: str
    path: str
    utf8: bool  # False: the name is not valid UTF-8 and has no key
    size: int
    mtime_ns: int
    inode: int
    hash: str
    seen_ns: int  # when the catalog last learned of a change to the file
    recorded: bool  # a row exists for the key
    recorded_hash: str | None
    gone_ns: int | None


@dataclass(frozen=True, slots=True)
class RecordedObject:
    root: str
    path: str
    hash: str | None
    size: int
    gone_ns: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None  # as recorded when the object was confirmed; read by ``sources`` only

    @property
    def key(self) -> str:
        return f"{self.root}/{self.path}"


@dataclass(frozen=True, slots=True)
class MirrorDiff:
    changed: tuple[WantedFile, ...] = ()
    unwanted: tuple[RecordedObject, ...] = ()


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    target: str
    source: str
    started_ns: int
    finished_ns: int | None
    status: str
    planned: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "started_ns": self.started_ns,
                "finished_ns": self.finished_ns, "status": self.status, "planned": self.planned,
                "counts": self.counts, "bytes": self.bytes, "error": self.error}


def _included(include: IncludeFilter) -> tuple[str, list[Any]]:
    """SQL conditions on ``f`` (files) for an include filter, and their parameters."""
    sql = ""
    params: list[Any] = []
    if include.roots:
        sql += f" AND f.root IN ({','.join('?' * len(include.roots))})"
        params += include.roots
    if include.templates:
        sql += f" AND f.template IN ({','.join('?' * len(include.templates))})"
        params += include.templates
    if include.kinds:
        sql += (" AND f.entity_id IN (WITH RECURSIVE chosen(id) AS ("
                f"SELECT id FROM entities WHERE kind IN ({','.join('?' * len(include.kinds))}) "
                "UNION SELECT e.id FROM entities e JOIN chosen c ON e.parent_id = c.id) SELECT id FROM chosen)")
        params += include.kinds
    return sql, params


CHANGED = """
SELECT f.root, f.path, f.raw = x'', f.size, f.mtime_ns, f.inode, f.hash, f.last_seen_ns,
       m.path IS NOT NULL, m.hash, m.gone_ns
FROM files f LEFT JOIN mirror_objects m ON m.target = ? AND m.root = f.root AND m.path = f.path AND f.raw = x''
WHERE f.state = 'present' AND f.hash IS NOT NULL {included}
  AND (m.path IS NULL OR m.hash IS NULL OR m.hash != f.hash OR m.size != f.size OR m.gone_ns IS NOT NULL)
ORDER BY f.root, f.path
"""
UNWANTED = """
SELECT m.root, m.path, m.hash, m.size, m.gone_ns, m.mtime_ns FROM mirror_objects m
WHERE m.target = ? AND (m.gone_ns IS NULL OR m.gone_ns <= ?)
  AND NOT EXISTS (SELECT 1 FROM files f WHERE f.root = m.root AND f.path = m.path AND f.raw = x''
                  AND f.state = 'present' {included})
ORDER BY m.root, m.path
"""
UNHASHED = """
SELECT count(*), coalesce(sum(f.size), 0), min(f.last_seen_ns) FROM files f
WHERE f.state = 'present' AND f.hash IS NULL {included}
"""
RECORD = """
INSERT INTO mirror_objects (target, root, path, hash, size, mtime_ns, etag, uploaded_ns, gone_ns, run_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
ON CONFLICT (target, root, path) DO UPDATE SET hash = excluded.hash, size = excluded.size,
    mtime_ns = excluded.mtime_ns, etag = excluded.etag, uploaded_ns = excluded.uploaded_ns, gone_ns = NULL,
    run_id = excluded.run_id
"""
IN_FLIGHT = """
INSERT INTO mirror_objects (target, root, path, hash, size, uploaded_ns, run_id) VALUES (?, ?, ?, NULL, ?, ?, ?)
ON CONFLICT (target, root, path) DO UPDATE SET hash = NULL, gone_ns = NULL, run_id = excluded.run_id
"""
RUN_COLUMNS = "id, target, source, started_ns, finished_ns, status, planned, counts, bytes, error"


class MirrorState:
    """The mirror tables of one catalog connection. Writes need the writer's connection."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._conn = conn
        self.clock = clock

    @classmethod
    def of(cls, catalog: Any) -> MirrorState:
        """The mirror tables of an open :class:`~bifrostd.catalog.Catalog` (and its clock)."""
        return cls(catalog._conn, clock=catalog.clock)  # the catalog's connection: this subpackage's own

    # -- the planner's input -------------------------------------------------------------
    def diff(self, target: str, include: IncludeFilter, *, due_before_ns: int) -> MirrorDiff:
        """Files whose key lacks their content, and recorded keys no file wants.

        ``due_before_ns``: unwanted rows marked gone before this are returned again
        (to be deleted); pass ``NEVER`` to get only unmarked ones, ``ALWAYS`` for all.
        """
        included, params = _included(include)
        changed = tuple(WantedFile(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9], r[10])
                        for r in self._conn.execute(CHANGED.format(included=included), (target, *params)))
        unwanted = tuple(RecordedObject(*r) for r in
                         self._conn.execute(UNWANTED.format(included=included), (target, due_before_ns, *params)))
        return MirrorDiff(changed, unwanted)

    def diff_query_plan(self, target: str, include: IncludeFilter) -> list[str]:
        """SQLite's plan for the two ``diff`` queries (``EXPLAIN QUERY PLAN`` details).

        A no-op run is fast because both joins look ``mirror_objects`` up by its
        primary key and every up-to-date file is filtered out inside SQLite; tests
        assert that shape instead of timing it.
        """
        included, params = _included(include)
        details = []
        for sql, args in ((CHANGED, (target, *params)), (UNWANTED, (target, 0, *params))):
            details += [row[3] for row in self._conn.execute("EXPLAIN QUERY PLAN " + sql.format(included=included), args)]
        return details

    def sources(self, target: str, hashes: Iterable[str]) -> dict[str, list[RecordedObject]]:
        """Recorded objects holding each of ``hashes``: candidates for server-side copies."""
        found: dict[str, list[RecordedObject]] = {}
        wanted = sorted(set(hashes))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self._conn.execute(
                "SELECT root, path, hash, size, gone_ns, mtime_ns, etag FROM mirror_objects "
                f"WHERE target = ? AND hash IN ({','.join('?' * len(chunk))}) ORDER BY gone_ns IS NOT NULL, root, path",
                (target, *chunk))
            for row in rows:
                found.setdefault(row[2], []).append(RecordedObject(*row))
        return found

    def held_elsewhere(self, target: str, rows: Iterable[RecordedObject]) -> set[str]:
        """The hashes of ``rows`` that another recorded, still wanted key of ``target`` holds as well.

        Deleting such a row's object leaves its content in the bucket (a file
        moved, renamed or copied, whose new key is mirrored already).
        """
        rows = list(rows)
        leaving = {(r.root, r.path) for r in rows}
        wanted = sorted({r.hash for r in rows if r.hash})
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            held = self._conn.execute(
                "SELECT root, path, hash FROM mirror_objects WHERE target = ? AND gone_ns IS NULL "
                f"AND hash IN ({','.join('?' * len(chunk))})", (target, *chunk))
            found.update(digest for root, path, digest in held if (root, path) not in leaving)
        return found

    def unsettled(self, include: IncludeFilter) -> tuple[int, int, int | None]:
        """(files, bytes, oldest change) of included present files not hashed yet: not mirrorable yet."""
        included, params = _included(include)
        count, size, oldest = self._conn.execute(UNHASHED.format(included=included), params).fetchone()
        return count, size, oldest

    def objects(self, target: str) -> Iterator[RecordedObject]:
        rows = self._conn.execute("SELECT root, path, hash, size, gone_ns, mtime_ns FROM mirror_objects "
                                 "WHERE target = ? ORDER BY root, path", (target,))
        return (RecordedObject(*row) for row in rows)

    def object_count(self, target: str) -> int:
        """How many objects Bifrost holds at ``target`` (live, kept and retained)."""
        return self._conn.execute("SELECT count(*) FROM mirror_objects WHERE target = ?", (target,)).fetchone()[0]

    def totals(self, target: str) -> dict[str, int]:
        """Objects and bytes Bifrost holds at the target, split by live and gone (kept or retained)."""
        row = self._conn.execute(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(gone_ns IS NOT NULL), 0), "
            "coalesce(sum(CASE WHEN gone_ns IS NOT NULL THEN size ELSE 0 END), 0), coalesce(sum(hash IS NULL), 0) "
            "FROM mirror_objects WHERE target = ?", (target,)).fetchone()
        return {"objects": row[0], "bytes": row[1], "gone_objects": row[2], "gone_bytes": row[3], "unknown": row[4]}

    def targets(self) -> list[str]:
        """Targets with any bookkeeping (including ones since removed from the config)."""
        rows = self._conn.execute("SELECT DISTINCT target FROM mirror_runs UNION SELECT DISTINCT target FROM mirror_objects")
        return sorted(r[0] for r in rows)

    # -- recording (writer only) ------------------------------------------------------------
    def mark_in_flight(self, target: str, rows: Sequence[tuple[str, str, int]], run_id: int | None) -> None:
        """Keys (root, path, size) about to be written: content unknown until recorded. Committed at once."""
        now = self.clock()
        with transaction(self._conn):
            self._conn.executemany(IN_FLIGHT, ((target, root, path, size, now, run_id) for root, path, size in rows))

    def record(self, target: str, rows: Sequence[tuple[str, str, str | None, int, int | None, str | None]],
               run_id: int | None) -> None:
        """Objects now at keys: (root, path, hash or None if unknown, size, mtime_ns, etag)."""
        now = self.clock()
        with transaction(self._conn):
            self._conn.executemany(RECORD, ((target, root, path, digest, size, mtime, etag, now, run_id)
                                           for root, path, digest, size, mtime, etag in rows))

    def forget(self, target: str, keys: Sequence[tuple[str, str]]) -> None:
        """Objects no longer at their keys (deleted), or rows not to be trusted (verify --repair)."""
        with transaction(self._conn):
            self._conn.executemany("DELETE FROM mirror_objects WHERE target = ? AND root = ? AND path = ?",
                                  ((target, root, path) for root, path in keys))

    def mark_gone(self, target: str, keys: Sequence[tuple[str, str]], *, now_ns: int) -> None:
        with transaction(self._conn):
            self._conn.executemany("UPDATE mirror_objects SET gone_ns = ? WHERE target = ? AND root = ? AND path = ? "
                                  "AND gone_ns IS NULL", ((now_ns, target, root, path) for root, path in keys))

    def revive(self, target: str, keys: Sequence[tuple[str, str]]) -> None:
        with transaction(self._conn):
            self._conn.executemany("UPDATE mirror_objects SET gone_ns = NULL WHERE target = ? AND root = ? AND path = ?",
                                  ((target, root, path) for root, path in keys))

    # -- runs ---------------------------------------------------------------------------------
    def begin_run(self, target: str, *, source: str, planned: dict[str, int]) -> int:
        """A new run; any run of this target still marked running was cut short (one writer)."""
        now = self.clock()
        with transaction(self._conn):
            self._conn.execute("UPDATE mirror_runs SET status = 'interrupted' WHERE target = ? AND status = 'running'",
                              (target,))
            cursor = self._conn.execute("INSERT INTO mirror_runs (target, source, started_ns, planned) VALUES (?,?,?,?)",
                                       (target, source, now, json.dumps(planned)))
        return inserted_id(cursor)

    def finish_run(self, run_id: int, *, status: str, counts: dict[str, int], bytes: int, error: str | None) -> None:
        with transaction(self._conn):
            self._conn.execute("UPDATE mirror_runs SET finished_ns = ?, status = ?, counts = ?, bytes = ?, error = ? "
                              "WHERE id = ?", (self.clock(), status, json.dumps(counts), bytes, error, run_id))

    def last_run(self, target: str, *, status: str | None = None) -> RunRecord | None:
        sql = f"SELECT {RUN_COLUMNS} FROM mirror_runs WHERE target = ?"
        params: tuple = (target,)
        if status is not None:
            sql += " AND status = ?"
            params += (status,)
        row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return _run_record(row) if row else None

    def last_error(self, target: str) -> RunRecord | None:
        row = self._conn.execute(f"SELECT {RUN_COLUMNS} FROM mirror_runs WHERE target = ? AND error IS NOT NULL "
                                "ORDER BY id DESC LIMIT 1", (target,)).fetchone()
        return _run_record(row) if row else None


def mark_interrupted_runs(conn) -> int:
    """Mark mirror runs left ``running`` by a killed writer (a new writer is opening); returns how many."""
    with transaction(conn):
        return conn.execute("UPDATE mirror_runs SET status = 'interrupted' WHERE status = 'running'").rowcount


def _run_record(row: Sequence) -> RunRecord:
    return RunRecord(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "{}"),
                     json.loads(row[7] or "{}"), row[8], row[9])
