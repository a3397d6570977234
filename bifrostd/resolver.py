"""Answers that need the catalog as well as the template set: a reference's latest version, an entity's
versions and files, a listing of an entity or a folder, the entities of a kind.

The catalog half of :class:`bifrostd.api.Studio`, which ``bifrostctl resolve
...?version=latest``, ``versions`` and ``ls`` ask in turn, so their answers
can't drift. Functions take an open :class:`~bifrostd.catalog.Catalog`
(a read connection is enough; nothing here writes) and return the catalog's
frozen values. What the template set alone answers is in
``bifrostd.templates.resolution``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl, urlencode

from .errors import BifrostError, ResolveError
from .reconcile.targets import entity_of_reference, find_entity, split_folder
from .templates import is_reference
from .templates.entities import derive_entity, parse_reference
from .templates.references import ResolvedReference, resolve_reference

if TYPE_CHECKING:
    from .authored import Authored
    from .catalog import Catalog
    from .catalog.queries import EntityInfo, FileRow, SequenceInfo, VersionInfo
    from .templates import TemplateSet
    from .templates.compiled import CompiledTemplate


def version_field(template_set: TemplateSet) -> str:
    """The field that numbers versions: the last identifying key of the ``version`` kind."""
    kind = template_set.entities.get("version")
    return kind.keys[-1] if kind and kind.keys else "version"


# -- version=latest ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LatestQuery:
    """A reference asking for ``version=latest``, read: which entity's versions to search, and the
    query (without ``version``) that resolves each candidate version to a path."""

    uri: str
    #: The canonical URI of the entity the reference names (for messages).
    entity: str
    #: The reference whose versions are searched: the entity itself, or a version's parent (its siblings).
    scope: str
    suffix: str


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest version whose resolved path holds present files, with that resolution; or, with
    ``version`` None, why there is none (nothing catalogued there, or no files at the template asked)."""

    query: LatestQuery
    version: EntityInfo | None
    resolved: ResolvedReference | None
    reason: str = ""


def latest_query(template_set: TemplateSet, uri: str) -> LatestQuery | None:
    """The reference read as a version=latest question, or None when it asks no such thing.

    Raises ResolveError for a malformed reference, and for version=latest
    asked of an entity that holds the versions of several tasks (a shot).
    """
    base, _, query_text = uri.partition("?")
    canonical, query = entity_of_reference(template_set, base)
    if query.get("version") != "latest" and "version=latest" not in query_text:
        return None
    rest = [(k, v) for k, v in parse_qsl(query_text) if k != "version"]
    scope = _version_scope(template_set, base, version_field(template_set))
    return LatestQuery(uri, canonical, scope, f"?{urlencode(rest)}" if rest else "")


def _version_scope(template_set: TemplateSet, base: str, field: str) -> str:
    """Where to look for the latest version: a version reference means its siblings."""
    reference = parse_reference(base, template_set.entities)
    if field not in template_set.entities[reference.kind].keys:
        owners = _version_owners(template_set, field)
        if reference.kind not in owners:
            raise ResolveError(f"{base!r}: version=latest is asked on a {' or '.join(sorted(owners))} reference "
                               f"(a {reference.kind} holds the versions of several of them)")
        return base
    entity = derive_entity(template_set.entities, reference.kind, template_set.convert_fields(reference.fields))
    parent = entity.parent() if entity is not None else None
    return parent.uri(template_set.entities) if parent is not None else base


def _version_owners(template_set: TemplateSet, field: str) -> set[str]:
    """Entity kinds whose children are versions: where ``version=latest`` is asked, besides a version itself."""
    kinds = {kind for kind in template_set.entities.values() if field in kind.keys}
    owners = {parent for kind in kinds for parent in kind.parents}
    return owners | {kind.name for kind in kinds}


def find_latest(catalog: Catalog, template_set: TemplateSet, query: LatestQuery, *,
                os_name: str | None = None) -> Latest:
    """The newest version at or below the query's scope whose resolved path holds present files.

    The file itself, or files below it for a folder template: a newer
    version that exists only as, say, a work file does not make the publish
    path of ``template=...publish...`` point at a folder that isn't there.
    """
    scope, _ = entity_of_reference(template_set, query.scope)
    entity = catalog.entity_by_uri(scope)
    if entity is None:
        return Latest(query, None, None, f"{scope} is not in the catalog; check the reference or run 'bifrostctl scan'")
    candidates = catalog.versions_newest_first(entity.id, version_field(template_set))
    if not candidates:
        return Latest(query, None, None, f"{query.uri!r}: the catalog has no version with files under {query.entity}")
    deprecated = 0
    for candidate in candidates:
        resolved = resolve_reference(template_set, candidate.uri + query.suffix)
        if _deprecated(catalog, template_set, candidate.uri):
            deprecated += 1
            continue
        if _holds_files(catalog, resolved.template, resolved.fields):
            if os_name is not None:
                resolved = resolve_reference(template_set, candidate.uri + query.suffix, os_name=os_name)
            return Latest(query, candidate, resolved)
    return Latest(query, None, None, f"{query.uri!r}: no version under {query.entity} has files at template "
                                     f"{resolved.template.name!r} (the newest version with any files is "
                                     f"{candidates[0].uri}; {deprecated} deprecated version(s) skipped)")


