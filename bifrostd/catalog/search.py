"""Full-text search over entities: the FTS5 index, kept in step with entities and sidecars, and its queries.

One document per entity (``search.rowid`` is ``entities.id``): its name, its
path (the reference's words, and the folder of its sidecar), and what people
authored (description, publish comment and user, tags). Links are indexed
beside it (``entity_links``), so ``show`` answers the links *to* an entity
too. Every row comes from the tree: an entity's name and path when the
applier first inserts it, the rest when its sidecar is indexed, in the same
transaction; so ``rm catalog.db && bifrostctl scan`` rebuilds it.

User text never reaches FTS5 as query syntax: :func:`match_expression`
quotes each word as an FTS5 string, so ``AND``, ``"``, ``(``, ``:`` or ``-``
typed in a search box are words, never operators, and never an error.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..authored import Authored
from ..errors import SearchUnavailable

__all__ = ["SearchHit", "SearchQuery", "check_fts5", "entity_path_text", "incoming_links", "index_entity_name",
           "index_entity_text", "match_expression", "search", "tags_of"]

#: The columns, in order; ``rank`` is bm25 with weights set by the migration (name 10, tags 5, path 3, rest 1).
_COLUMNS = ("name", "path", "description", "comment", "tags", "user", "project", "task", "kind")


def check_fts5(conn: sqlite3.Connection) -> None:
    """Raise SearchUnavailable when this Python's SQLite was built without FTS5."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp._fts5_probe")
    except sqlite3.OperationalError:
        raise SearchUnavailable(version=sqlite3.sqlite_version) from None


def entity_path_text(uri: str, folder: str = "") -> str:
    """The words of an entity's path: its reference without the scheme, and its folder when known."""
    path = uri.partition(":///")[2] or uri
    return f"{path} {folder}".strip()


def index_entity_name(conn: sqlite3.Connection, entity_id: int, kind: str, name: str, uri: str,
                      keys: dict[str, Any]) -> None:
    """The document of a new entity: name, path, kind, and the project and task of ``keys`` (its own and
    those of the entities above it), for the filters; its sidecar, if any, fills the rest."""
    conn.execute("INSERT INTO search (rowid, name, path, project, task, kind) VALUES (?, ?, ?, ?, ?, ?)",
                 (entity_id, name, entity_path_text(uri), _key(keys, "project"), _key(keys, "task"), kind))


def _key(keys: dict[str, Any], name: str) -> str | None:
    value = keys.get(name)
    return None if value is None else str(value)


def index_entity_text(conn: sqlite3.Connection, entity_id: int, folder: str, data: Authored) -> None:
    """Replace the entity's document and links with what its (good) sidecar says."""
    name, uri = conn.execute("SELECT name, uri FROM entities WHERE id = ?", (entity_id,)).fetchone()
    project, task, kind = conn.execute("SELECT project, task, kind FROM search WHERE rowid = ?",
                                       (entity_id,)).fetchone()
    publish = data.publish
    conn.execute("DELETE FROM search WHERE rowid = ?", (entity_id,))
    conn.execute("INSERT INTO search (rowid, name, path, description, comment, tags, user, project, task, kind) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (entity_id, name, entity_path_text(uri, folder), data.description,
                  publish.comment if publish else "", " ".join(data.tags), publish.user if publish else "",
                  project, task, kind))
    conn.execute("DELETE FROM entity_links WHERE entity_id = ?", (entity_id,))
    conn.executemany("INSERT OR IGNORE INTO entity_links (entity_id, target, kind) VALUES (?, ?, ?)",
                     ((entity_id, link.target, link.kind) for link in data.links))


def match_expression(text: str, *, prefix: bool = True) -> str:
    """An FTS5 query matching every word of ``text``: each quoted as a string (never syntax); a word ending
    in ``*``, and the last word when ``prefix`` (search as you type), matches as a prefix, from two
    characters on (the prefix index holds 2 and 3; one letter would match nearly everything). "" for no
    words."""
    words = text.replace("\x00", " ").split()  # a NUL would end the FTS5 string early: never a word's part
    terms = []
    for i, word in enumerate(words):
        core = word.rstrip("*")
        if not core:
            continue
        star = (word.endswith("*") or (prefix and i == len(words) - 1)) and len(core) > 1
        terms.append('"' + core.replace('"', '""') + '"' + ("*" if star else ""))
    return " ".join(terms)


