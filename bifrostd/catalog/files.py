"""File records: the planner's view of them, and applying a plan in batched transactions.

The hot paths are plain ``executemany`` over tuples in transactions of many
thousand rows (sqlite-utils' helpers are about half as fast for this). Each
batch is all-or-nothing and carries its events, entity and sequence updates,
so a kill at any moment leaves a catalog that is consistent and merely
behind the disk; the next scan plans the remainder. Remembered folder mtimes
are written last, after every file action, so an interrupted scan never
makes the next one skip a folder whose changes were not applied.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from ..model import (
    Action, Add, Classification, EntityRow, FileRecord, FileState, FileStatus, Move, Plan, Rematch, Update, Vanish,
)
from ..model import CatalogView, KnownFile, WalkScope, parent_dir
from .connection import foreign_keys_checked_at_end, transaction
from .entities import EntityIds, SequenceIds
from .folders import FOLDERS_WITH_FILES, FolderIds, event_path
from .frame_fields import FIELDS_COLUMN
from .events import INSERT_EVENT, INSERT_EVENT_FILE_ID, EventKind, owner_name
from .paths import below, from_columns, to_columns

RECORD_COLUMNS = f"""
SELECT f.id, f.root, f.path, f.raw, f.size, f.mtime_ns, f.inode, f.device, f.uid, f.hash, f.template,
       {FIELDS_COLUMN}, f.frame, f.fingerprint, f.state, e.kind, e.uri, e.name, s.pattern
FROM {{source}}
LEFT JOIN entities e ON e.id = f.entity_id
LEFT JOIN sequences s ON s.id = f.sequence_id
"""


def record_from_row(row: Sequence) -> FileRecord:
    entities = (EntityRow(row[15], row[16], row[17], "{}", None),) if row[16] else ()
    classification = Classification(row[10], row[11], entities, row[18], row[12])
    return FileRecord(row[0], row[1], from_columns(row[2], row[3]), row[4], row[5], row[6], row[7], row[8], row[9],
                      classification, row[13], FileStatus(row[14]))


def _placeholders(values: Sequence) -> str:
    return ",".join("?" * len(values))


# -- the planner's view -----------------------------------------------------------------
def load_dirs(conn: sqlite3.Connection, roots: Iterable[str]) -> dict[tuple[str, str], int]:
    roots = list(roots)
    rows = conn.execute(f"SELECT root, path, raw, mtime_ns FROM dirs WHERE root IN ({_placeholders(roots)})", roots)
    return {(root, from_columns(path, raw)): mtime for root, path, raw, mtime in rows}


def load_view(conn: sqlite3.Connection, scope: WalkScope, *, whole: bool = False,
              dirs: Mapping[tuple[str, str], int] | None = None) -> CatalogView:
    """The records a walk with ``scope`` may change: those of listed or gone folders, and missing ones.

    ``whole`` loads every record of the walked roots (a full walk lists everything anyway).
    """
    roots = sorted(scope.roots)
    dirs = load_dirs(conn, roots) if dirs is None else dirs
    if whole:
        sql = RECORD_COLUMNS.format(source="files f") + f" WHERE f.root IN ({_placeholders(roots)})"
        return CatalogView(tuple(record_from_row(r) for r in conn.execute(sql, roots)), dirs)
    wanted = _wanted_dirs(conn, _escaped(scope), roots)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS scope_dirs (root TEXT, dir TEXT, PRIMARY KEY (root, dir))")
    conn.execute("DELETE FROM scope_dirs")
    conn.executemany("INSERT INTO scope_dirs VALUES (?, ?)", wanted)
    # The orders are forced: without them SQLite's planner, which has no statistics for the temp table, reads
    # every record of the catalog (a scan of files for the join; the rows of each root for the missing ones)
    # where these read only the records of the listed folders and the few missing ones.
    scoped = RECORD_COLUMNS.format(source="scope_dirs d CROSS JOIN folders fo ON fo.root = d.root AND fo.path = d.dir"
                                          " CROSS JOIN files f ON f.folder_id = fo.id")
    missing = RECORD_COLUMNS.format(source="files f") + \
        f" WHERE f.state != 'present' AND +f.root IN ({_placeholders(roots)})"  # through the files_state index
    records = {r[0]: r for r in conn.execute(scoped)}
    records.update((r[0], r) for r in conn.execute(missing, roots))
    return CatalogView(tuple(record_from_row(r) for r in records.values()), dirs)


SIGNATURES = """
SELECT path, id, CASE WHEN state = 'present' AND fingerprint = ?1 AND (hash IS NOT NULL OR ?2) THEN size ELSE -1 END,
       mtime_ns, inode, device, uid{raw}
