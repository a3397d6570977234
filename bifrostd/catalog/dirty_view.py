"""The planner's view for a batch of the watcher's dirty paths: a few indexed lookups, never a scan.

A walk's view (``files.load_view``) starts from folders; a dirty batch knows
its paths exactly, and must cost in proportion to them whatever the size of
the catalog: the records at the dirty file paths, the records and
remembered folders under the dirty folders (range scans of the primary
key), and the missing records that could be the source of a move to an
observed file (by device and inode; for big batches, every missing record
of the root, through the partial index on state).
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

from ..model import CatalogView
from .files import RECORD_COLUMNS, record_from_row
from .paths import below, from_columns, to_columns

#: Above this many observed files, load all missing records of the root at once instead of one lookup each.
INODE_LOOKUPS_MAX = 2000


def dirty_view(conn: sqlite3.Connection, root: str, files: Iterable[str], folders: Iterable[str],
               inodes: Iterable[tuple[int, int]]) -> CatalogView:
    rows: dict[int, tuple] = {}
    _at_paths(conn, root, files, rows)
    folders = list(folders)
    under = RECORD_COLUMNS.format(source="files f") + " WHERE f.root = ? AND f.path >= ? AND f.path < ?"
    for folder in folders:
        text = to_columns(folder)[0]
        rows.update((r[0], r) for r in conn.execute(under, (root, *below(text))))
    _missing(conn, root, list(inodes), rows)
    return CatalogView(tuple(record_from_row(r) for r in rows.values()), _dirs_under(conn, root, folders))


def _at_paths(conn: sqlite3.Connection, root: str, files: Iterable[str], rows: dict[int, tuple]) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dirty_paths (path TEXT NOT NULL, raw BLOB NOT NULL)")
    conn.execute("DELETE FROM dirty_paths")
    conn.executemany("INSERT INTO dirty_paths VALUES (?, ?)", (to_columns(f) for f in files))
    sql = RECORD_COLUMNS.format(
        source="dirty_paths d JOIN files f ON f.root = ? AND f.path = d.path AND f.raw = d.raw")
    rows.update((r[0], r) for r in conn.execute(sql, (root,)))


def _missing(conn: sqlite3.Connection, root: str, inodes: list[tuple[int, int]], rows: dict[int, tuple]) -> None:
    # '+f.root': through the files_state index (the missing records only), not one holding every record of the root
    base = RECORD_COLUMNS.format(source="files f") + " WHERE f.state != 'present' AND +f.root = ?"
    if len(inodes) > INODE_LOOKUPS_MAX:
        rows.update((r[0], r) for r in conn.execute(base, (root,)))
        return
    sql = base + " AND f.device = ? AND f.inode = ?"
    for device, inode in set(inodes):
        rows.update((r[0], r) for r in conn.execute(sql, (root, device, inode)))


def _dirs_under(conn: sqlite3.Connection, root: str, folders: list[str]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    sql = "SELECT path, raw, mtime_ns FROM dirs WHERE root = ? AND (path = ? OR (path >= ? AND path < ?))"
    for folder in folders:
        text = to_columns(folder)[0]
        for path, raw, mtime in conn.execute(sql, (root, text, *below(text))):
            out[(root, from_columns(path, raw))] = mtime
    return out
