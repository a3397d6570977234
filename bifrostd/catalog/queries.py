"""Read models over the catalog: status, drift, listings, versions, latest versions.

Every function takes a connection and returns frozen values with a
``to_json``; the CLI renders them. They run on read connections and never
block the writer (WAL).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..authored import LOCK_NAME, SIDECAR_NAME
from ..model import FileRecord
from .files import RECORD_COLUMNS, record_from_row
from .paths import below, display, from_columns
from .scans import ScanRecord, last_scan


# -- status -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Status:
    entities: dict[str, int]
    files: dict[str, int]
    bytes: dict[str, int]
    unmanaged: int
    gaps: int
    fingerprints: dict[str, int]
    last_scan: ScanRecord | None
    interrupted_scans: int

    def to_json(self) -> dict[str, Any]:
        return {"entities": self.entities, "files": self.files, "bytes": self.bytes, "unmanaged": self.unmanaged,
                "sequences_with_gaps": self.gaps, "fingerprints": self.fingerprints,
                "last_scan": self.last_scan.to_json() if self.last_scan else None,
                "interrupted_scans": self.interrupted_scans}


def status(conn: sqlite3.Connection) -> Status:
    entities = dict(conn.execute("SELECT kind, count(*) FROM entities GROUP BY kind ORDER BY kind"))
    files, sizes = {}, {}
    for state, count, total in conn.execute("SELECT state, count(*), coalesce(sum(size), 0) FROM files GROUP BY state"):
        files[state], sizes[state] = count, total
    unmanaged = _one(conn, "SELECT count(*) FROM files WHERE state = 'present' AND template IS NULL")
    gaps = _one(conn, "SELECT count(*) FROM sequences WHERE missing_count > 0 AND count > 0")
    fingerprints = dict(conn.execute("SELECT fingerprint, count(*) FROM files WHERE state = 'present' GROUP BY 1"))
    interrupted = _one(conn, "SELECT count(*) FROM scans WHERE status = 'interrupted'")
    return Status(entities, files, sizes, unmanaged, gaps, fingerprints, last_scan(conn), interrupted)


def _one(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> Any:
    return conn.execute(sql, params).fetchone()[0]


# -- drift ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FolderGroup:
    root: str
    folder: str
    count: int
    examples: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "folder": self.folder, "count": self.count, "examples": list(self.examples)}


@dataclass(frozen=True, slots=True)
class Gap:
    root: str
    pattern: str
    entity: str | None
    first: int
    last: int
    count: int
    missing: str
    missing_count: int

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "pattern": self.pattern, "entity": self.entity, "first": self.first,
                "last": self.last, "count": self.count, "missing": self.missing, "missing_count": self.missing_count}


_OWN_FILES = frozenset({SIDECAR_NAME, LOCK_NAME})


def unmanaged_by_folder(conn: sqlite3.Connection, *, examples: int = 3, limit: int = 200) -> list[FolderGroup]:
    """Present files no template matches, grouped by folder, biggest groups first; Bifrost's own sidecar
    and its lock are not drift (a broken sidecar is, as its own kind: ``Catalog.broken_sidecars``)."""
    groups: dict[tuple[str, str], list] = {}
    rows = conn.execute("SELECT f.root, fo.path, f.path, f.raw FROM files f JOIN folders fo ON fo.id = f.folder_id "
                        "WHERE f.state = 'present' AND f.template IS NULL ORDER BY f.root, fo.path, f.path")
    for root, folder, path, raw in rows:
        if raw:  # an undecodable name: the same lossless form as every other path in JSON
            folder, _, name = from_columns(path, raw).rpartition("/")
        else:
            name = path.rpartition("/")[2]
        if name in _OWN_FILES:
            continue
        entry = groups.setdefault((root, folder), [0, []])
        entry[0] += 1
        if len(entry[1]) < examples:
            entry[1].append(name)
    ordered = sorted(groups.items(), key=lambda item: (-item[1][0], item[0]))
    return [FolderGroup(root, folder, count, tuple(names)) for (root, folder), (count, names) in ordered[:limit]]


def missing_files(conn: sqlite3.Connection, *, limit: int = 1000) -> list[FileRecord]:
    sql = RECORD_COLUMNS.format(source="files f") + " WHERE f.state != 'present' ORDER BY f.root, f.path LIMIT ?"
    return [record_from_row(r) for r in conn.execute(sql, (limit,))]


def count_missing(conn: sqlite3.Connection) -> int:
    return _one(conn, "SELECT count(*) FROM files WHERE state != 'present'")


def gaps(conn: sqlite3.Connection, *, limit: int = 1000) -> list[Gap]:
    rows = conn.execute("""SELECT s.root, s.pattern, e.uri, s.first, s.last, s.count, s.missing, s.missing_count
                           FROM sequences s LEFT JOIN entities e ON e.id = s.entity_id
                           WHERE s.missing_count > 0 AND s.count > 0 ORDER BY s.root, s.pattern LIMIT ?""", (limit,))
    return [Gap(*row) for row in rows]


def present_records(conn: sqlite3.Connection, *, other_than: str | None = None) -> Iterator[FileRecord]:
    """Present records, optionally only those derived with a template set other than ``other_than``."""
    sql = RECORD_COLUMNS.format(source="files f") + " WHERE f.state = 'present'"
    params: tuple = ()
    if other_than is not None:
        sql += " AND f.fingerprint != ?"
        params = (other_than,)
    return (record_from_row(r) for r in conn.execute(sql, params))


# -- entities, listings, versions -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EntityInfo:
    id: int
    kind: str
    uri: str
    name: str
    keys: dict[str, Any]
    files: int = 0
    bytes: int = 0
    children: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri, "name": self.name, "keys": self.keys, "files": self.files,
                "bytes": self.bytes, "children": self.children}


ENTITY_COLUMNS = """
SELECT e.id, e.kind, e.uri, e.name, e.keys,
       (SELECT count(*) FROM files f WHERE f.entity_id = e.id AND f.state = 'present'),
       (SELECT coalesce(sum(size), 0) FROM files f WHERE f.entity_id = e.id AND f.state = 'present'),
       (SELECT count(*) FROM entities c WHERE c.parent_id = e.id)
