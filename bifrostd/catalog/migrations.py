"""The catalog schema, as named migrations recorded in the database.

Every schema change is a function registered on :data:`CATALOG` (sqlite-utils
``Migrations``): applied once, in order, inside a transaction together with
the record of it in ``_sqlite_migrations``. Never edit a migration that has
shipped; append a new one at the end. Later concerns (mirror bookkeeping,
USD dependency edges, FTS5 search, workflow statuses) add their tables the
same way, here, so the catalog stays the one place that speaks SQL.

Paths are rootless: a root name and a root-relative POSIX path. A name that
is not valid UTF-8 can't be SQLite TEXT, so ``path`` holds a readable escaped
form and ``raw`` the exact bytes (empty for ordinary names); the pair is the
identity (see :mod:`bifrostd.catalog.paths`). Times are integer nanoseconds
since the epoch. ``metadata`` columns are open JSON for studio extensions.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .frame_fields import fields_around

CATALOG = Migrations("bifrost.catalog")


def _run(db: Database, script: str) -> None:
    """Execute a script statement by statement.

    ``sqlite3``'s ``executescript`` commits any open transaction first, which
    would break the all-or-nothing promise of a migration.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip():
        db.execute(pending)


@CATALOG(name="0001_entities")
def _entities(db: Database) -> None:
    _run(db, """
    CREATE TABLE entities (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        uri TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        keys TEXT NOT NULL,
        parent_id INTEGER REFERENCES entities(id),
        created_ns INTEGER NOT NULL,
        updated_ns INTEGER NOT NULL,
        metadata TEXT
    );
    CREATE INDEX entities_parent ON entities(parent_id, kind);
    CREATE INDEX entities_kind ON entities(kind);
    """)


@CATALOG(name="0002_sequences")
def _sequences(db: Database) -> None:
    _run(db, """
    CREATE TABLE sequences (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL,
        pattern TEXT NOT NULL,
        template TEXT NOT NULL,
        entity_id INTEGER REFERENCES entities(id),
        first INTEGER,
        last INTEGER,
        count INTEGER NOT NULL DEFAULT 0,
        missing TEXT NOT NULL DEFAULT '',
        missing_count INTEGER NOT NULL DEFAULT 0,
        updated_ns INTEGER NOT NULL,
        UNIQUE (root, pattern)
    );
    CREATE INDEX sequences_entity ON sequences(entity_id);
    """)


@CATALOG(name="0003_files")
def _files(db: Database) -> None:
    _run(db, """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        raw BLOB NOT NULL DEFAULT x'',
        dir TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        device INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        hash TEXT,
        template TEXT,
        fields TEXT NOT NULL DEFAULT '{}',
        entity_id INTEGER REFERENCES entities(id),
        sequence_id INTEGER REFERENCES sequences(id),
        frame INTEGER,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'present',
        first_seen_ns INTEGER NOT NULL,
        last_seen_ns INTEGER NOT NULL,
        metadata TEXT,
        UNIQUE (root, path, raw)
    );
    CREATE INDEX files_dir ON files(root, dir);
    CREATE INDEX files_entity ON files(entity_id);
    CREATE INDEX files_sequence ON files(sequence_id, frame);
    CREATE INDEX files_state ON files(state) WHERE state != 'present';
    CREATE INDEX files_inode ON files(device, inode);
    """)


@CATALOG(name="0004_dirs")
def _dirs(db: Database) -> None:
    _run(db, """
    CREATE TABLE dirs (
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        raw BLOB NOT NULL DEFAULT x'',
        mtime_ns INTEGER NOT NULL,
        listed_ns INTEGER NOT NULL,
        PRIMARY KEY (root, path, raw)
    ) WITHOUT ROWID;
    """)


@CATALOG(name="0005_scans")
def _scans(db: Database) -> None:
    _run(db, """
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        root TEXT,
        started_ns INTEGER NOT NULL,
        finished_ns INTEGER,
        status TEXT NOT NULL DEFAULT 'running',
        full INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'scan',
        fingerprint TEXT NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}',
        findings INTEGER NOT NULL DEFAULT 0,
        duration_s REAL
    );
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        kind TEXT NOT NULL,
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        raw BLOB NOT NULL DEFAULT x'',
        message TEXT NOT NULL
    );
    CREATE INDEX findings_scan ON findings(scan_id);
    """)


@CATALOG(name="0006_events")
def _events(db: Database) -> None:
    """The activity log is append-only: triggers refuse updates and deletes."""
    _run(db, """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at_ns INTEGER NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        raw BLOB NOT NULL DEFAULT x'',
        old_path TEXT,
        old_raw BLOB,
        file_id INTEGER,
        entity_id INTEGER,
        uid INTEGER,
        user TEXT,
        scan_id INTEGER,
        details TEXT
    );
    CREATE INDEX events_at ON events(at_ns);
    CREATE INDEX events_file ON events(file_id);
    CREATE INDEX events_entity ON events(entity_id);
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the activity log is append-only'); END;
    """)



