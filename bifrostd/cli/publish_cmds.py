"""``bifrostctl publish`` and ``bifrostctl version deprecate|undeprecate``: thin, over ``Studio.publish`` and
``Studio.deprecate``; they render what the API answers (a plan, or what was done) as text or one JSON document."""

from __future__ import annotations

from typing import Any, Callable

import click

from .output import emit_json, json_option, printable


@click.command()
@click.argument("source")
@click.option("--task", "task", metavar="REF", default=None,
              help="Publish to this task (a bifrost:///task/... reference) instead of the source's own.")
@click.option("--to", "to", metavar="TEMPLATE", default=None,
              help="The publish template to use, when several fit the source (or none has 'publish' in its name).")
@click.option("--comment", default="", help="Why: recorded in the version's sidecar, shown by versions and resolve.")
@click.option("--dry-run", is_flag=True, help="Print the version number and every file; change nothing.")
@json_option
@click.pass_obj
def publish(obj, source: str, task: str | None, to: str | None, comment: str, dry_run: bool, as_json: bool) -> int:
    """Copy a work file, or a frame sequence, to the next free version of its publish template.

    SOURCE is a file, or any frame of a sequence (or its path with #### for
    the frame): every frame on disk is published, and a sequence with frames
    missing between its first and last is refused. Each file is copied
    under a temp name, fsynced, renamed and read back to compare its xxh3;
    published files are read-only. The version's sidecar records source,
    user, comment, time and every file's hash, and the version appears
    whole or not at all.
    """
    from ..publish import PublishPlan

    answer = obj.studio().publish(source, to=to, comment=comment, task=task, dry_run=dry_run)
    if as_json:
        emit_json("bifrost.publish-plan.1" if isinstance(answer, PublishPlan) else "bifrost.publish.1",
                  answer.to_json())
        return 0
    click.echo(_publish_text(answer.to_json(), dry_run=dry_run))
    return 0


def _publish_text(document: dict[str, Any], *, dry_run: bool) -> str:
    verb = "would publish" if dry_run else "published"
    head = f"{verb} v{document['version']:03d} ({document['template']}): {printable(document['folder'])}"
    lines = [head, *(f"  {printable(f['source'])} -> {printable(f['target'])}" for f in document["files"])]
    if document.get("frames"):
        lines.append(f"  frames {document['frames']} ({len(document['files'])} files)")
    if document.get("cleaned"):
        lines.append(f"  cleaned up after killed publishes: {', '.join(document['cleaned'])}")
    recorded = document.get("recorded")
    if recorded == "daemon":
        lines.append("  the running bifrostd records it (its watcher sees the new version)")
    elif recorded == "pending":
        lines.append("  the catalog was busy: run 'bifrostctl scan' to record it")
    return "\n".join(lines)


@click.group()
def version() -> None:
    """Deprecate or undeprecate a published version (version=latest skips deprecated ones)."""


def _flag(obj, reference: str, comment: str, dry_run: bool, as_json: bool, *, deprecated: bool) -> int:
    answer = obj.studio().deprecate(reference, comment=comment, deprecated=deprecated, dry_run=dry_run)
    document = answer.to_json()
    if as_json:
        emit_json("bifrost.version-state.1", document)
        return 0
    verb = ("would " if dry_run else "") + ("deprecate" if deprecated else "undeprecate")
    click.echo(f"{verb}{'' if dry_run else 'd'} {document['version']['uri']}"
               + (f": {document['deprecation']['comment']}" if document["deprecation"].get("comment") else ""))
    return 0


def _version_options(command: Any) -> Any:
    """REF, --comment, --dry-run and --json: what deprecate and undeprecate both take."""
    decorators: list[Callable[[Any], Any]] = [click.argument("reference", metavar="REF"),
                            click.option("--comment", default="",
                                         help="Why: recorded with who and when in the version's sidecar."),
                            click.option("--dry-run", is_flag=True, help="Print what would be written; change nothing."),
                            json_option, click.pass_obj]
    for option in reversed(decorators):
        command = option(command)
    return command


@version.command()
@_version_options
def deprecate(obj, reference: str, comment: str, dry_run: bool, as_json: bool) -> int:
    """Flag a version deprecated in its sidecar (REF: a reference, one of its files, or its folder).

    version=latest skips it from then on; nothing is deleted.
    """
    return _flag(obj, reference, comment, dry_run, as_json, deprecated=True)


@version.command()
@_version_options
def undeprecate(obj, reference: str, comment: str, dry_run: bool, as_json: bool) -> int:
    """Clear a version's deprecated flag: version=latest may choose it again."""
    return _flag(obj, reference, comment, dry_run, as_json, deprecated=False)
