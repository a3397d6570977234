"""Entity references to paths: ``bifrost:///shot/demo/sq010/sh0100`` → the shot's folder.

The template is chosen by ``?template=NAME`` or, without it, among the
templates that define the referenced kind and need no field the reference
lacks: those using every field given are preferred, then the one needing the
fewest fields and, among those, the fewest path segments (the entity's
folder). A tie is an error asking for a template. Query fields other
than ``template`` and ``version=latest`` fill further keys (``?name=main&ext=ma``).
Answering ``version=latest`` needs the catalog; the template set alone can't.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FieldValueError, ReferenceIncomplete, ResolveError
from .compiled import CompiledTemplate
from .entities import Entity, derive_entity, parse_reference
from .templateset import TemplateSet

RESERVED_QUERY = ("template",)


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    uri: str
    template: CompiledTemplate
    fields: dict[str, Any]
    entity: Entity
    path: str


def reference_fields(template_set: TemplateSet, uri: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(kind, typed fields, query) of a reference URI."""
    reference = parse_reference(uri, template_set.entities)
    extra = {k: v for k, v in reference.query.items() if k not in RESERVED_QUERY}
    repeated = sorted(set(extra) & set(reference.fields))
    if repeated:
        raise FieldValueError(f"{uri!r}: the query sets {repeated[0]!r}, which the reference itself names; "
                              "query fields only fill further keys")
    if extra.get("version") == "latest":
        raise ResolveError(f"{uri!r}: version=latest is answered by the catalog; run 'bifrostctl scan' first and ask again")
    fields = template_set.convert_fields({**reference.fields, **extra})
    return reference.kind, fields, reference.query


def _defines(template_set: TemplateSet, template: CompiledTemplate, kind: str) -> bool:
    if template.entity is not None:
        return template.entity == kind
    return False


def _satisfied(template: CompiledTemplate, fields: dict[str, Any]) -> bool:
    return all(fields.get(f) is not None or _has_default(template, f) for f in template.required)


def _has_default(template: CompiledTemplate, field_name: str) -> bool:
    return any(k.field == field_name and k.default is not None for k in template.keys.values())


def _segments(template_set: TemplateSet, template: CompiledTemplate) -> int:
    counts = template_set.shapes[template.name].counts
    return min(counts) if counts else 1 << 16


def choose_template(template_set: TemplateSet, kind: str, fields: dict[str, Any], uri: str) -> CompiledTemplate:
    candidates = [t for t in template_set.templates.values() if _defines(template_set, t, kind) and _satisfied(t, fields)]
    if not candidates:
        raise ResolveError(f"{uri!r}: no template defines a {kind} from the fields given; add ?template=NAME")
    given = {name for name, value in fields.items() if value is not None}
    using_all = [t for t in candidates if given <= t.fields]
    candidates = using_all or candidates
    rank = {t.name: (len(t.required), _segments(template_set, t)) for t in candidates}
    fewest = min(rank.values())
    best = [t for t in candidates if rank[t.name] == fewest]
    if len(best) > 1:
        names = ", ".join(sorted(t.name for t in best))
        raise ResolveError(f"{uri!r}: several templates define a {kind} ({names}); add ?template=NAME")
    return best[0]


def _retyped(template_set: TemplateSet, template: CompiledTemplate, uri: str) -> dict[str, Any]:
    """The reference's fields typed by the chosen template's own keys."""
    reference = parse_reference(uri, template_set.entities)
    extra = {k: v for k, v in reference.query.items() if k not in RESERVED_QUERY}
    return template_set.convert_fields({**reference.fields, **extra}, template)


def resolve_reference(template_set: TemplateSet, uri: str, *, os_name: str | None = None) -> ResolvedReference:
    """The path a reference names, on ``os_name`` (default: this machine)."""
    kind, fields, query = reference_fields(template_set, uri)
    if "template" in query:
        template = template_set.template(query["template"])
    else:
        template = choose_template(template_set, kind, fields, uri)
    fields = _retyped(template_set, template, uri)
    template.reject_unknown(fields)
    path = template_set.format(template.name, fields, os_name=os_name)
    entity = derive_entity(template_set.entities, kind, fields)
    if entity is None:
        raise ReferenceIncomplete(uri=uri, kind=kind)
    return ResolvedReference(uri, template, fields, entity, path)
