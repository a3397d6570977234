"""Commands that make production entities: ``create``. They parse and render; :class:`bifrostd.api.Studio`
plans and makes (``bifrostd.production``)."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, json_option, printable


@click.command()
@click.argument("targets", nargs=-1, metavar="REF... | KIND KEY=VALUE...")
@click.option("--from", "rows", type=click.Path(dir_okay=False), help="A CSV or JSON file: one entity per row.")
@click.option("--description", help="The entity's description (written to its sidecar).")
@click.option("--frames", metavar="FIRST-LAST", help="The cut range, e.g. 1001-1100.")
@click.option("--handles", metavar="N|IN,OUT", help="Handles either side of the cut range (with --frames).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print every folder it would make; make nothing.")
@json_option
@click.pass_obj
def create(obj, targets: tuple[str, ...], rows: str | None, description: str | None, frames: str | None,
           handles: str | None, tags: tuple[str, ...], dry_run: bool, as_json: bool) -> int:
    """Create entities: the folders the templates give each one (its skeleton), and its sidecar.

    Name entities by reference (bifrost:///shot/demo/sq010/sh0100), by kind and
    keys (shot project=demo sequence=sq010 shot=sh0100), or one per row of a
    CSV or JSON file (--from). Everything is planned first and a value its key
    refuses changes nothing; existing folders are left alone; a batch that
    fails part way is taken back. Which folders an entity has is in
    docs/templates.md (Folder skeletons).
    """
    from ..templates import is_reference

    if handles is not None and frames is None:
        raise click.UsageError("--handles goes with --frames")
    if not targets and rows is None:
        raise click.UsageError("name what to create: REF..., KIND KEY=VALUE..., or --from FILE")
    studio = obj.studio()
    references = list(targets) if all(is_reference(t) for t in targets) else [_reference_of(obj.templates(), targets)]
    report = studio.create(*references, description=description, frames=frames, handles=handles, tags=tags,
                           rows=rows, dry_run=dry_run)
    if as_json:
        emit_json("bifrost.create.1", report.to_json())
    else:
        click.echo(_text(report.to_json()))
    return 0


def _reference_of(template_set, targets: tuple[str, ...]) -> str:
    """``shot project=demo sequence=sq010 shot=sh0100`` as the shot's reference."""
    from ..production.rows import request_of

    kind, *assignments = targets
    fields: dict[str, str] = {"kind": kind}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.UsageError(f"expected KEY=VALUE after the kind, got {item!r} (or give bifrost:/// references)")
        fields[name] = value
    return request_of(template_set, "command line", fields)[0]


def _text(document: dict[str, Any]) -> str:
    lines: list[str] = []
    verb = "would make" if document["dry_run"] else "made"
    for entity in document["entities"]:
        made = set(entity.get("made", ()))
        lines.append(f"{entity['kind']} {entity['uri']}")
        for folder in entity["folders"]:
            if document["dry_run"]:
                state = "exists" if folder["exists"] else verb
            else:
                state = verb if folder["path"] in made else "exists"
            extra = "".join(f" {k} {folder[k]}" for k in ("mode", "group") if folder[k])
            lines.append(f"  {state:<10} {printable(folder['path'])}{extra}")
    count = document["folders_to_make"] if document["dry_run"] else document["folders_made"]
    summary = f"{verb} {count} folder(s) for {len(document['entities'])} entit{'y' if len(document['entities']) == 1 else 'ies'}"
    recorded = {"catalog": "; catalogued", "daemon": "; the running daemon catalogs it",
                "none": "; no catalog yet: 'bifrostctl scan' catalogs it"}.get(document["recorded"] or "", "")
    return "\n".join([*lines, summary + recorded])


@click.group()
def skeleton() -> None:
    """Hold entities made with create (those with a sidecar) to their folder skeleton: check, or fix."""


def _skeleton_plans(obj, reference: str | None):
    from ..production.skeletons import held_entities, skeleton_plans
    from ..reconcile.targets import entity_of_reference
    from .catalog_cmds import open_catalog

    template_set = obj.templates()
    under = entity_of_reference(template_set, reference)[0] if reference else None
    with open_catalog(obj) as catalog:
        held = held_entities(catalog, template_set, under)
    return template_set, skeleton_plans(template_set, held)


@skeleton.command("check")
@click.argument("reference", metavar="[REF]", required=False)
@json_option
@click.pass_obj
def skeleton_check(obj, reference: str | None, as_json: bool) -> int:
    """List the skeleton folders missing under the entities with a sidecar (at or below REF).

    Exit code 1 when any is missing.
    """
    from ..production.skeletons import missing_skeleton_folders

    template_set, plans = _skeleton_plans(obj, reference)
    missing = missing_skeleton_folders(template_set, plans)
    if as_json:
        emit_json("bifrost.skeleton-check.1", {"entities": len(plans), "missing": [m.to_json() for m in missing]})
    else:
        lines = [f"missing {printable(m.path)}  ({m.entity})" for m in missing]
        lines.append(f"{len(missing)} skeleton folder(s) missing under {len(plans)} entit"
                     f"{'y' if len(plans) == 1 else 'ies'}" if missing else
                     f"every skeleton folder is there ({len(plans)} entit{'y' if len(plans) == 1 else 'ies'})")
        click.echo("\n".join(lines))
    return 1 if missing else 0


@skeleton.command("fix")
@click.argument("reference", metavar="[REF]", required=False)
@click.option("--dry-run", is_flag=True, help="Print the folders it would make; make nothing.")
@json_option
@click.pass_obj
def skeleton_fix(obj, reference: str | None, dry_run: bool, as_json: bool) -> int:
    """Make the skeleton folders missing under the entities with a sidecar (at or below REF), as create
    does: the templates' modes and groups, no symlink followed; sidecars are left as they are."""
    from ..production.skeletons import fix_skeletons, missing_skeleton_folders

    template_set, plans = _skeleton_plans(obj, reference)
    missing = missing_skeleton_folders(template_set, plans)
    made = [] if dry_run else fix_skeletons(template_set, plans)
    if as_json:
        emit_json("bifrost.skeleton-fix.1", {"dry_run": dry_run, "missing": [m.to_json() for m in missing],
                                             "made": made})
    else:
        verb = "would make" if dry_run else "made"
        shown = [m.path for m in missing] if dry_run else made
        click.echo("\n".join([*(f"{verb} {printable(p)}" for p in shown),
                              f"{verb} {len(shown)} folder(s)"]))
    return 0