FROM entities e
"""


def _entity(row: tuple) -> EntityInfo:
    return EntityInfo(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7])


def entity_by_uri(conn: sqlite3.Connection, uri: str) -> EntityInfo | None:
    row = conn.execute(ENTITY_COLUMNS + " WHERE e.uri = ?", (uri,)).fetchone()
    return _entity(row) if row else None


def entity_file_paths(conn: sqlite3.Connection, entity_id: int) -> list[tuple[str, str]]:
    """(root, relative path) of every present file of an entity and the entities below it."""
    rows = conn.execute("""SELECT f.root, f.path, f.raw FROM files f WHERE f.state = 'present' AND f.entity_id IN
                           (WITH RECURSIVE below(id) AS (SELECT ? UNION ALL
                            SELECT c.id FROM entities c JOIN below b ON c.parent_id = b.id) SELECT id FROM below)""",
                        (entity_id,))
    return [(root, from_columns(path, raw)) for root, path, raw in rows]


def children(conn: sqlite3.Connection, entity_id: int | None) -> list[EntityInfo]:
    where = "e.parent_id = ?" if entity_id is not None else "e.parent_id IS NULL"
    params = (entity_id,) if entity_id is not None else ()
    rows = [_entity(r) for r in conn.execute(ENTITY_COLUMNS + f" WHERE {where}", params)]
    return sorted(rows, key=lambda e: (e.kind, *_natural(e.name)))


def _natural(name: str) -> tuple[int, int, str]:
    """Sort key putting numbers (versions 1, 2, 10) in numeric order, before names."""
    return (0, int(name), "") if name.isascii() and name.isdigit() else (1, 0, name)


def entities_of_kind(conn: sqlite3.Connection, kind: str | None) -> list[EntityInfo]:
    """Every entity of ``kind`` (every entity, for None), in URI order."""
    where, params = ("WHERE e.kind = ?", (kind,)) if kind is not None else ("", ())
    return [_entity(r) for r in conn.execute(ENTITY_COLUMNS + f" {where} ORDER BY e.uri", params)]


def descendants(conn: sqlite3.Connection, entity_id: int, kind: str) -> list[EntityInfo]:
    """Entities of ``kind`` at or below ``entity_id``."""
    sql = f"""WITH RECURSIVE below(id) AS (SELECT ? UNION ALL SELECT c.id FROM entities c JOIN below b ON c.parent_id = b.id)
              {ENTITY_COLUMNS} WHERE e.id IN below AND e.kind = ?"""
    return [_entity(r) for r in conn.execute(sql, (entity_id, kind))]


@dataclass(frozen=True, slots=True)
class FileRow:
    root: str
    relative: str
    size: int
    state: str
    template: str | None
    hash: str | None
    frame: int | None
    sequence: str | None

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "path": self.relative, "size": self.size, "state": self.state,
                "template": self.template, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    root: str
    pattern: str
    first: int | None
    last: int | None
    count: int
    missing: str
    missing_count: int
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "pattern": self.pattern, "first": self.first, "last": self.last,
                "count": self.count, "missing": self.missing, "missing_count": self.missing_count, "bytes": self.bytes}


def entity_files(conn: sqlite3.Connection, entity_id: int) -> tuple[list[FileRow], list[SequenceInfo]]:
    """An entity's single files, and its frame files collapsed into sequences."""
    rows = conn.execute("""SELECT root, path, raw, size, state, template, hash, frame, sequence_id FROM files
                           WHERE entity_id = ? AND sequence_id IS NULL ORDER BY root, path""", (entity_id,))
    singles = [FileRow(r[0], from_columns(r[1], r[2]), r[3], r[4], r[5], r[6], r[7], None) for r in rows]
    seqs = conn.execute("""SELECT s.root, s.pattern, s.first, s.last, s.count, s.missing, s.missing_count,
                                  (SELECT coalesce(sum(size), 0) FROM files f WHERE f.sequence_id = s.id AND f.state = 'present')
                           FROM sequences s WHERE s.entity_id = ? AND s.count > 0 ORDER BY s.pattern""", (entity_id,))
    return singles, [SequenceInfo(*r) for r in seqs]