def version_authored(catalog: Catalog, template_set: TemplateSet, uri: str) -> Authored | None:
    """The indexed sidecar of a version's folder (its publish record, whether it is deprecated); None when the
    catalog has none, or the set names no folder for the version."""
    try:
        resolved = resolve_reference(template_set, uri)
    except BifrostError:
        return None
    row = catalog.authored(resolved.template.root, resolved.template.format(resolved.fields))
    return row.data if row is not None else None


def latest_per_task(catalog: Catalog, template_set: TemplateSet, entity_id: int) -> dict[str, EntityInfo]:
    """Each task's latest version at or below an entity that has present files and is not deprecated, by
    the task's name, in task order: the highest number first, its sidecar read only until one qualifies."""
    field = version_field(template_set)
    by_task: dict[str, list[EntityInfo]] = {}
    for info in catalog.version_entities(entity_id):
        if info.files:
            by_task.setdefault(info.uri.rsplit("/", 2)[-2], []).append(info)
    latest = {}
    for task in sorted(by_task):
        ordered = sorted(by_task[task], key=lambda v: _number(v.keys.get(field)), reverse=True)
        found = next((v for v in ordered if not _deprecated(catalog, template_set, v.uri)), None)
        if found is not None:
            latest[task] = found
    return latest


def _number(value: Any) -> tuple[int, str]:
    """A version's order: numbers by value, any other text after none of them."""
    return (value, "") if isinstance(value, int) else (-1, str(value))


def _deprecated(catalog: Catalog, template_set: TemplateSet, uri: str) -> bool:
    """Whether ``version=latest`` skips this version: its sidecar says ``deprecated: true``."""
    data = version_authored(catalog, template_set, uri)
    return data is not None and data.deprecated


def _holds_files(catalog: Catalog, template: CompiledTemplate, fields: dict[str, Any]) -> bool:
    """Whether present files are catalogued where a resolved reference points: the file, the files below
    a folder, or the frames of a sequence when the frame is a placeholder (``####``, ``%04d``, ``$F4``)."""
    frame = template.frame_field
    if frame is not None and not isinstance(fields.get(frame), int):
        return catalog.sequence_has_frames(template.root, template.format({**fields, frame: "#"}))
    return catalog.has_present_files(template.root, template.format(fields))


# -- entities, versions, files ------------------------------------------------------------
def versions(catalog: Catalog, template_set: TemplateSet, uri: str) -> tuple[EntityInfo, list[VersionInfo]]:
    """The catalogued entity a reference names, and the versions at or below it with their files."""
    entity = find_entity(catalog, template_set, uri)
    return entity, catalog.versions(entity.id, version_field(template_set))


def files(catalog: Catalog, template_set: TemplateSet, uri: str) -> list[FileRow]:
    """The present files of the entity a reference names and of the entities below it."""
    return catalog.files_below(find_entity(catalog, template_set, uri).id)


def entities(catalog: Catalog, template_set: TemplateSet, kind: str | None = None,
             fields: Mapping[str, Any] | None = None) -> list[tuple[EntityInfo, dict[str, Any]]]:
    """The catalogued entities of ``kind`` whose identifying fields (their own and their parents') hold
    ``fields``, each with those typed fields, by kind then fields (numbers in numeric order: version 2 before
    10). Values may be text or typed (``version=3``)."""
    if kind is not None and kind not in template_set.entities:
        raise ResolveError(f"unknown entity kind {kind!r} (known kinds: {', '.join(template_set.entities)})")
    wanted = template_set.convert_fields(dict(fields or {}))
    found = []
    for entity in catalog.entities(kind):
        own = entity_fields(template_set, entity.uri)
        if all(own.get(name) == value for name, value in wanted.items()):
            found.append((entity, own))
    return sorted(found, key=lambda pair: (pair[0].kind, *map(_natural, pair[1].values())))


def _natural(value: Any) -> tuple[int, int, str]:
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def entity_fields(template_set: TemplateSet, uri: str) -> dict[str, Any]:
    """The typed identifying fields of a canonical entity URI, from the top of its chain down."""
    return template_set.convert_fields(parse_reference(uri, template_set.entities).fields)


# -- listings -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EntityListing:
    """An entity's children, own files and sequences; the top-level entities for ``entity`` None."""

    entity: EntityInfo | None
    children: list[EntityInfo]
    files: list[FileRow]
    sequences: list[SequenceInfo]


@dataclass(frozen=True, slots=True)
class FolderListing:
    """The catalogued files at or below a folder of a root."""

    root: str
    folder: str
    files: list[FileRow]


def listing(catalog: Catalog, template_set: TemplateSet, target: str | None) -> EntityListing | FolderListing:
    """What is under a reference (an entity's listing), a folder or file path, or, for None, the top."""
    if target is not None and not is_reference(target):
        root, folder = split_folder(template_set, target)
        return FolderListing(root, folder, catalog.files_under(root, folder))
    entity = find_entity(catalog, template_set, target) if target else None
    singles, sequences = catalog.entity_files(entity.id) if entity else ([], [])
    return EntityListing(entity, catalog.children(entity.id if entity else None), singles, sequences)
