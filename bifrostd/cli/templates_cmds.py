"""Commands over the template set alone: ``resolve``, ``path`` and ``templates check``."""

from __future__ import annotations

import os
from typing import Any

import click

from ..errors import FieldValueError, ResolveError
from .output import emit_json, emit_json_line, json_option, printable

OS_CHOICE = click.Choice(["linux", "windows", "mac"])


def match_document(template_set, path: str) -> dict[str, Any]:
    """The JSON result of resolving one path."""
    absolute = os.path.abspath(path)
    if absolute.startswith("//") and template_set.os_name != "windows":
        absolute = "/" + absolute.lstrip("/")  # POSIX leaves a leading '//' alone; Linux and macOS read it as '/'
    found = template_set.match(absolute)
    if found is None:
        from ..reconcile.targets import split_folder

        try:
            split: tuple[str, str] | None = split_folder(template_set, absolute)
        except ResolveError:
            split = None
        reason = "matches no template" if split else "is under no root"
        return {"input": path, "matched": False, "reason": reason, "root": split[0] if split else None}
    document: dict[str, Any] = {"input": path, "root": found.root, "relative": found.relative, "fields": found.fields}
    if found.ambiguous:
        return {**document, "matched": False, "reason": "matches several templates of equal priority",
                "candidates": list(found.candidates)}
    entity = found.entity.to_json(template_set.entities) if found.entity else None
    return {**document, "matched": True, "template": found.template.name, "entity": entity}


def reference_document(template_set, uri: str, os_name: str | None) -> dict[str, Any]:
    from ..templates.references import resolve_reference

    resolved = resolve_reference(template_set, uri, os_name=os_name)
    return {"input": uri, "matched": True, "path": resolved.path, "template": resolved.template.name,
            "fields": resolved.fields, "entity": resolved.entity.to_json(template_set.entities),
            "os": os_name or template_set.os_name}


def _resolve_one(obj, template_set, item: str, os_name: str | None) -> dict[str, Any]:
    from ..templates import is_reference

    if is_reference(item):
        resolver = getattr(obj, "resolve_reference", None)
        if resolver is not None:
            return resolver(template_set, item, os_name)
        return reference_document(template_set, item, os_name)
    return match_document(template_set, item)


def _human(document: dict[str, Any]) -> str:
    if not document["matched"]:
        extra = f" ({', '.join(document['candidates'])})" if document.get("candidates") else ""
        return f"{printable(document['input'])}: {document['reason']}{extra}"
    rows = [("path", document["path"]) if "path" in document else ("root", document["root"]),
            ("template", document["template"])]
    entity = document.get("entity")
    if entity:
        rows.append(("entity", f"{entity['kind']} {entity['uri']}"))
    rows += [(name, str(value)) for name, value in document["fields"].items()]
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
    template_set = obj.templates()
    if items == ("-",):
        return _resolve_stream(obj, template_set, os_name)
    documents = []
    for item in items:
        try:
            documents.append(_resolve_one(obj, template_set, item, os_name))
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


def _resolve_stream(obj, template_set, os_name: str | None) -> int:
    code = 0
    stream = click.get_text_stream("stdin", errors="surrogateescape")
    for line in stream:
        item = line.rstrip("\r\n")
        if not item:
            continue
        try:
            document = _resolve_one(obj, template_set, item, os_name)
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
    template_set = obj.templates()
    chosen = template_set.template(template)
    given = _parse_assignments(assignments)
    chosen.reject_unknown(given)
    fields = template_set.convert_fields(given, chosen)
    path = template_set.format(template, fields, os_name=os_name)
    if as_json:
        emit_json("bifrost.path.1", {"template": template, "fields": fields, "os": os_name or template_set.os_name, "path": path})
    else:
        click.echo(path)
    return 0


@click.group()
def templates() -> None:
    """Check the studio's template set, and plan a change of it against the catalog."""


@templates.command("check")
@json_option
@click.pass_obj
def check(obj, as_json: bool) -> int:
    """Validate the template set: syntax, keys, references, unsafe patterns, overlaps,
    that the config's root overrides name roots the templates define, and the
    config's daemon and mirror sections, as a daemon start would.

    Exit code 1 if there is any problem.
    """
    from ..daemon.studio_config import section_problems
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


def _register_plan() -> None:
    """``templates plan`` lives with the catalog commands; imported here only when the group loads."""
    from .entity_cmds import templates_plan

    templates.add_command(templates_plan)


_register_plan()
