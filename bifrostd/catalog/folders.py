"""Folder rows: each folder that holds catalogued files, stored once and named by id in ``files.folder_id``.

Most of a path's length is its folder, and every file of a folder repeated
it, in the record and again in an index by folder: a record now names its
folder by a small integer, and the folder's path (the escaped text form, see
``paths``) is in ``folders`` once. Folder rows are never deleted: a folder
whose records are all forgotten costs one row, and whichever walk finds
files there again uses it.
"""

from __future__ import annotations

import sqlite3

from .connection import inserted_id
from .entities import IdCache

#: The folders of a root that hold records: one seek of ``files_folder`` per folder of the root.
FOLDERS_WITH_FILES = """
SELECT fo.root, fo.path FROM folders fo
WHERE fo.root = ? AND EXISTS (SELECT 1 FROM files f WHERE f.folder_id = fo.id)
"""


def event_path(folder_id: int | None, text: str, raw: bytes) -> tuple[int | None, str]:
    """(folder_id, path) as an event stores a file's path: its folder and its name, or no folder and the
    whole path for an undecodable name (whose ``raw`` bytes are the whole path's)."""
    return (None, text) if raw else (folder_id, text.rpartition("/")[2])


class FolderIds:
    """(root, folder text) → id, creating a folder's row on first use."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cache = IdCache(conn, every="SELECT root, path, id FROM folders",
                             one="SELECT id FROM folders WHERE root = ? AND path = ?")

    def preload(self) -> None:
        self.cache.preload()

    def ensure(self, root: str, text: str) -> int:
        key = (root, text)
        found = self.cache.get(key)
        if found is None:
            cursor = self.conn.execute("INSERT INTO folders (root, path) VALUES (?, ?)", key)
            found = self.cache.add(key, inserted_id(cursor))
        return found
