"""The studio's core: opening it, the template set alone, and reading the catalog.

The capabilities that write the tree, find entities and read USD layers are
mixed in by :class:`bifrostd.api.Studio` from their own modules.
"""

from __future__ import annotations

import os as _os
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Self
from urllib.parse import urlencode

from ..authored import Authored
from ..errors import (ResolveError)

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..catalog.queries import EntityInfo, FileRow, SequenceInfo
    from ..config import Config
    from ..resolver import LatestQuery
    from ..templates import TemplateSet
    from ..templates import Entity as TemplateEntity
    from ..templates.references import ResolvedReference

from .values import Entity, Fields, File, FrameSequence, Listing, Match, Unresolved, Version


class StudioBase:
    """What every part of :class:`~bifrostd.api.Studio` stands on: its config, template set and catalog."""

    def __init__(self, config: Config, template_set: TemplateSet) -> None:
        self._config = config
        self._set = template_set
        self._catalog: Catalog | None = None
        self._catalog_pid = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config: str | _os.PathLike[str] | None = None) -> Self:
        """Open the studio of ``config`` (a ``bifrost.yaml`` or the folder holding one), or the one
        ``bifrostctl`` would find: ``$BIFROST_CONFIG``, ``./bifrost.yaml``, ``/etc/bifrost/bifrost.yaml``.

        Raises ConfigError naming file, line and key when the config is
        invalid, TemplateError when the template set is.
        """
        from ..config import find_config
        from ..studio_config import load_for_commands

        loaded = load_for_commands(find_config(config))
        return cls(loaded, loaded.load_templates())

    @property
    def config_path(self) -> Path | None:
        """The config file this studio was opened from."""
        return self._config.path

    @property
    def os_name(self) -> str:
        """This machine's OS as templates name it: ``linux``, ``windows`` or ``mac``."""
        return self._set.os_name

    @property
    def templates(self) -> tuple[str, ...]:
        """The names of the studio's templates."""
        return tuple(self._set.templates)

    # -- the template set alone ---------------------------------------------------------
    def resolve(self, target: str | _os.PathLike[str], *, os: str | None = None, strict: bool = False) -> Match | None:
        """What a path is, or which path a ``bifrost:///`` reference names.

        A path (absolute, or relative to the current folder) gives its
        template, typed fields and entity, with ``path`` given for ``os``;
        None when it is under no root or matches no template (with
        ``strict``, a ResolveError saying which). A reference gives its path
        on ``os``, answering ``?version=latest`` from the catalog, or raises
        ResolveError. A path that several templates match raises ResolveError
        (``bifrostctl templates check`` proves a template set has none).
        """
        answer = self.explain(target, os=os)
        if isinstance(answer, Match):
            return answer
        if not answer.candidates and not strict:
            return None
        candidates = f" ({', '.join(answer.candidates)})" if answer.candidates and not answer.readings else ""
        raise ResolveError(f"{answer.input}: {answer.reason}{candidates}")

    def explain(self, target: str | _os.PathLike[str], *, os: str | None = None) -> Match | Unresolved:
        """:meth:`resolve`, saying why when a path is not one managed thing: an :class:`Unresolved` names
        the root the path is under, the reason, and for an ambiguous path the templates it matches.

        A reference resolves as with :meth:`resolve`, or raises ResolveError
        (or FieldValueError for a value its key does not allow).
        """
        from ..templates import is_reference

        text = _os.fspath(target)
        if is_reference(text):
            return self._match_of_reference(text, os)
        from ..templates.resolution import resolve_path

        answer = resolve_path(self._set, text)
        found, reason = answer.match, answer.reason
        if reason is not None:
            if found is None:
                return Unresolved(answer.input, reason, answer.root)
            return Unresolved(answer.input, reason, found.root, found.relative, Fields(found.fields),
                              tuple(found.candidates), tuple(Fields(r) for r in found.readings))
        assert found is not None and found.template is not None  # matched: by one template
        path = answer.path if os is None else self._absolute(found.root, found.relative, os)
        return Match(path, found.root, found.relative, found.template.name, Fields(found.fields),
                     self._entity_of(found.entity))

    def path(self, template: str, fields: Mapping[str, Any] | None = None, *, os: str | None = None) -> str:
        """The absolute path of ``template`` for ``fields`` on ``os`` (this machine's by default).

        Values may be typed (``version=4``) or text (``"004"``). Fields the
        template does not use are ignored, so the fields of a work file's
        match can format its publish; a missing or invalid value raises
        FieldValueError naming it, an unknown template ResolveError.
        """
        return self.format(template, fields, os=os).path

    def format(self, template: str, fields: Mapping[str, Any] | None = None, *, os: str | None = None,
               strict: bool = False) -> Match:
        """:meth:`path` as a :class:`Match`: the path with its root, rootless form, the typed fields the
        template used and the entity they identify, as :meth:`resolve` of that path would give them.

        With ``strict``, a field the template does not use raises
        FieldValueError (a misspelt key would else be dropped unseen).
        """
        from ..templates.resolution import format_path

        formatted = format_path(self._set, template, fields or {}, os_name=os, ignore_unknown=not strict)
        compiled = formatted.template
        return Match(formatted.path, compiled.root, compiled.format(formatted.fields), compiled.name,
                     Fields(formatted.fields), self._entity_of(self._set.entity_of(compiled, formatted.fields)))

    # -- the catalog ------------------------------------------------------------------------
    def latest(self, reference: str, *, template: str | None = None, os: str | None = None,
               **fields: Any) -> Match | None:
        """The newest catalogued version at or below a task (or beside a version) whose path at
        ``template`` holds present files; None when there is none yet. ``Match.latest`` is that version.

        Further ``fields`` fill keys the reference does not (``ext="ma"``),
        as the query of ``bifrost:///...?version=latest&ext=ma`` does.
        Raises ResolveError for a malformed reference, or one naming an
        entity that holds the versions of several tasks (a shot).
        """
        from ..resolver import latest_query

        query = {"version": "latest", **({"template": template} if template else {}), **fields}
        uri = f"{reference}{'&' if '?' in reference else '?'}{urlencode(query)}"
        asked = latest_query(self._set, uri)
        assert asked is not None
        return self._latest(asked, os)[0]

    def entity(self, reference: str) -> Entity:
        """The catalogued entity a reference names, with what it holds; ResolveError when the catalog
        has no such entity."""
        from ..reconcile.targets import find_entity

        with self._reading() as catalog:
            return self._catalogued(find_entity(catalog, self._set, reference))

    def authored(self, reference: str) -> Authored:
        """What people authored about the entity ``reference`` names: its sidecar as it is in the tree.

        The sidecar is the truth and the catalog its index, so a sidecar just
        written is seen at once. When it is broken, the catalog's last good
        values (empty if it never had any): a broken sidecar never blanks an
        entity; ``bifrostctl drift`` names its file, line and reason.
        """
        from ..authored import read_sidecar
        from ..templates.references import resolve_reference

        resolved = resolve_reference(self._set, reference)
        read = read_sidecar(resolved.path)
        if read.data is not None:
            return read.data
        template = resolved.template
        with self._reading() as catalog:
            row = catalog.authored(template.root, template.format(resolved.fields))
        return row.data if row is not None and row.data is not None else Authored()

    def versions(self, reference: str, *, os: str | None = None) -> tuple[Version, ...]:
        """The catalogued versions at or below an entity (a task, shot or asset), by task then number, with
        their files (present and missing) and frame sequences, paths on ``os``."""
        from ..resolver import version_authored, version_field, versions

        with self._reading() as catalog:
            _, found = versions(catalog, self._set, reference)
            authored = [version_authored(catalog, self._set, info.entity.uri) or Authored() for info in found]
        field = version_field(self._set)
        return tuple(Version(self._catalogued(info.entity), info.entity.keys.get(field, info.entity.name),
                             tuple(self._file(row, os) for row in info.files),
                             tuple(self._sequence(seq, os) for seq in info.sequences),
                             data.publish, data.deprecated, data.deprecation) for info, data in zip(found, authored))

    def files(self, reference: str, *, os: str | None = None) -> tuple[File, ...]:
        """The present files of an entity and of every entity below it, in (root, path) order."""
        from ..resolver import files

        with self._reading() as catalog:
            rows = files(catalog, self._set, reference)
        return tuple(self._file(row, os) for row in rows)

    def entities(self, kind: str | None = None, **fields: Any) -> tuple[Entity, ...]:
        """The catalogued entities of ``kind`` (every kind for None) whose identifying fields hold
        ``fields``, in reference order: ``studio.entities("shot", project="demo", sequence="sq010")``."""
        from ..resolver import entities

        with self._reading() as catalog:
            found = entities(catalog, self._set, kind, fields)
        return tuple(self._catalogued(info, own) for info, own in found)

    def listing(self, target: str | _os.PathLike[str] | None = None, *, os: str | None = None) -> Listing:
        """What ``bifrostctl ls`` shows: the children, own files and frame sequences of the entity a
        reference names (the projects for None), or every catalogued file at or below a folder path."""
        from ..resolver import EntityListing, listing

        with self._reading() as catalog:
            found = listing(catalog, self._set, None if target is None else _os.fspath(target))
            children = found.children if isinstance(found, EntityListing) else []
            tags = catalog.tags_of([child.id for child in children])
        files = tuple(self._file(row, os) for row in found.files)
        if not isinstance(found, EntityListing):
            return Listing(None, (), files, (), found.root, found.folder)
        return Listing(self._catalogued(found.entity) if found.entity else None,
                       tuple(self._catalogued(child) for child in found.children), files,
                       tuple(self._sequence(seq, os) for seq in found.sequences),
                       tags=Fields({child.uri: tags[child.id] for child in children if child.id in tags}))

    def reference(self, path: str | _os.PathLike[str]) -> str:
        """The ``bifrost:///`` reference naming the file at ``path`` (any OS's spelling): its entity's, with the
        template and the fields the entity lacks (``ext``...) in the query; resolving it gives ``path`` back.

        Raises ResolveError for a path that names no one entity's file.
        """
        match = self.resolve(path, strict=True)
        assert match is not None  # strict: a ResolveError otherwise
        if match.entity is None:
            raise ResolveError(f"{_os.fspath(path)}: template {match.template} names no entity")
        extra = {k: v for k, v in match.fields.items() if k not in match.entity.fields}
        uri = f"{match.entity.uri}?{urlencode({'template': match.template, **extra})}"
        back = self._match_of_reference(uri, None).path
        if back != match.path:
            raise ResolveError(f"{_os.fspath(path)}: its reference {uri} resolves to {back}")
        return uri

    def close(self) -> None:
        """Close the catalog connection (the next question that needs it opens it again)."""
        with self._lock:
            if self._catalog is not None:
                catalog, self._catalog = self._catalog, None
                if self._catalog_pid == _os.getpid():
                    catalog.close()

    def __del__(self) -> None:
        # Most scripts never close their Studio: its connection closes with it, in the process that
        # opened it (a forked child's copy is its parent's), instead of being left to the garbage
        # collector, which Python 3.13's sqlite3 reports as an unclosed database.
        catalog = getattr(self, "_catalog", None)
        if catalog is not None and self._catalog_pid == _os.getpid():
            catalog.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Studio({str(self.config_path)!r})"

    # -- private ------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Catalog]:
        """The catalog, for one question at a time: threads share the one connection."""
        with self._lock:
            yield self._open_catalog()

    def _open_catalog(self) -> Catalog:
        """The read connection, opened on first use, and again in a forked child (SQLite connections
        must not cross a fork)."""
        if self._catalog is None or self._catalog_pid != _os.getpid():
            from ..catalog import Catalog

            self._catalog = Catalog.open(self._config.catalog_path)
            self._catalog_pid = _os.getpid()
        return self._catalog

    def _only_project(self) -> str:
        projects = self.entities("project")
        if len(projects) != 1:
            raise ResolveError(f"name the project (the catalog has {len(projects)}: "
                               f"{', '.join(p.name for p in projects) or 'none'})")
        return projects[0].name

    def _match_of_reference(self, uri: str, os_name: str | None) -> Match:
        from ..resolver import latest_query
        from ..templates.references import resolve_reference

        query = latest_query(self._set, uri)
        if query is None:
            return self._reference_match(resolve_reference(self._set, uri, os_name=os_name))
        match, reason = self._latest(query, os_name)
        if match is None:
            raise ResolveError(reason)
        return match

    def _latest(self, query: LatestQuery, os_name: str | None) -> tuple[Match | None, str]:
        """The match of a version=latest question, or None and why there is none."""
        from ..resolver import find_latest, version_authored

        with self._reading() as catalog:
            found = find_latest(catalog, self._set, query, os_name=os_name)
            data = version_authored(catalog, self._set, found.version.uri) if found.version is not None else None
        if found.resolved is None or found.version is None:
            return None, found.reason
        match = self._reference_match(found.resolved, self._catalogued(found.version))
        return replace(match, publish=data.publish if data is not None else None), ""

    def _reference_match(self, resolved: ResolvedReference, latest: Entity | None = None) -> Match:
        template = resolved.template
        return Match(resolved.path, template.root, template.format(resolved.fields), template.name,
                     Fields(resolved.fields), self._entity_of(resolved.entity), latest)

    def _entity_of(self, entity: TemplateEntity | None) -> Entity | None:
        if entity is None:
            return None
        return Entity(entity.kind, entity.uri(self._set.entities), entity.name, Fields(entity.fields),
                      Fields(dict(entity.chain[-1][1])))

    def _catalogued(self, info: EntityInfo, fields: Mapping[str, Any] | None = None) -> Entity:
        from ..resolver import entity_fields

        typed = entity_fields(self._set, info.uri) if fields is None else fields
        return Entity(info.kind, info.uri, info.name, Fields(typed), Fields(info.keys), info.files, info.bytes,
                      info.children)

    def _absolute(self, root: str, relative: str, os_name: str | None) -> str:
        from ..templates.templateset import join_root

        os_name = os_name or self._set.os_name
        return join_root(self._set.root_path(root, os_name), relative, os_name)

    def _file(self, row: FileRow, os_name: str | None) -> File:
        return File(self._absolute(row.root, row.relative, os_name), row.root, row.relative, row.size, row.state,
                    row.template, row.hash, row.frame)

    def _sequence(self, seq: SequenceInfo, os_name: str | None) -> FrameSequence:
        return FrameSequence(self._absolute(seq.root, seq.pattern, os_name), seq.root, seq.pattern, seq.first,
                             seq.last, seq.count, seq.missing, seq.missing_count, seq.bytes)
