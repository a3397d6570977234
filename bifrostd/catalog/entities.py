"""Entity and sequence rows: ids by URI / pattern, created on first use, sequence stats kept current.

Entities are never deleted: a shot whose files all vanished still has its
history. Ids are looked up as they are needed (one indexed SELECT each, then
cached for the applier's life), so the daemon's small batches cost the same
in a catalog of a million files as in an empty one; a plan of thousands of
actions (a first index, a full walk) loads every id at once instead, since it
needs most of them.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from ..model import Classification, EntityRow
from .connection import inserted_id
from .frame_fields import fields_around, stored_fields
from .search import index_entity_name
from ..sequences import FrameRange, collapse, format_ranges


class IdCache:
    """Ids by a unique key, each looked up on first use (one indexed SELECT) until ``preload`` reads them all.

    ``every`` selects the key columns then the id of every row; ``one``
    selects the id of the row whose key columns are the parameters.
    """

    def __init__(self, conn: sqlite3.Connection, *, every: str, one: str) -> None:
        self.conn, self._every, self._one = conn, every, one
        self.ids: dict[tuple, int] = {}
        self._complete = False  # ``ids`` holds every row: a miss means there is none

    def preload(self) -> None:
        """Cache every id at once (for plans that touch most of them)."""
        if not self._complete:
            self.ids = {tuple(row[:-1]): row[-1] for row in self.conn.execute(self._every)}
            self._complete = True

    def get(self, key: tuple) -> int | None:
        found = self.ids.get(key)
        if found is None and not self._complete:
            row = self.conn.execute(self._one, key).fetchone()
            if row is not None:
                found = self.ids[key] = row[0]
        return found

    def add(self, key: tuple, row_id: int) -> int:
        self.ids[key] = row_id
        return row_id


class EntityIds:
    """URI → id for entities, creating missing ones parents first."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cache = IdCache(conn, every="SELECT uri, id FROM entities", one="SELECT id FROM entities WHERE uri = ?")
        self.touched: set[int] = set()
        self._batch: dict[str, int] = {}  # entities whose whole chain is touched in this batch

    def preload(self) -> None:
        self.cache.preload()

    def lookup(self, uri: str | None) -> int | None:
        """The id of the entity ``uri``, or None when there is none."""
        return self.cache.get((uri,)) if uri else None

    def ensure(self, rows: Sequence[EntityRow], now_ns: int) -> int | None:
        """The id of the last row (the entity itself), creating any row not yet known."""
        if not rows:
            return None
        entity_id = self._batch.get(rows[-1].uri)
        if entity_id is not None:
            return entity_id
        row_id = 0
        keys: dict = {}  # the chain's keys so far: a new entity's project and task, for search
        for row in rows:  # not empty: the last row's id is the entity's
            keys.update(json.loads(row.keys_json))
            found = self.lookup(row.uri)
            row_id = self._insert(row, now_ns, keys) if found is None else found
            self.touched.add(row_id)
        self._batch[rows[-1].uri] = row_id
        return row_id

    def _insert(self, row: EntityRow, now_ns: int, keys: dict) -> int:
        parent_id = self.lookup(row.parent)
        cursor = self.conn.execute(
            "INSERT INTO entities (kind, uri, name, keys, parent_id, created_ns, updated_ns) VALUES (?,?,?,?,?,?,?)",
            (row.kind, row.uri, row.name, row.keys_json, parent_id, now_ns, now_ns))
        entity_id = self.cache.add((row.uri,), inserted_id(cursor))
        index_entity_name(self.conn, entity_id, row.kind, row.name, row.uri, keys)  # searchable from the transaction it appears in
        return entity_id

    def flush_touched(self, now_ns: int) -> None:
        """Mark the entities whose files changed in this batch as updated."""
        self.conn.executemany("UPDATE entities SET updated_ns = ? WHERE id = ?", ((now_ns, i) for i in self.touched))
        self.touched.clear()
        self._batch.clear()


class SequenceIds:
    """(root, pattern) → id for frame sequences; recomputes the stats of touched ones."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.cache = IdCache(conn, every="SELECT root, pattern, id FROM sequences",
                             one="SELECT id FROM sequences WHERE root = ? AND pattern = ?")
        self.touched: set[int] = set()
        self._around: dict[int, tuple[str | None, str | None]] = {}  # id -> (fields_head, fields_tail)

    def preload(self) -> None:
        self.cache.preload()
        self._around = {row[0]: row[1:] for row in self.conn.execute(
            "SELECT id, fields_head, fields_tail FROM sequences")}

    def lookup(self, root: str, pattern: str | None) -> int | None:
        """The id of the sequence ``pattern`` of ``root``, or None when there is none."""
        return None if pattern is None else self.cache.get((root, pattern))

    def ensure(self, root: str, classification: Classification, entity_id: int | None, now_ns: int) -> int | None:
        if classification.sequence is None:
            return None
        sequence_id = self.lookup(root, classification.sequence)
        if sequence_id is None:
            around = fields_around(classification.fields_json, classification.frame)
            cursor = self.conn.execute(
                "INSERT INTO sequences (root, pattern, template, entity_id, updated_ns, fields_head, fields_tail) "
                "VALUES (?,?,?,?,?,?,?)", (root, classification.sequence, classification.template, entity_id, now_ns,
                                           *around))
            sequence_id = self.cache.add((root, classification.sequence), inserted_id(cursor))
            self._around[sequence_id] = around
        self.touched.add(sequence_id)
        return sequence_id

    def fields_column(self, sequence_id: int | None, classification: Classification) -> str | None:
        """What ``files.fields`` stores for a file of ``sequence_id``: None when the sequence gives it back."""
        if sequence_id is None:
            return classification.fields_json
        around = self._around.get(sequence_id)
        if around is None:
            row = self.conn.execute("SELECT fields_head, fields_tail FROM sequences WHERE id = ?", (sequence_id,))
            around = self._around[sequence_id] = tuple(row.fetchone())
        return stored_fields(classification.fields_json, classification.frame, *around)

    def touch(self, sequence_id: int | None) -> None:
        if sequence_id is not None:
            self.touched.add(sequence_id)

    def refresh(self, now_ns: int) -> None:
        """Recompute first/last/count/missing of every touched sequence from its present frames.

        One query reads the frames of all touched sequences (their ids passed
        as one JSON array) and one ``executemany`` writes the results: a
        first index touches thousands of sequences per batch.
        """
        if not self.touched:
            return
        frames: dict[int, list[int]] = {i: [] for i in self.touched}
        rows = self.conn.execute(
            "SELECT sequence_id, frame FROM files WHERE sequence_id IN (SELECT value FROM json_each(?)) "
            "AND state = 'present'", (json.dumps(sorted(self.touched)),))
        for sequence_id, frame in rows:
            frames[sequence_id].append(frame)
        self.conn.executemany(
            "UPDATE sequences SET first=?, last=?, count=?, missing=?, missing_count=?, updated_ns=? WHERE id=?",
            ((*_stats(found), now_ns, i) for i, found in ((i, collapse(f)) for i, f in frames.items())))
        self.touched.clear()


def _stats(found: FrameRange | None) -> tuple:
    if found is None:
        return (None, None, 0, "", 0)
    return (found.first, found.last, found.count, format_ranges(found.missing), found.missing_count)
