"""The Python API for pipeline code: ``from bifrostd import Studio``.

Scripts in Maya, Houdini, Nuke, Blender and on the farm ask where things are
thousands of times; this answers in-process, in microseconds, what
``bifrostctl resolve``, ``path``, ``versions`` and ``ls`` answer (the same
library functions, so the answers can't drift)::

    studio = Studio.open()                      # the config bifrostctl would use
    match = studio.resolve(path)                # template, typed fields, entity; None if unmanaged
    studio.path("shot_work_maya", {**match.fields, "version": 4})
    studio.latest("bifrost:///task/shot/demo/sq010/sh0100/anim", template="shot_work_maya")

It reads the catalog directly and read-only, never blocking the daemon that
writes it. The two calls that write, ``publish`` and ``deprecate``, write
the studio tree, and record what they wrote in the catalog themselves only
when no daemon holds it (else its watcher does). Importing it loads neither the daemon, the cloud backends
(fsspec), pxr, watchdog nor click; the catalog's modules load on the first
question that needs the catalog.

The public API is the names in ``__all__``; every other module and name in
``bifrostd`` is private and may change in any release. The API follows
semantic versioning with the package version (``bifrostd.__version__``):
a minor release may add names, parameters and fields; only a major release
removes or changes one. Errors are :class:`BifrostError` subclasses, and
their families are exported here for ``except`` clauses.
"""

from __future__ import annotations

import os as _os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from time import time_ns as _time_ns
from urllib.parse import urlencode

from .authored import Authored, Deprecation, FrameRange, Link, Publish, PublishedFile
from .errors import (BifrostError, CatalogError, ConfigError, FieldValueError, ProductionError, PublishError,
                     ResolveError, TemplateError)

if TYPE_CHECKING:
    from .catalog import Catalog
    from .catalog.queries import EntityInfo, FileRow, SequenceInfo
    from .config import Config
    from .catalog.search import SearchHit
    from .production.create import CreateReport
    from .production.edit_import import EditImport
    from .production.tagging import AuthoredChange
    from .publish import DeprecationResult, PublishPlan, PublishResult
    from .resolver import LatestQuery
    from .templates import TemplateSet
    from .templates import Entity as TemplateEntity
    from .templates.references import ResolvedReference
    from .usd.model import LayerOutline, Rewrite

__all__ = [
    "Authored",
    "BifrostError",
    "CatalogError",
    "ConfigError",
    "Deprecation",
    "Entity",
    "FieldValueError",
    "Fields",
    "File",
    "FrameRange",
    "FrameSequence",
    "Link",
    "Listing",
    "Match",
    "ProductionError",
    "Publish",
    "PublishError",
    "PublishedFile",
    "ResolveError",
    "Studio",
    "TemplateError",
    "Unresolved",
    "Version",
]