def files_below(conn: sqlite3.Connection, entity_id: int) -> list[FileRow]:
    """The present files of an entity and of the entities below it, in (root, path) order."""
    rows = conn.execute("""WITH RECURSIVE below(id) AS (SELECT ? UNION ALL
                             SELECT c.id FROM entities c JOIN below b ON c.parent_id = b.id)
                           SELECT f.root, f.path, f.raw, f.size, f.state, f.template, f.hash, f.frame, s.pattern
                           FROM files f LEFT JOIN sequences s ON s.id = f.sequence_id
                           WHERE f.state = 'present' AND f.entity_id IN below ORDER BY f.root, f.path""",
                        (entity_id,))
    return [FileRow(r[0], from_columns(r[1], r[2]), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]


def files_under(conn: sqlite3.Connection, root: str, folder: str, *, limit: int = 5000) -> list[FileRow]:
    """Files at or below a root-relative folder ("" for the whole root)."""
    text = display(folder)
    where = "WHERE f.root = ?"
    params: tuple[str, ...] = (root,)
    if text:
        where, params = where + " AND f.path >= ? AND f.path < ?", (root, *below(text))
    rows = conn.execute(f"""SELECT f.root, f.path, f.raw, f.size, f.state, f.template, f.hash, f.frame, s.pattern
                            FROM files f LEFT JOIN sequences s ON s.id = f.sequence_id {where}
                            ORDER BY f.path LIMIT ?""", (*params, limit))
    return [FileRow(r[0], from_columns(r[1], r[2]), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]


def versions_newest_first(conn: sqlite3.Connection, entity_id: int, version_field: str) -> list[EntityInfo]:
    """The versions at or below an entity that still have files on disk, the highest number first."""
    candidates = [v for v in descendants(conn, entity_id, "version") if v.files > 0]
    return sorted(candidates, key=lambda v: _version_number(v.keys.get(version_field)), reverse=True)


def has_present_files(conn: sqlite3.Connection, root: str, relative: str) -> bool:
    """Whether a present file is catalogued at the root-relative ``relative``, or below it as a folder."""
    text = display(relative)
    row = conn.execute("SELECT 1 FROM files WHERE root = ? AND state = 'present' AND "
                       "(path = ? OR (path >= ? AND path < ?)) LIMIT 1", (root, text, *below(text)))
    return row.fetchone() is not None


def sequence_has_frames(conn: sqlite3.Connection, root: str, pattern: str) -> bool:
    """Whether the frame sequence ``pattern`` (``####`` for the frame) of ``root`` has present frames."""
    row = conn.execute("SELECT 1 FROM sequences WHERE root = ? AND pattern = ? AND count > 0 LIMIT 1",
                       (root, pattern))
    return row.fetchone() is not None


def _version_number(value: Any) -> tuple[int, str]:
    return (value, "") if isinstance(value, int) else (-1, str(value))


@dataclass(frozen=True, slots=True)
class VersionInfo:
    entity: EntityInfo
    files: list[FileRow] = field(default_factory=list)
    sequences: list[SequenceInfo] = field(default_factory=list)


def versions(conn: sqlite3.Connection, entity_id: int, version_field: str) -> list[VersionInfo]:
    found = descendants(conn, entity_id, "version")
    found.sort(key=lambda v: (v.uri.rpartition("/")[0], _version_number(v.keys.get(version_field))))
    return [VersionInfo(v, *entity_files(conn, v.id)) for v in found]