def _column_phrase(column: str, value: str) -> str:
    quoted = value.replace("\x00", " ").replace('"', '""')
    return f'{column} : "{quoted}"'

@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search: words (any may be empty when a filter is given) and filters, which all combine (AND).

    ``since_ns``: entities whose files or sidecar changed at or after it.
    """

    text: str = ""
    kind: str | None = None
    project: str | None = None
    task: str | None = None
    user: str | None = None
    tags: tuple[str, ...] = ()
    since_ns: int | None = None
    limit: int = 50
    prefix: bool = True

    def expression(self, *, names_only: bool = False) -> str:
        """The whole FTS5 MATCH expression: the words (in the name column only, with ``names_only``), and
        the user and tag filters as column phrases."""
        words = match_expression(self.text, prefix=self.prefix)
        parts = [f"name : ({words})" if names_only and words else words]
        parts += [_column_phrase("tags", tag) for tag in self.tags]
        if self.user:
            parts.append(_column_phrase("user", self.user))
        return " AND ".join(p for p in parts if p)  # explicit: FTS5 wants AND after a parenthesised group


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One entity found, best first: lower ``score`` is better (bm25; 0 when nothing was matched on words)."""

    uri: str
    kind: str
    name: str
    score: float
    description: str
    tags: tuple[str, ...]
    user: str
    updated_ns: int

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "kind": self.kind, "name": self.name, "score": round(self.score, 4),
                "description": self.description, "tags": list(self.tags), "user": self.user or None,
                "updated_ns": self.updated_ns}


#: Above this many matches a query is broad (the first letters typed): bm25 costs 3-4 µs a match (0.15 s
#: for ``sh*`` over 100,000 entities), so a broad query is ranked among the matches in names (when those
#: are not broad too), then filled with further matches unranked, in catalog order.
BROAD = 2000


def search(conn: sqlite3.Connection, query: SearchQuery) -> list[SearchHit]:
    """The entities matching ``query``, best first (bm25), at most ``query.limit``; with no words and no
    user or tag filter, the most recently changed entities the other filters keep.

    The ranking runs on the FTS5 table alone, filters included (project,
    task and kind are its unindexed columns), and only the best rows are
    joined to ``entities``. A broad query (more than :data:`BROAD` matches)
    ranks the matches in names first and fills up with the others, unranked
    (score 0), which keeps a search-as-you-type keystroke fast in a catalog
    of 100,000 entities.
    """
    expression = query.expression()
    if not expression:
        return _recent(conn, query)
    where, params = _filters(query)
    found = _best(conn, expression, where, params, query.limit)
    if found is not None:
        return _hits(conn, found)
    names = query.expression(names_only=True) if query.text.split() else ""
    found = []
    if names:
        found = _best(conn, names, where, params, query.limit) or _first(conn, names, where, params, query.limit)
    if len(found) < query.limit:
        seen = {entity_id for entity_id, _ in found}
        more = _first(conn, expression, where, params, query.limit + len(found))
        found += [hit for hit in more if hit[0] not in seen][:query.limit - len(found)]
    return _hits(conn, found)


def _best(conn: sqlite3.Connection, expression: str, where: str, params: list[Any], limit: int
          ) -> list[tuple[int, float]] | None:
    """The ``limit`` best matches by bm25, or None when the expression is broad (a cheap count says)."""
    count = conn.execute("SELECT count(*) FROM search WHERE search MATCH ?", (expression,)).fetchone()[0]
    if count > BROAD:
        return None
    sql = f"SELECT rowid, rank FROM search WHERE search MATCH ? {where} ORDER BY rank LIMIT ?"
    return [(entity_id, float(score)) for entity_id, score in conn.execute(sql, (expression, *params, limit))]