@CATALOG(name="0007_mirror")
def _mirror(db: Database) -> None:
    """Mirror bookkeeping: what each target's bucket holds (as far as Bifrost wrote it) and its runs.

    ``mirror_objects`` has one row per object Bifrost put at a key of a target:
    the key is ``<root>/<path>`` under the target's prefix. ``hash`` NULL means
    the content is unknown (a transfer to that key was in flight, or a file
    changed while it was sent): the next run checks the key before sending.
    ``gone_ns`` is when the planner first found no catalogued file wanting the
    key (the clock of ``delete: retain``). Credentials are never stored.
    """
    _run(db, """
    CREATE TABLE mirror_objects (
        target TEXT NOT NULL,
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        hash TEXT,
        size INTEGER NOT NULL,
        mtime_ns INTEGER,
        etag TEXT,
        uploaded_ns INTEGER NOT NULL,
        gone_ns INTEGER,
        run_id INTEGER,
        PRIMARY KEY (target, root, path)
    ) WITHOUT ROWID;
    CREATE INDEX mirror_objects_hash ON mirror_objects(target, hash);
    CREATE TABLE mirror_runs (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT 'command',
        started_ns INTEGER NOT NULL,
        finished_ns INTEGER,
        status TEXT NOT NULL DEFAULT 'running',
        planned TEXT NOT NULL DEFAULT '{}',
        counts TEXT NOT NULL DEFAULT '{}',
        bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE INDEX mirror_runs_target ON mirror_runs(target, id);
    """)


FILES_0008 = """
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    raw BLOB NOT NULL DEFAULT x'',
    folder_id INTEGER NOT NULL REFERENCES folders(id),
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hash TEXT,
    template TEXT,
    fields TEXT DEFAULT '{}',
    entity_id INTEGER REFERENCES entities(id),
    sequence_id INTEGER REFERENCES sequences(id),
    frame INTEGER,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'present',
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    metadata TEXT,
    UNIQUE (root, path, raw)
"""


@CATALOG(name="0008_compact_files")
def _compact_files(db: Database) -> None:
    """Smaller file records: frame files' fields kept once in their sequence, each folder stored once, fewer
    index entries.

    ``files.fields`` may be NULL: the file's sequence holds the JSON around the
    frame (``frame_fields``). Each folder holding files is stored once
    (``folders``), and a record names it by ``folder_id`` (indexed by
    ``files_folder``), where it repeated the folder's path in ``dir`` and
    again in ``files_dir``. ``files_inode`` only serves the search for a
    moved file's missing record, so it now holds missing records only;
    ``events_file`` served no query. SQLite can't drop a NOT NULL column, so
    the files table is copied, once, into its new form.
    """
    _run(db, f"""
    ALTER TABLE sequences ADD COLUMN fields_head TEXT;
    ALTER TABLE sequences ADD COLUMN fields_tail TEXT;
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL,
        path TEXT NOT NULL,
        UNIQUE (root, path)
    );
    INSERT INTO folders (root, path) SELECT DISTINCT root, dir FROM files ORDER BY root, dir;
    CREATE TABLE files_new ({FILES_0008});
    INSERT INTO files_new SELECT f.id, f.root, f.path, f.raw, fo.id, f.size, f.mtime_ns, f.inode, f.device, f.uid,
        f.hash, f.template, f.fields, f.entity_id, f.sequence_id, f.frame, f.fingerprint, f.state, f.first_seen_ns,
        f.last_seen_ns, f.metadata
    FROM files f JOIN folders fo ON fo.root = f.root AND fo.path = f.dir;
    DROP TABLE files;
    ALTER TABLE files_new RENAME TO files;
    CREATE INDEX files_folder ON files(folder_id);
    CREATE INDEX files_entity ON files(entity_id);
    CREATE INDEX files_sequence ON files(sequence_id, frame);
    CREATE INDEX files_state ON files(state) WHERE state != 'present';
    CREATE INDEX files_inode ON files(device, inode) WHERE state != 'present';
    DROP INDEX events_file;
    """)
    _fields_into_sequences(db)


def _fields_into_sequences(db: Database) -> None:
    """Each sequence's JSON around the frame, from one of its frames; then the frames it gives back lose theirs."""
    rows = db.execute("SELECT sequence_id, fields, frame FROM files WHERE sequence_id IS NOT NULL "
                      "AND frame IS NOT NULL GROUP BY sequence_id").fetchall()
    db.conn.executemany("UPDATE sequences SET fields_head = ?, fields_tail = ? WHERE id = ?",
                        ((*fields_around(fields, frame), sequence_id) for sequence_id, fields, frame in rows))
    db.execute("UPDATE files SET fields = NULL WHERE frame IS NOT NULL AND fields = "
               "(SELECT s.fields_head || files.frame || s.fields_tail FROM sequences s WHERE s.id = files.sequence_id)")


