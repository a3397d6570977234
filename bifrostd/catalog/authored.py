"""The index of sidecar files: each folder's authored data, the last good values, and its current problems.

A row is keyed by the sidecar's folder (``folders.id``), because the
sidecar belongs to the folder it sits in; the entity it describes is the
one whose folder that is. The row is an index: every value in it comes from
a sidecar in the tree, so deleting the catalog and scanning rebuilds it.

Invariant: a broken sidecar never blanks what was known. Indexing one keeps
``data`` (the last good document) and sets ``problems``; indexing a good one
replaces ``data`` and clears ``problems``. A broken sidecar seen for the
first time has no good values: ``data`` is NULL.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Sequence

from ..authored import Authored, SidecarRead, parse_sidecar, render_sidecar
from ..model import EntityRow
from .connection import transaction
from .entities import EntityIds
from .folders import FolderIds
from .search import index_entity_text

__all__ = ["AuthoredRow", "authored_folders", "authored_row", "broken_sidecars", "index_sidecar"]


@dataclass(frozen=True, slots=True)
class AuthoredRow:
    """What the catalog holds for one folder's sidecar."""

    root: str
    folder: str
    data: Authored | None
    problems: tuple[dict[str, Any], ...]
    updated_ns: int


_UPSERT = """
INSERT INTO authored (folder_id, data, problems, updated_ns) VALUES (?, ?, ?, ?)
ON CONFLICT (folder_id) DO UPDATE SET
    data = COALESCE(excluded.data, authored.data), problems = excluded.problems, updated_ns = excluded.updated_ns
"""


def index_sidecar(conn: sqlite3.Connection, root: str, folder: str, read: SidecarRead, now_ns: int,
                  entity: Sequence[EntityRow] = ()) -> None:
    """Record ``read`` for the sidecar of ``folder``: good data replaces, a broken read keeps the last good.
    ``entity``: the rows of the entity whose folder it is, parents first, made if missing; a good read
    replaces that entity's search document and links (``search``), in the same transaction."""
    data = render_sidecar(read.data) if read.data is not None and read.ok else None
    problems = json.dumps([p.to_json() for p in read.problems]) if read.problems else None
    with transaction(conn):
        folder_id = FolderIds(conn).ensure(root, folder)
        conn.execute(_UPSERT, (folder_id, data, problems, now_ns))
        entity_id = EntityIds(conn).ensure(entity, now_ns) if entity else None
        if entity_id is not None and data is not None:
            assert read.data is not None  # data is rendered from it
            index_entity_text(conn, entity_id, folder, read.data)
            conn.execute("UPDATE entities SET updated_ns = ? WHERE id = ?", (now_ns, entity_id))


_SELECT = """
SELECT fo.root, fo.path, a.data, a.problems, a.updated_ns FROM authored a JOIN folders fo ON fo.id = a.folder_id
"""


def authored_row(conn: sqlite3.Connection, root: str, folder: str) -> AuthoredRow | None:
    row = conn.execute(_SELECT + "WHERE fo.root = ? AND fo.path = ?", (root, folder)).fetchone()
    return None if row is None else _row(row)


def authored_folders(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(root, folder) of every folder whose sidecar was ever indexed, in that order."""
    return [(root, path) for root, path in conn.execute(
        "SELECT fo.root, fo.path FROM authored a JOIN folders fo ON fo.id = a.folder_id ORDER BY fo.root, fo.path")]


def broken_sidecars(conn: sqlite3.Connection) -> list[AuthoredRow]:
    """Every folder whose sidecar is broken now, in (root, folder) order (for ``drift``)."""
    rows = conn.execute(_SELECT + "WHERE a.problems IS NOT NULL ORDER BY fo.root, fo.path").fetchall()
    return [_row(row) for row in rows]


def _row(row: tuple[Any, ...]) -> AuthoredRow:
    root, folder, data, problems, updated_ns = row
    return AuthoredRow(root, folder, _document(data), tuple(json.loads(problems)) if problems else (), updated_ns)


def _document(data: str | None) -> Authored | None:
    """The stored document (the sidecar's text as Bifrost renders it) back as values, through the one parser."""
    if data is None:
        return None
    return parse_sidecar(data, "catalog").data