class Fields(Mapping[str, Any]):
    """Typed field values by name, read-only: ``{**fields, "version": 4}`` makes a new set to format.

    Hashable and picklable (a farm script may pass a :class:`Match` between processes).
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Fields({self._values!r})"

    def __getstate__(self) -> dict[str, Any]:
        return self._values

    def __setstate__(self, values: dict[str, Any]) -> None:
        self._values = values


@dataclass(frozen=True, slots=True)
class Entity:
    """A production entity: ``kind`` (project, sequence, shot, asset, task, version...), its ``bifrost:///``
    reference, its own ``name``, the fields that identify it from the top (project, sequence, shot...), and
    ``own``: those it adds to its parent's (a shot's ``shot``).

    An entity read from the catalog also says what it holds: ``files`` and
    ``bytes`` of its own present files, and how many ``children`` it has.
    They are None for an entity derived from a path or a reference alone.
    """

    kind: str
    uri: str
    name: str
    fields: Fields
    own: Fields
    files: int | None = None
    bytes: int | None = None
    children: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """What a path is, or which path a reference names.

    ``path`` is absolute on the OS asked for (this machine's by default);
    ``root`` and ``relative`` are the rootless form the catalog stores, the
    same on every OS. ``fields`` are typed: a version or a frame is an int.
    """

    path: str
    root: str
    relative: str
    template: str
    fields: Fields
    entity: Entity | None
    #: For a ``?version=latest`` reference, the catalogued version chosen (with what it holds); else None.
    latest: Entity | None = None
    #: For a ``?version=latest`` reference whose version was published: its publish record (user, comment...).
    publish: Publish | None = None


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Why a path is not one managed thing, from :meth:`Studio.explain`.

    ``reason`` says it in words; ``root`` names the root the path is under
    (None when it is under none). For a path that several templates match,
    ``candidates`` names them and ``relative`` and ``fields`` hold the first
    one's reading; for a path one template reads two ways, ``candidates``
    names that template and ``readings`` holds both readings; otherwise
    ``relative`` is None and ``fields`` empty.
    """

    input: str
    reason: str
    root: str | None
    relative: str | None = None
    fields: Fields = Fields()
    candidates: tuple[str, ...] = ()
    readings: tuple[Fields, ...] = ()


@dataclass(frozen=True, slots=True)
class File:
    """A catalogued file. ``state`` is ``present``, or ``missing`` when the catalog expects it and the
    disk no longer has it; ``template`` is None for an unmanaged file."""

    path: str
    root: str
    relative: str
    size: int
    state: str
    template: str | None
    hash: str | None
    frame: int | None


@dataclass(frozen=True, slots=True)
class FrameSequence:
    """The frames of one version as one unit: ``path`` holds ``####`` for the frame; ``missing`` lists the
    frames absent between ``first`` and ``last`` as ranges (``"1003,1010-1012"``, empty when none)."""

    path: str
    root: str
    relative: str
    first: int | None
    last: int | None
    count: int
    missing: str
    #: How many frames ``missing`` stands for, and the bytes of the present ones.
    missing_count: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Version:
    """A catalogued version: its entity, its number (the version field's value), its single files and its
    frame sequences; for a published version, its ``publish`` record (source, user, comment, time, files)
    and whether it is ``deprecated`` (``version=latest`` skips it), with who, when and why."""

    entity: Entity
    number: int | str
    files: tuple[File, ...]
    sequences: tuple[FrameSequence, ...]
    publish: Publish | None = None
    deprecated: bool = False
    deprecation: Deprecation | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """What is under an entity, under the top, or in a folder (:meth:`Studio.listing`).

    For an entity (``entity`` None at the top): its ``children``, its own
    single files, and its frame files as ``sequences``; ``tags``: each
    tagged child's tags, by its URI. For a folder path: ``root`` and
    ``folder`` (relative to the root) say which, and ``files`` holds every
    catalogued file at or below it, frames included.
    """

    entity: Entity | None
    children: tuple[Entity, ...]
    files: tuple[File, ...]
    sequences: tuple[FrameSequence, ...]
    root: str | None = None
    folder: str | None = None
    tags: Fields = Fields()


class Studio:
    """One studio: its config, compiled template set and catalog. Make one with :meth:`open`.

    The template set is read once, when the studio is opened: open a new
    Studio to see edited templates. The catalog is opened read-only on the
    first question that needs it and kept open until :meth:`close` (or the
    end of a ``with`` block); each question sees the catalog as the daemon
    last committed it. A Studio may be shared by threads, and survives a fork
    (the child opens its own connection).
    """

    def __init__(self, config: Config, template_set: TemplateSet) -> None:
        self._config = config
        self._set = template_set
        self._catalog: Catalog | None = None
        self._catalog_pid = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, config: str | _os.PathLike[str] | None = None) -> Studio:
        """Open the studio of ``config`` (a ``bifrost.yaml`` or the folder holding one), or the one
        ``bifrostctl`` would find: ``$BIFROST_CONFIG``, ``./bifrost.yaml``, ``/etc/bifrost/bifrost.yaml``.

        Raises ConfigError naming file, line and key when the config is
        invalid, TemplateError when the template set is.
        """
        from .config import find_config
        from .studio_config import load_for_commands

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
        from .templates import is_reference

        text = _os.fspath(target)
        if is_reference(text):
            return self._match_of_reference(text, os)
        from .templates.resolution import resolve_path

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
        from .templates.resolution import format_path

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
        from .resolver import latest_query

        query = {"version": "latest", **({"template": template} if template else {}), **fields}
        uri = f"{reference}{'&' if '?' in reference else '?'}{urlencode(query)}"
        asked = latest_query(self._set, uri)
        assert asked is not None
        return self._latest(asked, os)[0]

    def entity(self, reference: str) -> Entity:
        """The catalogued entity a reference names, with what it holds; ResolveError when the catalog
        has no such entity."""
        from .reconcile.targets import find_entity

        with self._reading() as catalog:
            return self._catalogued(find_entity(catalog, self._set, reference))

    def create(self, *references: str, description: str | None = None, frames: str | None = None,
               handles: str | None = None, tags: Sequence[str] = (), rows: str | _os.PathLike[str] | None = None,
               dry_run: bool = False) -> CreateReport:
        """Make entities: for each ``bifrost:///`` reference (and each row of a CSV or JSON file ``rows``), the
        folders the templates fix for it and its sidecar, with the authored values given.

        Everything is planned first: a value its key refuses raises
        FieldValueError (naming the key and its rule) before anything is
        made. Existing folders are left alone. With ``dry_run`` nothing is
        made and the report holds the plans. A failure part way (CreateRefused)
        takes back what this call made. The catalog follows at once when no
        daemon holds it (a running daemon's watcher records it). See
        ``bifrostd.templates.skeleton`` for which folders an entity has.
        """
        from .production.create import Values, create_entities
        from .production.rows import frame_range, read_rows, request_of

        range_ = frame_range(frames, handles) if frames is not None else None
        given = Values(description, range_, tuple(tags))
        requests = [(reference, given) for reference in references]
        if rows is not None:
            requests += [request_of(self._set, where, row) for where, row in read_rows(Path(rows))]
        return create_entities(self._set, self._config.catalog_path, requests, dry_run=dry_run)

    def import_edit(self, edit: str | _os.PathLike[str], *, project: str | None = None, rate: str | None = None,
                    sequence: str | None = None, name_pattern: str | None = None, start: int | None = None,
                    handles: str | None = None, force: bool = False, dry_run: bool = False) -> EditImport:
        """Import an edit (``.otio``, CMX 3600 ``.edl``): plan new sequences and shots, changed cut ranges and
        shots no longer in the cut, then (unless ``dry_run``) create what is new and write the ranges.

        ``rate`` (``24``, ``30000/1001``) is the edit's frame rate; EDLs do not
        store it (24 when None). Names come from clip names (or markers) through
        ``name_pattern``, a regex with groups ``shot`` and optional ``sequence``
        (``sequence`` names the sequence of clips that give none); ``start`` is the
        first frame of every cut (1001). ``rate``, ``name_pattern`` and ``start``
        default to the config's ``edit`` section. ``project`` defaults to the
        only catalogued one. Raises EditUnreadable for a file
        that does not parse, EditRefused (nothing written) for refused names or
        a shrink over rendered frames without ``force``, PackageMissing without
        the ``edit`` extra. See docs/cli.md, ``shots import``.
        """
        from .production.edit_import import edit_options, import_edit

        studio = self._config.edit
        options = edit_options(project or self._only_project(), rate=rate or studio.rate, sequence=sequence,
                               name_pattern=name_pattern or studio.name_pattern,
                               start=studio.start_frame if start is None else start, handles=handles, force=force)
        return import_edit(self._set, self._config.catalog_path, Path(edit), options, dry_run=dry_run)

    def authored(self, reference: str) -> Authored:
        """What people authored about the entity ``reference`` names: its sidecar as it is in the tree.

        The sidecar is the truth and the catalog its index, so a sidecar just
        written is seen at once. When it is broken, the catalog's last good
        values (empty if it never had any): a broken sidecar never blanks an
        entity; ``bifrostctl drift`` names its file, line and reason.
        """
        from .authored import read_sidecar
        from .templates.references import resolve_reference

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
        from .resolver import version_authored, version_field, versions

        with self._reading() as catalog:
            _, found = versions(catalog, self._set, reference)
            authored = [version_authored(catalog, self._set, info.entity.uri) or Authored() for info in found]
        field = version_field(self._set)
        return tuple(Version(self._catalogued(info.entity), info.entity.keys.get(field, info.entity.name),
                             tuple(self._file(row, os) for row in info.files),
                             tuple(self._sequence(seq, os) for seq in info.sequences),
                             data.publish, data.deprecated, data.deprecation) for info, data in zip(found, authored))

    # -- writing --------------------------------------------------------------------------
    def publish(self, source: str | _os.PathLike[str], *, to: str | None = None, comment: str = "",
                task: str | None = None, dry_run: bool = False) -> PublishPlan | PublishResult:
        """Copy a work file, or every frame of a sequence (any one frame, or ``####``), to the next free version
        of its publish template (``to`` picks one; ``task``, a task reference, publishes to that task instead
        of the source's), verify each copy by its xxh3, write the version's sidecar
        last and record the version in the catalog (or leave it to the running daemon's watcher).

        With ``dry_run``, the :class:`~bifrostd.publish.PublishPlan` (version number and every file); else the
        :class:`~bifrostd.publish.PublishResult`. A source no template knows, with no publish template, or a
        sequence with missing frames raises PublishError and changes nothing.
        """
        from .publish import current_user, execute_publish, prepare_publish, record_paths, utc_now

        plan = prepare_publish(self._set, _os.fspath(source), to=to, comment=comment, task=task)
        if dry_run:
            return plan
        result = execute_publish(self._set, plan, user=current_user(), time_text=utc_now())
        recorded = record_paths(self._config.catalog_path, self._set, result.plan.root, [(result.plan.folder, True)])
        return replace(result, recorded=recorded.by)

    def deprecate(self, version: str | _os.PathLike[str], *, comment: str = "", deprecated: bool = True,
                  dry_run: bool = False) -> DeprecationResult:
        """Flag a version (a reference, one of its files or its folder) deprecated, or not with
        ``deprecated=False``, in its sidecar with who, when and why; ``version=latest`` skips deprecated
        versions. Nothing is deleted. Raises PublishError for a target that names no published version."""
        from .authored import SIDECAR_NAME
        from .publish import current_user, record_paths, set_deprecated, utc_now, version_folder

        folder = version_folder(self._set, _os.fspath(version))
        result = set_deprecated(folder, deprecated, user=current_user(), time_text=utc_now(), comment=comment,
                                dry_run=dry_run)
        if dry_run:
            return result
        recorded = record_paths(self._config.catalog_path, self._set, folder.root,
                                [(f"{folder.relative}/{SIDECAR_NAME}", False)])
        return replace(result, recorded=recorded.by)

    def files(self, reference: str, *, os: str | None = None) -> tuple[File, ...]:
        """The present files of an entity and of every entity below it, in (root, path) order."""
        from .resolver import files

        with self._reading() as catalog:
            rows = files(catalog, self._set, reference)
        return tuple(self._file(row, os) for row in rows)

    def entities(self, kind: str | None = None, **fields: Any) -> tuple[Entity, ...]:
        """The catalogued entities of ``kind`` (every kind for None) whose identifying fields hold
        ``fields``, in reference order: ``studio.entities("shot", project="demo", sequence="sq010")``."""
        from .resolver import entities

        with self._reading() as catalog:
            found = entities(catalog, self._set, kind, fields)
        return tuple(self._catalogued(info, own) for info, own in found)

    def listing(self, target: str | _os.PathLike[str] | None = None, *, os: str | None = None) -> Listing:
        """What ``bifrostctl ls`` shows: the children, own files and frame sequences of the entity a
        reference names (the projects for None), or every catalogued file at or below a folder path."""
        from .resolver import EntityListing, listing

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

    # -- USD layers (usd-core, imported on first use) ------------------------------------------------------
    def usd_inspect(self, target: str | _os.PathLike[str]) -> LayerOutline:
        """The outline of a USD layer (a path, or a reference to its file): layer stack, variant sets,
        references and payloads per prim, dependencies; ``bifrost:`` URIs in it resolved on this OS."""
        from .usd.outline import outline

        return outline(self._layer_path(target), resolve=self._entity_path, locate=self._here)

    def usd_resolve_layer(self, source: str | _os.PathLike[str], target: str | _os.PathLike[str], *,
                          os: str | None = None, dry_run: bool = False) -> Rewrite:
        """Write ``target``: a copy of the layer ``source`` with its ``bifrost:`` URIs replaced by their paths
        on ``os`` (``?version=latest`` answered from the catalog); a URI that does not resolve is kept, with
        the reason. ``source`` is never written; ``target`` is written atomically."""
        from .usd.rewrite import entity_paths, rewrite

        resolve = entity_paths(lambda uri: self._match_of_reference(uri, os).path)
        return rewrite("resolve-layer", self._layer_path(source), _os.fspath(target), resolve, dry_run=dry_run)

    def usd_relativize(self, source: str | _os.PathLike[str], target: str | _os.PathLike[str], *,
                       dry_run: bool = False) -> Rewrite:
        """Write ``target``: a copy of the layer ``source`` with each concrete path that names an entity's file
        replaced by its ``bifrost:///`` reference (:meth:`reference`); the inverse of :meth:`usd_resolve_layer`."""
        from .usd.rewrite import rewrite, studio_references

        mapper = studio_references(self._identify)
        return rewrite("relativize", self._layer_path(source), _os.fspath(target), mapper, dry_run=dry_run)

    def _layer_path(self, target: str | _os.PathLike[str]) -> str:
        from .templates import is_reference

        text = _os.fspath(target)
        return self._match_of_reference(text, None).path if is_reference(text) else text

    def _here(self, path: str) -> str:
        """A path written for another OS (``P:\\projects\\...`` on Linux) as it lies on this machine."""
        from .templates.placing import place

        placed = place(self._set, path)
        if placed.foreign and placed.root is not None and placed.relative is not None:
            return self._absolute(placed.root, placed.relative, None)
        return path

    def _entity_path(self, uri: str) -> str | None:
        try:
            return self._match_of_reference(uri, None).path
        except BifrostError:
            return None

    def _identify(self, path: str) -> tuple[str | None, str]:
        """(reference, "") for a file of an entity; (None, why) for another path under a root; (None, "")
        for a path outside every root."""
        answer = self.explain(path)
        if isinstance(answer, Unresolved):
            return None, answer.reason if answer.root is not None else ""
        try:
            return self.reference(path), ""
        except BifrostError as error:
            return None, str(error)

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

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Studio({str(self.config_path)!r})"

    # -- finding -------------------------------------------------------------------------
    def search(self, text: str = "", *, kind: str | None = None, project: str | None = None,
               task: str | None = None, user: str | None = None, tags: Sequence[str] = (),
               since: str | None = None, limit: int = 50, saved: str | None = None,
               searches: str | _os.PathLike[str] | None = None) -> tuple[SearchHit, ...]:
        """Entities whose names, paths, descriptions, publish comments, publishers or tags hold every word of
        ``text`` (the last word, and any ending in ``*``, as a prefix), ranked best first (bm25); the filters
        combine. ``since``: an age (``7d``) or ISO time. ``saved``: a saved search's query (see
        :meth:`save_search`), which the arguments given override. Any text is safe: words are never syntax."""
        from .catalog.search import SearchQuery
        from .production.searches import default_file, parse_since, saved_query

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
        from .production.searches import default_file, parse_since, save_search

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
        from .reconcile.targets import find_entity
        from .resolver import latest_per_task

        with self._reading() as catalog:
            found = latest_per_task(catalog, self._set, find_entity(catalog, self._set, reference).id)
        return {task: self._catalogued(info) for task, info in found.items()}

    def links_to(self, reference: str) -> tuple[Link, ...]:
        """The links *to* an entity from other entities' sidecars: each as (the linking entity, kind)."""
        uri = self.entity(reference).uri
        with self._reading() as catalog:
            return tuple(Link(source, kind) for source, kind in catalog.links_to(uri))

    def tag(self, reference: str, *tags: str, remove: bool = False, dry_run: bool = False) -> AuthoredChange:
        """Add ``tags`` to a catalogued entity's sidecar (or remove them, with ``remove``), under its lock;
        AuthoredRefused for a tag that is not one word. The catalog follows as for :meth:`publish`."""
        from .production.tagging import with_tags, without_tags

        return self._change(reference, (without_tags if remove else with_tags)(tags), dry_run)

    def link(self, reference: str, *targets: str, kind: str = "uses", remove: bool = False,
             dry_run: bool = False) -> AuthoredChange:
        """Link an entity to other catalogued entities (``uses``: a shot uses an asset), or remove the links
        (of ``kind``; every kind with ``kind=""``); AuthoredRefused for a target the catalog does not know."""
        from .errors import AuthoredRefused
        from .production.tagging import with_links, without_links

        if not targets or (not kind and not remove) or any(c.isspace() for c in kind):
            raise AuthoredRefused("link: give one or more targets and a kind that is one word; nothing was written")
        try:
            found = [self.entity(target).uri for target in targets]
        except ResolveError as error:
            raise AuthoredRefused(f"cannot link to it: {error}; nothing was written") from None
        links = [Link(uri, kind) for uri in found]
        return self._change(reference, (without_links if remove else with_links)(links), dry_run)

    # -- private ------------------------------------------------------------------------
    def _change(self, reference: str, change: Any, dry_run: bool) -> AuthoredChange:
        """Apply a change to the sidecar of the catalogued entity ``reference``, and catalog the sidecar."""
        from .authored import SIDECAR_NAME
        from .production.tagging import change_sidecar
        from .publish import record_paths
        from .templates.references import resolve_reference

        uri = self.entity(reference).uri
        resolved = resolve_reference(self._set, uri)
        result = change_sidecar(uri, resolved.path, change, dry_run=dry_run)
        if dry_run or not result.changed:
            return result
        template = resolved.template
        relative = template.format(resolved.fields)
        recorded = record_paths(self._config.catalog_path, self._set, template.root,
                                [(f"{relative}/{SIDECAR_NAME}" if relative else SIDECAR_NAME, False)])
        return replace(result, recorded=recorded.by)

    @contextmanager
    def _reading(self) -> Iterator[Catalog]:
        """The catalog, for one question at a time: threads share the one connection."""
        with self._lock:
            yield self._open_catalog()

    def _open_catalog(self) -> Catalog:
        """The read connection, opened on first use, and again in a forked child (SQLite connections
        must not cross a fork)."""
        if self._catalog is None or self._catalog_pid != _os.getpid():
            from .catalog import Catalog

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
        from .resolver import latest_query
        from .templates.references import resolve_reference

        query = latest_query(self._set, uri)
        if query is None:
            return self._reference_match(resolve_reference(self._set, uri, os_name=os_name))
        match, reason = self._latest(query, os_name)
        if match is None:
            raise ResolveError(reason)
        return match

    def _latest(self, query: LatestQuery, os_name: str | None) -> tuple[Match | None, str]:
        """The match of a version=latest question, or None and why there is none."""
        from .resolver import find_latest, version_authored

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
        from .resolver import entity_fields

        typed = entity_fields(self._set, info.uri) if fields is None else fields
        return Entity(info.kind, info.uri, info.name, Fields(typed), Fields(info.keys), info.files, info.bytes,
                      info.children)

    def _absolute(self, root: str, relative: str, os_name: str | None) -> str:
        from .templates.templateset import join_root

        os_name = os_name or self._set.os_name
        return join_root(self._set.root_path(root, os_name), relative, os_name)

    def _file(self, row: FileRow, os_name: str | None) -> File:
        return File(self._absolute(row.root, row.relative, os_name), row.root, row.relative, row.size, row.state,
                    row.template, row.hash, row.frame)

    def _sequence(self, seq: SequenceInfo, os_name: str | None) -> FrameSequence:
        return FrameSequence(self._absolute(seq.root, seq.pattern, os_name), seq.root, seq.pattern, seq.first,
                             seq.last, seq.count, seq.missing, seq.missing_count, seq.bytes)