@CATALOG(name="0009_event_folders")
def _event_folders(db: Database) -> None:
    """An event names its file by folder and name (``folder_id`` and ``path``), where it repeated the
    folder's path; events logged before keep their whole path and no folder (the log is append-only).
    ``events_at`` goes: the log's query reads newest first by id, and SQLite's planner never chose it."""
    _run(db, """
    ALTER TABLE events ADD COLUMN folder_id INTEGER REFERENCES folders(id);
    DROP INDEX events_at;
    """)


@CATALOG(name="0010_authored")
def _authored(db: Database) -> None:
    """The index of sidecar files (``catalog.authored``): per folder, the last good document (the sidecar's
    text as Bifrost renders it; NULL until one was good) and the problems of the file as it is now (JSON;
    NULL when it is good)."""
    _run(db, """
    CREATE TABLE authored (
        folder_id INTEGER PRIMARY KEY REFERENCES folders(id),
        data TEXT,
        problems TEXT,
        updated_ns INTEGER NOT NULL
    );
    CREATE INDEX authored_broken ON authored(folder_id) WHERE problems IS NOT NULL;
    """)


@CATALOG(name="0011_search")
def _search(db: Database) -> None:
    """Full-text search (``catalog.search``): an FTS5 document per entity (rowid = ``entities.id``; its
    project, task and kind unindexed, for the filters; ranked by bm25 with the name weighed most) and the
    links of each entity's sidecar (``entity_links``, indexed by target, for the links *to* an entity);
    ``entities_updated`` serves a search with no words (the most recently changed) and ``--since``.

    Existing entities get their name and path now. What their sidecars say is
    read again by the next scan: the sidecars' file records and their
    folders' remembered mtimes are forgotten, so the walk lists those
    folders (an mtime of -1 equals no real one), finds the sidecars new, and
    indexes them (the log shows them appear once more). Raises SearchUnavailable when SQLite has no FTS5.
    """
    from .search import check_fts5, entity_path_text

    check_fts5(db.conn)
    _run(db, """
    CREATE VIRTUAL TABLE search USING fts5(name, path, description, comment, tags, user, project UNINDEXED,
                                task UNINDEXED, kind UNINDEXED, prefix='2 3');
    INSERT INTO search (search, rank) VALUES ('rank', 'bm25(10.0, 3.0, 1.0, 1.0, 5.0, 1.0, 0.0, 0.0, 0.0)');
    CREATE TABLE entity_links (
        entity_id INTEGER NOT NULL REFERENCES entities(id),
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (entity_id, target, kind)
    ) WITHOUT ROWID;
    CREATE INDEX entity_links_target ON entity_links(target);
    CREATE INDEX entities_updated ON entities(updated_ns);
    UPDATE dirs SET mtime_ns = -1 WHERE (root, path) IN
        (SELECT fo.root, fo.path FROM authored a JOIN folders fo ON fo.id = a.folder_id);
    DELETE FROM files WHERE folder_id IN (SELECT folder_id FROM authored)
        AND (path = '.bifrost-entity.yaml' OR path LIKE '%/.bifrost-entity.yaml');
    """)
    _index_entities(db, entity_path_text)


def _index_entities(db: Database, path_text: Callable[[str], str]) -> None:
    """Every entity's name and path, and its project and task keys (its own or its parents')."""
    rows = {i: (name, uri, json.loads(keys), parent) for i, name, uri, keys, parent in db.execute(
        "SELECT id, name, uri, keys, parent_id FROM entities").fetchall()}

    def chain_keys(entity_id: int | None) -> dict[str, Any]:
        found: dict[str, Any] = {}
        while entity_id is not None and entity_id in rows:
            found = {**rows[entity_id][2], **found}
            entity_id = rows[entity_id][3]
        return found

    def document(entity_id: int) -> tuple[Any, ...]:
        name, uri, _, _ = rows[entity_id]
        keys = chain_keys(entity_id)
        return (entity_id, name, path_text(uri), keys.get("project"), keys.get("task"), kinds[entity_id])

    kinds = dict(db.execute("SELECT id, kind FROM entities").fetchall())
    db.conn.executemany("INSERT INTO search (rowid, name, path, project, task, kind) VALUES (?, ?, ?, ?, ?, ?)",
                        (document(i) for i in rows))


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    db = Database(conn, execute_plugins=False)
    pending = [m.name for m in CATALOG.pending(db)]
    if pending:
        CATALOG.apply(db)
    return pending


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    return [m.name for m in CATALOG.applied(Database(conn, execute_plugins=False))]
