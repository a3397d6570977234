"""The append-only activity log: what appeared, changed, moved, vanished, was rematched or forgotten.

Each event names the file owner as the user (uid → name via ``pwd``, looked
up here at the edge and cached), the source (scan, watch, command), the path
and the entity. Events are written in the same transaction as the change they
describe, so the log never tells of a change the catalog does not hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Iterator

from .paths import from_columns


class EventKind(str, Enum):
    APPEARED = "appeared"
    CHANGED = "changed"
    MOVED = "moved"
    VANISHED = "vanished"
    REMATCHED = "rematched"
    FORGOTTEN = "forgotten"  # a missing record removed by ``bifrostctl forget``


class Source(str, Enum):
    SCAN = "scan"
    WATCH = "watch"
    COMMAND = "command"


@lru_cache(maxsize=4096)
def owner_name(uid: int) -> str | None:
    """The login name of ``uid``, or None (unknown uid, or no ``pwd`` on this OS)."""
    if uid < 0:
        return None
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return None


#: An event names its file by ``folder_id`` and the name in that folder (``path``), or, with no folder, by
#: the whole path: an undecodable name (``raw`` holds the whole path's bytes), or an event logged before
#: migration 0010. The file's id is looked up by its whole path (root, text, raw: the last three ``?``).
INSERT_EVENT = """
INSERT INTO events (at_ns, kind, source, root, folder_id, path, raw, old_path, old_raw, file_id, entity_id, uid, user,
                    scan_id, details)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM files WHERE root = ? AND path = ? AND raw = ?), ?, ?, ?, ?, ?)
"""
#: The same with the file's id known (files added in bulk), which saves a lookup per event.
INSERT_EVENT_FILE_ID = """
INSERT INTO events (at_ns, kind, source, root, folder_id, path, raw, old_path, old_raw, file_id, entity_id, uid, user,
                    scan_id, details)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
#: An event's whole path (text form), for a query joining ``events ev`` and its folder ``fo``.
EVENT_PATH = "CASE WHEN fo.path IS NULL THEN ev.path WHEN fo.path = '' THEN ev.path ELSE fo.path || '/' || ev.path END"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at_ns: int
    kind: str
    source: str
    root: str
    relative: str
    old_relative: str | None
    file_id: int | None
    entity_uri: str | None
    user: str | None
    scan_id: int | None
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at_ns": self.at_ns, "kind": self.kind, "source": self.source, "root": self.root,
                "path": self.relative, "old_path": self.old_relative, "file_id": self.file_id,
                "entity": self.entity_uri, "user": self.user, "scan_id": self.scan_id, "details": self.details}


LOG_QUERY = f"""
SELECT ev.id, ev.at_ns, ev.kind, ev.source, ev.root, {EVENT_PATH}, ev.raw, ev.old_path, ev.old_raw, ev.file_id,
       en.uri, ev.user, ev.scan_id, ev.details
FROM events ev LEFT JOIN folders fo ON fo.id = ev.folder_id LEFT JOIN entities en ON en.id = ev.entity_id
WHERE ev.at_ns >= ? {{extra}}
ORDER BY ev.id DESC LIMIT ?
"""


def read_log(conn, *, since_ns: int = 0, limit: int = 100, kind: str | None = None,
             entity_uri: str | None = None) -> Iterator[Event]:
    """The newest events first."""
    extra = ""
    params: list[int | str] = [since_ns]
    if kind:
        extra += " AND ev.kind = ?"
        params.append(kind)
    if entity_uri:
        extra += " AND en.uri = ?"
        params.append(entity_uri)
    for row in conn.execute(LOG_QUERY.format(extra=extra), (*params, limit)):
        old = from_columns(row[7], row[8]) if row[7] is not None else None
        yield Event(row[0], row[1], row[2], row[3], row[4], from_columns(row[5], row[6]), old, row[9], row[10],
                    row[11], row[12], json.loads(row[13]) if row[13] else {})
