"""Commands over the template set: ``resolve``, ``path``, ``templates check``, ``templates plan``
(the set against the catalog), and ``templates import`` (another system's conventions as a set).
They parse and render; ``resolve`` and ``path`` ask the Python API (:class:`bifrostd.api.Studio`),
the others ``templates.check``, ``reconcile.plan`` and ``bifrostd.importers``. The commands that
move the tree, ``templates migrate`` and ``conform``, live in :mod:`.migrate_cmds`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..api import Match
from ..errors import FieldValueError, ResolveError
from ..templates import is_reference
from .documents import path_match_json, reference_match_json, unresolved_json
from .output import emit_json, emit_json_line, json_option, printable, table

if TYPE_CHECKING:
    from ..importers.report import ImportResult

OS_CHOICE = click.Choice(["linux", "windows", "mac"])


def _resolve_one(obj, item: str, os_name: str | None) -> dict[str, Any]:
    """The JSON result of resolving one path or reference, from what the Python API answers."""
    studio = obj.studio()
    answer = studio.explain(item, os=os_name)
    if not isinstance(answer, Match):
        return unresolved_json(answer)
    if is_reference(item):
        return reference_match_json(item, answer, os_name or studio.os_name)
    return path_match_json(item, answer)


def _human(document: dict[str, Any]) -> str:
    if not document["matched"]:
        extra = f" ({', '.join(document['candidates'])})" if document.get("candidates") and "readings" not in document else ""
        return f"{printable(document['input'])}: {document['reason']}{extra}"
    if "relative" in document:  # a path: its root, and its path when that is not the text given
        rows = [("path", document["path"])] if document["path"] != document["input"] else []
        rows += [("root", document["root"]), ("template", document["template"])]
    else:
        rows = [("path", document["path"]), ("template", document["template"])]
    entity = document.get("entity")
    if entity:
        rows.append(("entity", f"{entity['kind']} {entity['uri']}"))
    rows += [(name, str(value)) for name, value in document["fields"].items()]
    if document.get("publish"):
        published = document["publish"]
        rows.append(("published", f"{published['time']} by {published['user']}: {published.get('comment', '')}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join([printable(document["input"]), *(f"  {name:<{width}}  {printable(value)}" for name, value in rows)])


@click.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--os", "os_name", type=OS_CHOICE, default=None, help="Give paths for this OS (references only).")
@json_option
@click.pass_obj
def resolve(obj, items: tuple[str, ...], os_name: str | None, as_json: bool) -> int:
    """Resolve PATHs to template, fields and entity, or bifrost:/// references to paths.

    With '-' as the only argument, read paths from stdin, one per line, and
    write one JSON object per line. Exit code 1 if any input matched nothing.
    """
    obj.studio()  # the template set is read, or its error raised, before the first input
    if items == ("-",):
        return _resolve_stream(obj, os_name)
    documents = []
    for item in items:
        try:
            documents.append(_resolve_one(obj, item, os_name))
        except INPUT_ERRORS as exc:
            if len(items) == 1:
                raise
            documents.append({"input": item, "matched": False, "reason": str(exc)})
    if as_json:
        emit_json("bifrost.resolve.1", {"results": documents})
    else:
        click.echo("\n".join(_human(d) for d in documents))
    return 0 if all(d["matched"] for d in documents) else 1


#: What is wrong with one input (it names no root, matches nothing, holds an invalid value): reported for
#: that input, while the others are still answered.
INPUT_ERRORS = (ResolveError, FieldValueError)


def _resolve_stream(obj, os_name: str | None) -> int:
    code = 0
    for line in sys.stdin.buffer:  # bytes: each line is a filesystem name, decoded as os.listdir would
        item = os.fsdecode(line.rstrip(b"\r\n"))
        if not item:
            continue
        try:
            document = _resolve_one(obj, item, os_name)
        except INPUT_ERRORS as exc:
            document = {"input": item, "matched": False, "reason": str(exc)}
        code = code if document["matched"] else 1
        emit_json_line(document)
    return code


def _parse_assignments(assignments: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.UsageError(f"expected key=value, got {item!r}")
        fields[name] = value
    return fields


@click.command("path")
@click.argument("template")
@click.argument("assignments", nargs=-1)
@click.option("--os", "os_name", type=OS_CHOICE, default=None, help="Format the path for this OS.")
@json_option
@click.pass_obj
def path_command(obj, template: str, assignments: tuple[str, ...], os_name: str | None, as_json: bool) -> int:
    """Format the path of TEMPLATE from key=value fields."""
    studio = obj.studio()
    if template not in studio.templates:  # an unknown template is reported before a malformed key=value
        studio.format(template)
    formatted = studio.format(template, _parse_assignments(assignments), os=os_name, strict=True)
    if as_json:
        emit_json("bifrost.path.1", {"template": template, "fields": dict(formatted.fields),
                                     "os": os_name or studio.os_name, "path": formatted.path})
    else:
        click.echo(formatted.path)
    return 0


@click.group()
def templates() -> None:
    """Check the studio's template set, plan a change of it against the catalog, and move the tree to follow it."""


