"""Commands that ask the catalog about entities: ``ls``, ``versions``, ``templates plan``,
and the catalog's answer to ``resolve bifrost:///...?version=latest``."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ResolveError
from ..reconcile.targets import entity_of_reference, find_entity, split_folder
from .catalog_cmds import open_catalog
from .output import emit_json, json_option, printable, table


def version_field(template_set) -> str:
    kind = template_set.entities.get("version")
    return kind.keys[-1] if kind and kind.keys else "version"


# -- ls ---------------------------------------------------------------------------------
@click.command("ls")
@click.argument("target", required=False, default=None)
@json_option
@click.pass_obj
def ls_command(obj, target: str | None, as_json: bool) -> int:
    """List the entities under an entity (a bifrost:/// reference), or the files under a folder.

    Without TARGET, list the top-level entities (projects).
    """
    from ..catalog import queries
    from ..templates import is_reference

    template_set = obj.templates()
    with open_catalog(obj) as catalog:
        if target is None or is_reference(target):
            entity = find_entity(catalog.conn, template_set, target) if target else None
            kids = queries.children(catalog.conn, entity.id if entity else None)
            singles, sequences = queries.entity_files(catalog.conn, entity.id) if entity else ([], [])
            document = {"entity": entity.to_json() if entity else None, "children": [k.to_json() for k in kids],
                        "files": [f.to_json() for f in singles], "sequences": [s.to_json() for s in sequences]}
        else:
            root, folder = split_folder(template_set, target)
            files = queries.files_under(catalog.conn, root, folder)
            document = {"root": root, "folder": folder, "files": [f.to_json() for f in files]}
    if as_json:
        emit_json("bifrost.ls.1", document)
    else:
        click.echo(_ls_text(document))
    return 0


def _ls_text(doc: dict[str, Any]) -> str:
    if "children" not in doc:
        rows = [(f["path"], f["size"], f["state"], f["template"] or "-") for f in doc["files"]]
        return table(["path", "size", "state", "template"], rows)
    parts = []
    if doc["children"]:
        rows = [(c["kind"], c["name"], c["uri"], c["children"], c["files"]) for c in doc["children"]]
        parts.append(table(["kind", "name", "uri", "children", "files"], rows))
    parts.extend(_files_text(doc["files"], doc["sequences"]))
    return "\n\n".join(parts) or "nothing catalogued here"


def _files_text(files: list[dict], sequences: list[dict]) -> list[str]:
    parts = []
    if sequences:
        rows = [(s["pattern"], f"{s['first']}-{s['last']}", s["count"], s["missing"] or "-") for s in sequences]
        parts.append(table(["sequence", "range", "frames", "missing"], rows))
    if files:
        parts.append(table(["path", "size", "state"], [(f["path"], f["size"], f["state"]) for f in files]))
    return parts


# -- versions ---------------------------------------------------------------------------
@click.command()
@click.argument("reference")
@json_option
@click.pass_obj
def versions(obj, reference: str, as_json: bool) -> int:
    """The versions at or below an entity (a task, shot or asset), with files, frame ranges and gaps."""
    from ..catalog import queries

    template_set = obj.templates()
    with open_catalog(obj) as catalog:
        entity = find_entity(catalog.conn, template_set, reference)
        found = queries.versions(catalog.conn, entity.id, version_field(template_set))
    if as_json:
        emit_json("bifrost.versions.1", {"entity": entity.to_json(), "versions": [v.to_json() for v in found]})
        return 0
    blocks = []
    for info in found:
        blocks.append("\n".join([f"{info.entity.uri}  ({info.entity.files} files)",
                                 *_files_text([f.to_json() for f in info.files],
                                              [s.to_json() for s in info.sequences])]))
    click.echo("\n\n".join(blocks) or f"no versions under {entity.uri}")
    return 0


# -- resolve ?version=latest ------------------------------------------------------------
def _version_scope(template_set, base: str, field: str) -> str:
    """Where to look for the latest version: a version reference means its siblings."""
    from ..templates.entities import derive_entity, parse_reference

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


def _version_owners(template_set, field: str) -> set[str]:
    """Entity kinds whose children are versions: where ``version=latest`` is asked, besides a version itself."""
    kinds = {kind for kind in template_set.entities.values() if field in kind.keys}
    owners = {parent for kind in kinds for parent in kind.parents}
    return owners | {kind.name for kind in kinds}


def resolve_from_catalog(obj, template_set, uri: str, os_name: str | None) -> dict[str, Any]:
    """Resolve a reference; ``version=latest`` is answered from the catalog's versions on disk.

    The answer is the newest version at or below the referenced entity (for a
    version reference: among its siblings) whose resolved path holds present
    files: the file itself, or files below it for a folder template. A newer
    version that exists only as, say, a work file does not make the publish
    path of ``template=...publish...`` point at a folder that isn't there.
    """
    from urllib.parse import parse_qsl, urlencode

    from ..templates.references import resolve_reference
    from .templates_cmds import reference_document

    base, _, query_text = uri.partition("?")
    canonical, query = entity_of_reference(template_set, base)
    if query.get("version") != "latest" and "version=latest" not in query_text:
        return reference_document(template_set, uri, os_name)
    from ..catalog import queries

    field = version_field(template_set)
    scope = _version_scope(template_set, base, field)
    rest = [(k, v) for k, v in parse_qsl(query_text) if k != "version"]
    suffix = f"?{urlencode(rest)}" if rest else ""
    with open_catalog(obj) as catalog:
        entity = find_entity(catalog.conn, template_set, scope)
        candidates = queries.versions_newest_first(catalog.conn, entity.id, field)
        if not candidates:
            raise ResolveError(f"{uri!r}: the catalog has no version with files under {canonical}")
        latest = None
        for candidate in candidates:
            resolved = resolve_reference(template_set, candidate.uri + suffix)
            if _holds_files(catalog.conn, resolved.template, resolved.fields):
                latest = candidate
                break
    if latest is None:
        raise ResolveError(f"{uri!r}: no version under {canonical} has files at template {resolved.template.name!r} "
                           f"(the newest version with any files is {candidates[0].uri})")
    document = reference_document(template_set, latest.uri + suffix, os_name)
    return {**document, "input": uri, "latest": latest.to_json()}


def _holds_files(conn, template, fields: dict[str, Any]) -> bool:
    """Whether present files are catalogued where a resolved reference points: the file, the files below
    a folder, or the frames of a sequence when the frame is a placeholder (``####``, ``%04d``, ``$F4``)."""
    from ..catalog import queries

    frame = template.frame_field
    if frame is not None and not isinstance(fields.get(frame), int):
        return queries.sequence_has_frames(conn, template.root, template.format({**fields, frame: "#"}))
    return queries.has_present_files(conn, template.root, template.format(fields))


# -- templates plan ---------------------------------------------------------------------
@click.command("plan")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Rows per category in the table.")
@json_option
@click.pass_obj
def templates_plan(obj, limit: int, as_json: bool) -> int:
    """Plan the current template set against the catalog: which records would change entity,
    become unmanaged or newly managed. Nothing is applied (the next scan applies it).

    Exit code 1 when anything would change.
    """
    from ..catalog import queries
    from ..reconcile.plan import plan_template_change

    template_set = obj.templates()
    with open_catalog(obj) as catalog:
        change = plan_template_change(queries.present_records(catalog.conn), template_set)
    categories = {"changed_entity": change.changed_entity, "became_unmanaged": change.became_unmanaged,
                  "newly_managed": change.newly_managed, "changed_fields": change.changed_fields}
    if as_json:
        emit_json("bifrost.templates-plan.1", {
            "fingerprint": change.fingerprint, "unchanged_records_to_refresh": change.refresh,
            "counts": {k: len(v) for k, v in categories.items()},
            **{k: [_rematch_json(a) for a in v] for k, v in categories.items()}})
    else:
        click.echo(_plan_text(categories, change.refresh, limit))
    return 1 if change.changes else 0


def _rematch_json(action) -> dict[str, Any]:
    before, after = action.record.classification, action.classification
    return {"root": action.record.root, "path": action.record.relative, "template": [before.template, after.template],
            "entity": [before.entity_uri, after.entity_uri]}


def _plan_text(categories: dict[str, tuple], refresh: int, limit: int) -> str:
    parts = []
    for name, actions in categories.items():
        if not actions:
            continue
        rows = [(printable(a.record.relative), f"{a.record.classification.template} -> {a.classification.template}",
                 f"{a.record.classification.entity_uri or '-'} -> {a.classification.entity_uri or '-'}")
                for a in actions[:limit]]
        parts.append(f"{name.replace('_', ' ')}: {len(actions):,}\n" + table(["path", "template", "entity"], rows))
    parts.append(f"{refresh:,} records keep their template and entity (re-derived with the new set on the next scan)")
    return "\n\n".join(parts)