FROM files WHERE +root = ?3 AND {names}
"""  # '+root': scan the table in order, not through the (root, path, raw) index
UTF8_SIGNATURES = SIGNATURES.format(raw="", names="raw = x''")
RAW_SIGNATURES = SIGNATURES.format(raw=", raw", names="raw != x''")


def load_signatures(conn: sqlite3.Connection, roots: Iterable[str], fingerprint: str, *,
                    hashed: bool) -> dict[str, dict[str, KnownFile]]:
    """Every record of ``roots`` as ``{root: {relative: KnownFile}}``, for a full walk to compare with.

    Compact on purpose (one tuple per record, no objects): a full walk
    compares every file against it, and most are unchanged. A record is
    settled (its size is kept, not -1) when present, derived with
    ``fingerprint`` and hashed (or ``hashed`` is false): unchanged on disk,
    it needs nothing. Records named in UTF-8 (nearly all) are keyed by their
    text as it is, with no per-row decoding; the few others are read apart,
    so an escaped text can never stand for a real name.
    """
    settled = (fingerprint, int(not hashed))
    out: dict[str, dict[str, KnownFile]] = {}
    for root in roots:
        known = {row[0]: row for row in conn.execute(UTF8_SIGNATURES, (*settled, root))}
        raw = conn.execute(RAW_SIGNATURES, (*settled, root))
        known.update((from_columns(row[0], row[7]), row[:7]) for row in raw)
        out[root] = known
    return out


def load_records(conn: sqlite3.Connection, roots: Iterable[str], ids: Iterable[int], *,
                 dirs: Mapping[tuple[str, str], int] | None = None) -> CatalogView:
    """The records with ``ids`` and the remembered folders of ``roots`` (``dirs``, when read already)."""
    sql = RECORD_COLUMNS.format(source="files f") + " WHERE f.id IN (SELECT value FROM json_each(?))"
    records = tuple(record_from_row(r) for r in conn.execute(sql, (json.dumps(list(ids)),)))
    return CatalogView(records, load_dirs(conn, roots) if dirs is None else dirs)


def _escaped(scope: WalkScope) -> WalkScope:
    """The scope in the escaped text form that ``folders.path`` is stored in."""
    def convert(keys: frozenset) -> frozenset:
        return frozenset((root, to_columns(d)[0]) for root, d in keys)

    return WalkScope(scope.roots, convert(scope.listed), convert(scope.skipped), convert(scope.failed))




def _wanted_dirs(conn: sqlite3.Connection, scope: WalkScope, roots: list[str]) -> set[tuple[str, str]]:
    wanted = set(scope.listed)
    visited = scope.visited
    known = (row for root in roots for row in conn.execute(FOLDERS_WITH_FILES, (root,)))
    for root, folder in known:
        key = (root, folder)
        if key not in visited and scope.absence_proves_gone(root, folder):
            wanted.add(key)
    return wanted


# -- applying a plan --------------------------------------------------------------------
INSERT_FILE = """
INSERT INTO files (root, path, raw, folder_id, size, mtime_ns, inode, device, uid, hash, template, fields, entity_id,
                   sequence_id, frame, fingerprint, state, first_seen_ns, last_seen_ns)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'present',?,?)
