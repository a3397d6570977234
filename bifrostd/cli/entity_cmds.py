"""Commands that ask the catalog about entities: ``ls``, ``versions`` and ``show``. They render what the Python
API (:class:`bifrostd.api.Studio`) answers."""

from __future__ import annotations

from typing import Any

import click

from .documents import catalogued_json, listing_json, version_json
from .output import emit_json, json_option, table


# -- ls ---------------------------------------------------------------------------------
@click.command("ls")
@click.argument("target", required=False, default=None)
@json_option
@click.pass_obj
def ls_command(obj, target: str | None, as_json: bool) -> int:
    """List the entities under an entity (a bifrost:/// reference), or the files under a folder.

    Without TARGET, list the top-level entities (projects).
    """
    document = listing_json(obj.studio().listing(target))
    if as_json:
        emit_json("bifrost.ls.1", document)
    else:
        click.echo(_ls_text(document))
    return 0


def _ls_text(doc: dict[str, Any]) -> str:
    if "children" not in doc:
        rows: list[tuple[Any, ...]] = [(f["path"], f["size"], f["state"], f["template"] or "-") for f in doc["files"]]
        return table(["path", "size", "state", "template"], rows)
    parts = []
    if doc["children"]:
        rows = [(c["kind"], c["name"], c["uri"], c["children"], c["files"], " ".join(c["tags"]) or "-")
                for c in doc["children"]]
        parts.append(table(["kind", "name", "uri", "children", "files", "tags"], rows))
    parts.extend(_files_text(doc["files"], doc["sequences"]))
    return "\n\n".join(parts) or "nothing catalogued here"


def _publish_text(document: dict[str, Any]) -> list[str]:
    """Who published the version, when and why; who deprecated it and why."""
    lines = []
    published = document["publish"]
    if published:
        lines.append(f"  published {published['time']} by {published['user']}: {published.get('comment') or '-'}")
    deprecation = document["deprecation"]
    if document["deprecated"] and deprecation:
        lines.append(f"  deprecated {deprecation['time']} by {deprecation['user']}: {deprecation.get('comment') or '-'}")
    return lines


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
    studio = obj.studio()
    entity, found = studio.entity(reference), studio.versions(reference)
    if as_json:
        emit_json("bifrost.versions.1", {"entity": catalogued_json(entity), "versions": [version_json(v) for v in found]})
        return 0
    blocks = []
    for version in found:
        document = version_json(version)
        blocks.append("\n".join([f"{version.entity.uri}  ({version.entity.files} files)"
                                 f"{'  DEPRECATED' if version.deprecated else ''}", *_publish_text(document),
                                 *_files_text(document["files"], document["sequences"])]))
    click.echo("\n\n".join(blocks) or f"no versions under {entity.uri}")
    return 0


# -- show -------------------------------------------------------------------------------
@click.command()
@click.argument("reference")
@json_option
@click.pass_obj
def show(obj, reference: str, as_json: bool) -> int:
    """One entity: its fields, what it holds, and what people authored about it (its sidecar).

    Also: the latest version of each task at or below it (deprecated ones
    skipped), and the links to it from other entities' sidecars.
    """
    studio = obj.studio()
    entity, authored = studio.entity(reference), studio.authored(reference)
    frames = _frame_findings(obj, entity.uri) if authored.frames is not None else []
    latest = {task: version.uri for task, version in studio.latest_versions(reference).items()}
    linked_from = [link.to_json() for link in studio.links_to(reference)]
    document = {"entity": catalogued_json(entity), "authored": authored.to_json(), "latest": latest,
                "linked_from": [{"from": x["to"], "as": x["as"]} for x in linked_from], "frame_drift": frames}
    if as_json:
        emit_json("bifrost.show.1", document)
        return 0
    click.echo(_show_text(document))
    for finding in frames:
        what = "outside the range" if finding["kind"] == "outside_range" else "zero-byte or truncated"
        click.echo(f"  {what}: {finding['sequence']} frames {finding['frames']} (range {finding['range']})")
    return 0


def _frame_findings(obj, uri: str) -> list[dict[str, Any]]:
    """The entity's frame sequences held to its frame range (see bifrostd.production.ranges)."""
    from ..production.ranges import frame_findings
    from .catalog_cmds import open_catalog

    with open_catalog(obj) as catalog:
        return [f.to_json() for f in frame_findings(catalog, obj.templates(), uri)]


def _show_text(document: dict[str, Any]) -> str:
    entity, authored = document["entity"], document["authored"]
    rows: list[tuple[Any, ...]] = [("kind", entity["kind"]), ("files", entity["files"]),
                                   ("children", entity["children"])]
    rows += [(k, v) for k, v in entity["keys"].items()]
    frames = authored.get("frames")
    rows += [("description", authored.get("description", "")),
             ("frames", f"{frames['cut_in']}-{frames['cut_out']} (handles {frames['handle_in']}, "
                        f"{frames['handle_out']})" if frames else "-"),
             ("tags", ", ".join(authored.get("tags", [])) or "-"),
             ("links", ", ".join(f"{link['as']} {link['to']}" for link in authored.get("links", [])) or "-")]
    rows += [("linked from", ", ".join(f"{x['as']} {x['from']}" for x in document["linked_from"]) or "-")]
    rows += [(f"fields.{k}", v) for k, v in authored.get("fields", {}).items()]
    rows += [(f"latest.{task}", uri) for task, uri in document["latest"].items()]
    return f"{entity['uri']}\n" + "\n".join(f"  {name:<12} {value}" for name, value in rows)
