"""What a command's target names: a folder or file under a root, or a catalogued entity.

Commands that take ``PATH|REF`` (``ls``, ``versions``, ``forget``, ``scan
--rehash``, and the daemon's ``forget`` request) resolve it here, the same
way everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ReferenceIncomplete, ResolveError
from ..model import RehashScope

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..catalog.queries import EntityInfo
    from ..templates import TemplateSet


def split_folder(template_set: TemplateSet, path: str) -> tuple[str, str]:
    """(root, root-relative path) of an absolute or relative ``path`` written for any OS (see
    ``templates.placing``); a root itself gives ``(root, "")``."""
    from ..templates.placing import place

    placed = place(template_set, path)
    if placed.root is None or placed.relative is None:
        raise ResolveError(f"{path} is under no root ({', '.join(template_set.roots)})")
    return placed.root, placed.relative.rstrip("/")


def entity_of_reference(template_set: TemplateSet, uri: str) -> tuple[str, dict[str, str]]:
    """(canonical entity URI, query) for a reference, ignoring its query."""
    from ..templates.entities import derive_entity, parse_reference

    reference = parse_reference(uri, template_set.entities)
    fields = template_set.convert_fields(reference.fields)
    entity = derive_entity(template_set.entities, reference.kind, fields)
    if entity is None:
        raise ReferenceIncomplete(uri=uri, kind=reference.kind)
    return entity.uri(template_set.entities), reference.query


def find_entity(catalog: Catalog, template_set: TemplateSet, uri: str) -> EntityInfo:
    """The catalogued entity a reference names; ResolveError when the catalog has none."""
    canonical, query = entity_of_reference(template_set, uri)
    if query:
        raise ResolveError(f"{uri!r}: a query (?{'&'.join(query)}) does not select entities here; "
                           "name the entity itself")
    found = catalog.entity_by_uri(canonical)
    if found is None:
        raise ResolveError(f"{canonical} is not in the catalog; check the reference or run 'bifrostctl scan'")
    return found


def rehash_scope(catalog: Catalog | None, template_set: TemplateSet, target: str | None) -> RehashScope:
    """What ``scan --rehash [TARGET]`` reads again: every root (no target), a folder or file under a root, or
    every catalogued file of an entity and those below it (a reference, which needs ``catalog``)."""
    from ..templates import is_reference

    if not target:
        return RehashScope(folders=frozenset((root, "") for root in template_set.roots))
    if is_reference(target):
        if catalog is None:
            raise ResolveError(f"{target}: a reference names catalogued files, and there is no catalog yet; "
                               "run 'bifrostctl scan' first")
        entity = find_entity(catalog, template_set, target)
        return RehashScope(files=frozenset(catalog.entity_file_paths(entity.id)))
    return RehashScope(folders=frozenset([split_folder(template_set, target)]))