ON CONFLICT (root, path, raw) DO UPDATE SET
    size=excluded.size, mtime_ns=excluded.mtime_ns, inode=excluded.inode, device=excluded.device, uid=excluded.uid,
    hash=excluded.hash, template=excluded.template, fields=excluded.fields, entity_id=excluded.entity_id,
    sequence_id=excluded.sequence_id, frame=excluded.frame, fingerprint=excluded.fingerprint, state='present',
    last_seen_ns=excluded.last_seen_ns
"""
UPDATE_FILE = """
UPDATE files SET size=?, mtime_ns=?, inode=?, device=?, uid=?, hash=?, state='present', last_seen_ns=? WHERE id=?
"""
MOVE_FILE = """
UPDATE files SET root=?, path=?, raw=?, folder_id=?, size=?, mtime_ns=?, inode=?, device=?, uid=?, hash=?, template=?,
    fields=?, entity_id=?, sequence_id=?, frame=?, fingerprint=?, state='present', last_seen_ns=? WHERE id=?
"""
REMATCH_FILE = "UPDATE files SET template=?, fields=?, entity_id=?, sequence_id=?, frame=?, fingerprint=? WHERE id=?"
VANISH_FILE = "UPDATE files SET state='missing' WHERE id=?"
FORGET_DIR = "DELETE FROM dirs WHERE root=? AND path=? AND raw=?"
REMEMBER_DIR = """
INSERT INTO dirs (root, path, raw, mtime_ns, listed_ns) VALUES (?,?,?,?,?)
ON CONFLICT (root, path, raw) DO UPDATE SET mtime_ns=excluded.mtime_ns, listed_ns=excluded.listed_ns
WHERE mtime_ns != excluded.mtime_ns
"""

#: A plan this big loads every entity and sequence id at once; a smaller one looks up the ids it needs.
PRELOAD_IDS = 2000
#: A plan adding this many files, more than the catalog holds, is loaded in bulk (``Applier._apply_bulk``).
BULK_ADDS = 10_000
#: The indexes a bulk load drops and builds again: those of files and events that are not constraints
#: (a UNIQUE constraint's index has no SQL of its own, and the upsert and the event lookups need it).
SECONDARY_INDEXES = """
SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('files', 'events') AND sql IS NOT NULL
ORDER BY name
"""
#: Order inside a batch: free paths (vanish, move) before taking them (add).
_ORDER = {Vanish: 0, Move: 1, Update: 2, Rematch: 3, Add: 4}


class Applier:
    """Executes plans against one writer connection, batch by batch."""

    def __init__(self, conn: sqlite3.Connection, *, source: str, scan_id: int | None = None,
                 clock: Callable[[], int] = time.time_ns, owner: Callable[[int], str | None] = owner_name) -> None:
        self.conn = conn
        self.source = source
        self.scan_id = scan_id
        self.clock = clock
        self.owner = owner
        self.entities = EntityIds(conn)
        self.sequences = SequenceIds(conn)
        self.folders = FolderIds(conn)
        self.fingerprint = ""

    def apply(self, plan: Plan, *, batch_size: int = 20000, progress: Callable[[int], None] | None = None) -> int:
        """Apply every action, then remember the folders; returns the number of actions applied.

        Each batch is its own transaction, except for a bulk load (``_is_bulk``), which is one.
        """
        self.fingerprint = plan.fingerprint
        if len(plan.actions) >= PRELOAD_IDS:
            self.entities.preload()
            self.sequences.preload()
            self.folders.preload()
        actions = _in_path_order(plan.actions)
        if self._is_bulk(plan):
            return self._apply_bulk(plan, actions, batch_size, progress)
        done = 0
        for batch in _chunks(actions, batch_size):
            with transaction(self.conn):
                self.apply_batch(batch)
            done += len(batch)
            if progress:
                progress(done)
        with transaction(self.conn):
            self.remember_dirs(plan)
        return done

    def _is_bulk(self, plan: Plan) -> bool:
        """A plan adding at least ``BULK_ADDS`` files, more than the catalog holds (a first index)."""
        adds = sum(1 for a in plan.actions if type(a) is Add)
        if adds < BULK_ADDS:
            return False
        held = self.conn.execute("SELECT coalesce(max(id), 0) FROM files").fetchone()[0]
        return bool(adds > held)

    def _apply_bulk(self, plan: Plan, actions: Sequence[Action], batch_size: int,
                    progress: Callable[[int], None] | None) -> int:
        """Load without the secondary indexes of files and events, then build them, all in one transaction.

        Building an index from sorted rows once is cheaper than keeping it up
        to date row by row, and the one transaction keeps the catalog whole:
        a kill -9 before the commit leaves the catalog (indexes included) as
        it was, and the next scan does the work again. Sequences' frame counts,
        which read files through its index, are computed once, after it is built.
        """
        done = 0
        with foreign_keys_checked_at_end(self.conn) as check_foreign_keys, transaction(self.conn):
            indexes = self.conn.execute(SECONDARY_INDEXES).fetchall()
            for name, _ in indexes:
                self.conn.execute(f'DROP INDEX "{name}"')
            for batch in _chunks(actions, batch_size):
                self.apply_batch(batch, refresh=False)
                done += len(batch)
                if progress:
                    progress(done)
            for _, sql in indexes:
                self.conn.execute(sql)
            self.sequences.refresh(self.clock())
            self.remember_dirs(plan)
            check_foreign_keys()
        return done

    def apply_batch(self, actions: Sequence[Action], *, refresh: bool = True) -> None:
        """Write one batch of actions (in the caller's transaction); ``refresh``: recompute the touched
        sequences' frame counts now (a bulk load does it once, at its end)."""
        now = self.clock()
        writes = _Writes()
        for action in sorted(actions, key=lambda a: _ORDER[type(a)]):
            getattr(self, "_" + type(action).__name__.lower())(action, now, writes)
        writes.execute(self.conn)
        if refresh:
            self.sequences.refresh(now)
        self.entities.flush_touched(now)

    # one method per action kind: each appends rows to ``writes``
    def _add(self, action: Add, now: int, writes: _Writes) -> None:
        state, cls = action.observed, action.classification
        text, raw = to_columns(state.relative)
        entity_id = self.entities.ensure(cls.entities, now)
        sequence_id = self.sequences.ensure(state.root, cls, entity_id, now)
        folder_id = self.folders.ensure(state.root, parent_dir(text))
        fields = self.sequences.fields_column(sequence_id, cls)
        writes.add.append((state.root, text, raw, folder_id, state.size, state.mtime_ns, state.inode, state.device,
                           state.uid, state.hash, cls.template, fields, entity_id, sequence_id, cls.frame,
                           self.fingerprint, now, now))
        writes.appeared.append((now, "appeared", self.source, state.root, *event_path(folder_id, text, raw), raw,
                                None, None, entity_id, state.uid, self.owner(state.uid), self.scan_id, None, text))

    def _update(self, action: Update, now: int, writes: _Writes) -> None:
        state = action.observed
        writes.update.append((state.size, state.mtime_ns, state.inode, state.device, state.uid, action.hash, now,
                              action.record.id))
        kind = EventKind.APPEARED if action.reappeared else EventKind.CHANGED
        entity_id = self.entities.lookup(action.record.classification.entity_uri)
        if action.reappeared:
            self.sequences.touch(self.sequences.lookup(state.root, action.record.classification.sequence))
        writes.event(self._event(kind, state, now, entity_id, details=_changes(action.record, state)))

    def _move(self, action: Move, now: int, writes: _Writes) -> None:
        state, cls, record = action.observed, action.classification, action.record
        text, raw = to_columns(state.relative)
        entity_id = self.entities.ensure(cls.entities, now)
        sequence_id = self.sequences.ensure(state.root, cls, entity_id, now)
        self.sequences.touch(self.sequences.lookup(record.root, record.classification.sequence))
        folder_id = self.folders.ensure(state.root, parent_dir(text))
        fields = self.sequences.fields_column(sequence_id, cls)
        writes.move.append((state.root, text, raw, folder_id, state.size, state.mtime_ns, state.inode, state.device,
                            state.uid, action.hash, cls.template, fields, entity_id, sequence_id, cls.frame,
                            self.fingerprint, now, record.id))
        writes.event(self._event(EventKind.MOVED, state, now, entity_id, old=record))

    def _vanish(self, action: Vanish, now: int, writes: _Writes) -> None:
        record = action.record
        writes.vanish.append((record.id,))
        self.sequences.touch(self.sequences.lookup(record.root, record.classification.sequence))
        state = FileState(record.root, record.relative, record.size, record.mtime_ns, record.inode, record.device,
                          record.uid)
        writes.event(self._event(EventKind.VANISHED, state, now, self.entities.lookup(
            record.classification.entity_uri)))

    def _rematch(self, action: Rematch, now: int, writes: _Writes) -> None:
        record, cls = action.record, action.classification
        entity_id = self.entities.ensure(cls.entities, now)
        sequence_id = self.sequences.ensure(record.root, cls, entity_id, now)
        self.sequences.touch(self.sequences.lookup(record.root, record.classification.sequence))
        fields = self.sequences.fields_column(sequence_id, cls)
        writes.rematch.append((cls.template, fields, entity_id, sequence_id, cls.frame, action.fingerprint, record.id))
        if action.changed:
            state = FileState(record.root, record.relative, record.size, record.mtime_ns, record.inode,
                              record.device, record.uid)
            details = {"template": [record.classification.template, cls.template],
                       "entity": [record.classification.entity_uri, cls.entity_uri]}
            writes.event(self._event(EventKind.REMATCHED, state, now, entity_id, details=details))

    def _event(self, kind: EventKind, state: FileState, now: int, entity_id: int | None, *,
               old: FileRecord | None = None, details: dict | None = None) -> tuple:
        text, raw = to_columns(state.relative)
        old_text, old_raw = to_columns(old.relative) if old else (None, None)
        return (now, kind.value, self.source, state.root, *self._place(state.root, text, raw), raw, old_text, old_raw,
                state.root, text, raw, entity_id, state.uid, self.owner(state.uid), self.scan_id,
                json.dumps(details, default=str) if details else None)

    def _place(self, root: str, text: str, raw: bytes) -> tuple[int | None, str]:
        """(folder_id, path) as an event stores a file's path (see ``events.INSERT_EVENT``)."""
        return event_path(None if raw else self.folders.ensure(root, parent_dir(text)), text, raw)

    def remember_dirs(self, plan: Plan) -> None:
        now = self.clock()
        for root, relative in plan.dirs_gone:
            self.conn.execute(FORGET_DIR, (root, *to_columns(relative)))
        self.conn.executemany(REMEMBER_DIR, ((d.root, *to_columns(d.relative), d.mtime_ns, now) for d in plan.dirs))


class _Writes:
    """Rows gathered for one batch, written with one ``executemany`` per statement."""

    def __init__(self) -> None:
        self.add: list[tuple] = []
        self.update: list[tuple] = []
        self.move: list[tuple] = []
        self.vanish: list[tuple] = []
        self.rematch: list[tuple] = []
        self.events: list[tuple] = []
        self.appeared: list[tuple] = []  # events of ``add``, in the same order, without the file id

    def event(self, row: tuple) -> None:
        self.events.append(row)

    def execute(self, conn: sqlite3.Connection) -> None:
        conn.executemany(VANISH_FILE, self.vanish)
        conn.executemany(MOVE_FILE, self.move)
        conn.executemany(UPDATE_FILE, self.update)
        conn.executemany(REMATCH_FILE, self.rematch)
        first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM files").fetchone()[0]
        conn.executemany(INSERT_FILE, self.add)
        conn.executemany(INSERT_EVENT, self.events)
        self._appeared(conn, first_id)

    def _appeared(self, conn: sqlite3.Connection, first_id: int) -> None:
        """Events of added files, with their ids (each row ends with the file's whole path text, for the lookup).

        Rows inserted into a rowid table by the one writer take ids max+1,
        max+2, ... in order, so when every add made a new row (none hit the
        upsert's conflict, which only a catalog behind the planner's view
        could cause) the ids are known without a lookup per file.
        """
        events = self.appeared
        new_rows = conn.execute("SELECT count(*) FROM files WHERE id >= ?", (first_id,)).fetchone()[0]
        if new_rows == len(events):
            conn.executemany(INSERT_EVENT_FILE_ID, ((*e[:9], first_id + n, *e[9:-1]) for n, e in enumerate(events)))
        else:
            conn.executemany(INSERT_EVENT, ((*e[:9], e[3], e[-1], e[6], *e[9:-1]) for e in events))


# -- forgetting missing records -------------------------------------------------------------
def missing_records(conn: sqlite3.Connection, *, root: str | None = None, folder: str = "",
                    entity_id: int | None = None) -> list[FileRecord]:
    """Missing records: all, or at or below a root-relative path of ``root``, or of an entity and those below it."""
    where = ["f.state != 'present'"]
    params: list[str | int] = []
    if root is not None:
        where.append("f.root = ?")
        params.append(root)
        text = to_columns(folder)[0]
        if text:
            where.append("(f.path = ? OR (f.path >= ? AND f.path < ?))")
            params += [text, *below(text)]
    if entity_id is not None:
        where.append("f.entity_id IN (WITH RECURSIVE below(id) AS "
                     "(SELECT ? UNION ALL SELECT c.id FROM entities c JOIN below b ON c.parent_id = b.id) "
                     "SELECT id FROM below)")
        params.append(entity_id)
    sql = RECORD_COLUMNS.format(source="files f") + " WHERE " + " AND ".join(where) + " ORDER BY f.root, f.path"
    return [record_from_row(r) for r in conn.execute(sql, params)]


FORGET_FILES = """
DELETE FROM files WHERE id IN (SELECT value FROM json_each(?)) AND state != 'present'
RETURNING id, root, path, raw, entity_id, sequence_id, uid, folder_id
"""


def forget_records(conn: sqlite3.Connection, ids: Sequence[int], *, source: str, now_ns: int,
                   owner: Callable[[int], str | None] = owner_name) -> list[int]:
    """Delete the records with ``ids`` that are still missing, each with a 'forgotten' event; one transaction.

    A record that reappeared since it was planned is kept. Returns the ids deleted.
    """
    with transaction(conn):
        rows = conn.execute(FORGET_FILES, (json.dumps(list(ids)),)).fetchall()
        conn.executemany(INSERT_EVENT_FILE_ID, (
            (now_ns, EventKind.FORGOTTEN.value, source, root, *event_path(folder_id, path, raw), raw, None, None,
             file_id, entity_id, uid, owner(uid), None, None) for file_id, root, path, raw, entity_id, _, uid, folder_id
            in rows))
        sequences = SequenceIds(conn)
        for row in rows:
            sequences.touch(row[5])
        sequences.refresh(now_ns)
    return [row[0] for row in rows]


def _changes(record: FileRecord, state: FileState) -> dict:
    before = {"size": record.size, "mtime_ns": record.mtime_ns, "inode": record.inode}
    after = {"size": state.size, "mtime_ns": state.mtime_ns, "inode": state.inode}
    return {name: [before[name], after[name]] for name in before if before[name] != after[name]}


def _in_path_order(actions: Sequence[Action]) -> list[Action]:
    """The actions with the added files last, in (root, path) order, where the plan had them in walk order.

    New rows then go into the files table and its (root, path) index in key
    order, page after page, instead of at random places: a first index of a
    big tree writes far fewer pages. The other actions keep their order and
    come first, so a path a vanish or a move frees is free before an add takes it.
    """
    adds = sorted((a for a in actions if type(a) is Add), key=lambda a: (a.observed.root, a.observed.relative))
    if not adds:
        return list(actions)
    return [*(a for a in actions if type(a) is not Add), *adds]


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