@templates.command("check")
@json_option
@click.pass_obj
def check(obj, as_json: bool) -> int:
    """Validate the template set: syntax, keys, references, unsafe patterns, overlaps,
    that the config's root overrides name roots the templates define, and the
    config's daemon and mirror sections, as a daemon start would.

    Exit code 1 if there is any problem.
    """
    from ..studio_config import section_problems
    from ..templates.check import check_template_set

    config = obj.config()
    template_set, problems = check_template_set(config.templates)
    if template_set is not None:
        problems = problems + config.with_root_overrides(template_set)[1]  # the config's roots name real ones
    problems = problems + section_problems(config)  # what the daemon would refuse at start or reload
    count = len(template_set.templates) if template_set else 0
    if as_json:
        emit_json("bifrost.templates-check.1", {"location": str(config.templates), "templates": count,
                                                "valid": not problems, "problems": [p.to_json() for p in problems]})
    else:
        for problem in problems:
            click.echo(printable(str(problem)))
        summary = f"{count} templates, {len(problems)} problem(s)" if problems else f"{count} templates, no problems"
        click.echo(summary, err=bool(problems))
    return 1 if problems else 0


@templates.command("plan")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Rows per category in the table.")
@json_option
@click.pass_obj
def templates_plan(obj, limit: int, as_json: bool) -> int:
    """Plan the current template set against the catalog: which records would change entity,
    become unmanaged or newly managed. Nothing is applied (the next scan applies it).

    Exit code 1 when anything would change.
    """
    from ..reconcile.plan import plan_template_change

    template_set = obj.templates()
    with obj.catalog() as catalog:
        change = plan_template_change(catalog.present_records(), template_set)
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


@templates.group("import")
def templates_import() -> None:
    """Translate another system's folder conventions into a Bifrost template set.

    Prints the set as YAML (or writes DIR/templates.yaml with --out) and, on stderr,
    every construct not carried exactly. Exit code 1 if anything was approximated,
    19 if the source cannot be read.
    """


@templates_import.command("tk")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--roots", type=click.Path(path_type=Path), default=None,
              help="The roots.yml to use (default: core/roots.yml beside the templates).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write DIR/templates.yaml instead of printing the set.")
@click.option("--project", default=None, help="The project's folder below each storage root, added to the roots' paths.")
@json_option
def templates_import_tk(source: Path, roots: Path | None, out_dir: Path | None, project: str | None,
                        as_json: bool) -> int:
    """Import a ShotGrid Toolkit config folder (core/templates.yml and core/roots.yml) or a templates.yml."""
    from ..importers.tk import import_tk

    return render_import(import_tk(source, roots, project=project), out_dir, as_json=as_json)


@templates_import.command("ayon")
@click.argument("anatomy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write DIR/templates.yaml instead of printing the set.")
@click.option("--hierarchy-depth", type=click.IntRange(0, 8), multiple=True, default=(2,), show_default=True,
              help="How many parent folders {hierarchy} stands for; repeat it for templates at several depths.")
@json_option
def templates_import_ayon(anatomy: Path, out_dir: Path | None, hierarchy_depth: tuple[int, ...], as_json: bool) -> int:
    """Import an AYON project anatomy (ANATOMY.json or .yaml: an exported anatomy preset, a project's
    config, or a whole project entity); AYON's field names are reported with the keys they became."""
    from ..importers.ayon import import_ayon

    return render_import(import_ayon(anatomy, hierarchy_depth=hierarchy_depth), out_dir, as_json=as_json)


def render_import(result: ImportResult, out_dir: Path | None, *, as_json: bool) -> int:
    """Write or print an imported set and its report; the exit code (1 if anything was approximated)."""
    from ..importers.emit import render_set, write_set

    written = write_set(out_dir, result.document, result.header) if out_dir is not None else None
    if as_json:
        document = result.to_json()
        document.update({"written": str(written)} if written else {"set": result.document})
        emit_json("bifrost.templates-import.1", document)
    else:
        if written is None:
            click.echo(render_set(result.document, result.header), nl=False)
        click.echo(_import_report(result, written), err=True)
    return 1 if result.approximated else 0


def _import_report(result: ImportResult, written: Path | None) -> str:
    lines = [printable(str(note)) for note in result.notes]
    lines += [f"renamed: {r.source} -> {r.bifrost}" for r in result.renamed]
    approximated = sum(note.approximated for note in result.notes)
    where = f"; written to {written}" if written else ""
    lines.append(f"{len(result.document.get('templates') or {})} templates, {len(result.document.get('keys') or {})} "
                 f"keys from {result.source}: {approximated} approximated, {len(result.renamed)} renamed{where}")
    return "\n".join(lines)


def _add_tree_commands() -> None:
    from .migrate_cmds import conform, migrate

    templates.add_command(migrate)
    templates.add_command(conform)


_add_tree_commands()