def _first(conn: sqlite3.Connection, expression: str, where: str, params: list[Any], limit: int
           ) -> list[tuple[int, float]]:
    """The first ``limit`` matches in catalog order, unranked (score 0)."""
    sql = f"SELECT rowid FROM search WHERE search MATCH ? {where} LIMIT ?"
    return [(entity_id, 0.0) for entity_id, in conn.execute(sql, (expression, *params, limit))]


_FIELDS = "e.id, e.uri, e.kind, e.name, {t}.description, {t}.tags, {t}.user, e.updated_ns"


def _hits(conn: sqlite3.Connection, found: list[tuple[int, float]]) -> list[SearchHit]:
    """The hits for (entity id, score) pairs, in their order."""
    if not found:
        return []
    rows = {row[0]: row[1:] for row in conn.execute(
        f"SELECT {_FIELDS.format(t='s')} FROM entities e JOIN search s ON s.rowid = e.id "
        "WHERE e.id IN (SELECT value FROM json_each(?))", (json.dumps([i for i, _ in found]),))}
    return [_hit(rows[entity_id], score) for entity_id, score in found if entity_id in rows]


def _hit(row: tuple[Any, ...], score: float) -> SearchHit:
    uri, kind, name, description, tags, user, updated_ns = row
    return SearchHit(uri, kind, name, score, description or "", tuple((tags or "").split()), user or "", updated_ns)


def _recent(conn: sqlite3.Connection, query: SearchQuery) -> list[SearchHit]:
    """No words: the most recently changed entities the filters keep. Without a project or task filter,
    ``entities`` alone answers (its indexes on kind and on change time), and only the hits are joined;
    with one, CROSS JOIN keeps ``entities`` the outer loop, newest first, so the scan stops at the limit."""
    if query.project is None and query.task is None:
        where, params = _filters(query, kind="e.kind", updated="e.updated_ns")
        ids = conn.execute(f"SELECT e.id FROM entities e WHERE 1 {where} ORDER BY e.updated_ns DESC, e.id DESC "
                           "LIMIT ?", (*params, query.limit)).fetchall()
        return _hits(conn, [(entity_id, 0.0) for entity_id, in ids])
    where, params = _filters(query, kind="e.kind", updated="e.updated_ns")
    sql = (f"SELECT {_FIELDS.format(t='search')} FROM entities e CROSS JOIN search ON search.rowid = e.id "
           f"WHERE 1 {where} ORDER BY e.updated_ns DESC, e.id DESC LIMIT ?")
    return [_hit(row[1:], 0.0) for row in conn.execute(sql, (*params, query.limit))]


_UPDATED = "(SELECT updated_ns FROM entities WHERE id = search.rowid)"


def _filters(query: SearchQuery, *, kind: str = "search.kind", updated: str = _UPDATED) -> tuple[str, list[Any]]:
    """SQL conditions on the ``search`` table; ``kind`` and ``updated`` name the entity's kind and change
    time (in the FTS5 table and by its primary key, unless the caller joined ``entities``)."""
    where: list[str] = []
    params: list[Any] = []
    for sql, value in ((f"{kind} = ?", query.kind), ("search.project = ?", query.project),
                       ("search.task = ?", query.task), (f"{updated} >= ?", query.since_ns)):
        if value is not None:
            where.append(sql)
            params.append(value)
    return "".join(f" AND {w}" for w in where), params


def tags_of(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    """The tags of the entities with ``ids`` (those with none left out), from their search documents."""
    rows = conn.execute("SELECT rowid, tags FROM search WHERE rowid IN (SELECT value FROM json_each(?)) "
                        "AND tags != ''", (json.dumps(ids),))
    return {entity_id: tuple(tags.split()) for entity_id, tags in rows}


def incoming_links(conn: sqlite3.Connection, uri: str) -> list[tuple[str, str]]:
    """(uri of the entity that links here, kind of link) for every sidecar link whose target is ``uri``."""
    return [(source, kind) for source, kind in conn.execute(
        "SELECT e.uri, l.kind FROM entity_links l JOIN entities e ON e.id = l.entity_id WHERE l.target = ? "
        "ORDER BY e.uri, l.kind", (uri,))]
