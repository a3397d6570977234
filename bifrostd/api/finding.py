"""Finding entities: full-text search, saved searches, latest versions per task, links to an entity."""

from __future__ import annotations

import os as _os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence
from time import time_ns as _time_ns

from ..authored import Link

if TYPE_CHECKING:
    from ..catalog.search import SearchHit

from .base import StudioBase
from .values import Entity


class Finding(StudioBase):
    """Finding entities (mixed into :class:`~bifrostd.api.Studio`)."""

    def search(self, text: str = "", *, kind: str | None = None, project: str | None = None,
               task: str | None = None, user: str | None = None, tags: Sequence[str] = (),
               since: str | None = None, limit: int = 50, saved: str | None = None,
               searches: str | _os.PathLike[str] | None = None) -> tuple[SearchHit, ...]:
        """Entities whose names, paths, descriptions, publish comments, publishers or tags hold every word of
        ``text`` (the last word, and any ending in ``*``, as a prefix), ranked best first (bm25); the filters
        combine. ``since``: an age (``7d``) or ISO time. ``saved``: a saved search's query (see
        :meth:`save_search`), which the arguments given override. Any text is safe: words are never syntax."""
        from ..catalog.search import SearchQuery
        from ..production.searches import default_file, parse_since, saved_query

        base = saved_query(Path(searches) if searches else default_file(), saved) if saved else {}
        since = since or base.get("since")
        query = SearchQuery(text or base.get("text", ""), kind or base.get("kind"), project or base.get("project"),
                            task or base.get("task"), user or base.get("user"), tuple(tags or base.get("tags", ())),
                            parse_since(since, _time_ns()) if since else None,
                            limit if limit != 50 else base.get("limit", 50))
        with self._reading() as catalog:
            return tuple(catalog.search(query))

    def save_search(self, name: str, text: str = "", *, kind: str | None = None, project: str | None = None,
                    task: str | None = None, user: str | None = None, tags: Sequence[str] = (),
                    since: str | None = None, limit: int = 50, searches: str | _os.PathLike[str] | None = None
                    ) -> dict[str, Any]:
        """Save a search under ``name`` in the user's file (``~/.config/bifrost/searches.json``, or
        ``searches``), never in the catalog, which a rebuild would empty; returns the saved query. ``since``
        is kept as written: a saved ``7d`` means the last seven days whenever it is run."""
        from ..production.searches import default_file, parse_since, save_search

        if since:
            parse_since(since, _time_ns())  # refused now, not when it is run
        query = {"text": text, "kind": kind, "project": project, "task": task, "user": user, "tags": list(tags),
                 "since": since, "limit": limit}
        query = {k: v for k, v in query.items() if v not in (None, [], "") or k == "text"}
        save_search(Path(searches) if searches else default_file(), name, query)
        return query

    def latest_versions(self, reference: str) -> dict[str, Entity]:
        """The latest version with files on disk and not deprecated, of each task at or below an entity, by
        task name (the version's parent's name); what ``bifrostctl show`` lists. Reads no file rows."""
        from ..reconcile.targets import find_entity
        from ..resolver import latest_per_task

        with self._reading() as catalog:
            found = latest_per_task(catalog, self._set, find_entity(catalog, self._set, reference).id)
        return {task: self._catalogued(info) for task, info in found.items()}

    def links_to(self, reference: str) -> tuple[Link, ...]:
        """The links *to* an entity from other entities' sidecars: each as (the linking entity, kind)."""
        uri = self.entity(reference).uri
        with self._reading() as catalog:
            return tuple(Link(source, kind) for source, kind in catalog.links_to(uri))
