"""``bifrostctl search``, ``tag``/``untag`` and ``link``/``unlink``: thin, over ``Studio.search``, ``Studio.tag``
and ``Studio.link``; they render what the API answers as a table or one JSON document."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, json_option, printable, table


@click.command()
@click.argument("words", nargs=-1)
@click.option("--kind", default=None, help="Only entities of this kind (shot, asset, task, version...).")
@click.option("--project", default=None, help="Only entities of this project.")
@click.option("--task", default=None, help="Only entities of this task (tasks and their versions).")
@click.option("--user", default=None, help="Only versions this user published.")
@click.option("--tag", "tags", multiple=True, help="Only entities with this tag (repeat: all of them).")
@click.option("--since", default=None, help="Only entities changed since: an age (30m, 12h, 7d, 2w) or an ISO date.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="At most this many.")
@click.option("--save", "save", metavar="NAME", default=None,
              help="Save this search as NAME (in ~/.config/bifrost/searches.json) instead of running it.")
@json_option
@click.pass_obj
def search(obj, words: tuple[str, ...], kind: str | None, project: str | None, task: str | None, user: str | None,
           tags: tuple[str, ...], since: str | None, limit: int, save: str | None, as_json: bool) -> int:
    """Find entities by the words of their names, paths, descriptions, publish comments and tags.

    Every word must match; the last one matches as a prefix (anim finds
    animation), as does any word ending in *. The filters combine. @NAME as
    the first word runs a saved search (the other words and options given
    replace its own). Exit code 1 when nothing matched.
    """
    studio = obj.studio()
    filters: dict[str, Any] = {"kind": kind, "project": project, "task": task, "user": user, "tags": tags,
                               "since": since, "limit": limit}
    if save is not None:
        saved = studio.save_search(save, " ".join(words), **filters)
        if as_json:
            emit_json("bifrost.search-saved.1", {"name": save, "query": saved})
        else:
            click.echo(f"saved search @{save}: {saved}")
        return 0
    named = words[0][1:] if words and words[0].startswith("@") else None
    hits = studio.search(" ".join(words[1:] if named else words), saved=named, **filters)
    if as_json:
        emit_json("bifrost.search.1", {"hits": [hit.to_json() for hit in hits]})
    elif hits:
        click.echo(table(["kind", "uri", "tags", "description"],
                         [(h.kind, h.uri, " ".join(h.tags) or "-", _short(h.description)) for h in hits]))
    else:
        click.echo("nothing matched", err=True)
    return 0 if hits else 1


def _short(text: str, width: int = 60) -> str:
    line = text.splitlines()[0] if text else "-"
    return line if len(line) <= width else line[: width - 1] + "…"


_dry_run = click.option("--dry-run", is_flag=True, help="Print what the sidecar would hold; write nothing.")


@click.command()
@click.argument("reference")
@click.argument("tags", nargs=-1, required=True)
@_dry_run
@json_option
@click.pass_obj
def tag(obj, reference: str, tags: tuple[str, ...], dry_run: bool, as_json: bool) -> int:
    """Add tags to an entity, in its sidecar (each a word without spaces)."""
    return _render(obj.studio().tag(reference, *tags, dry_run=dry_run), as_json)


@click.command()
@click.argument("reference")
@click.argument("tags", nargs=-1, required=True)
@_dry_run
@json_option
@click.pass_obj
def untag(obj, reference: str, tags: tuple[str, ...], dry_run: bool, as_json: bool) -> int:
    """Remove tags from an entity's sidecar."""
    return _render(obj.studio().tag(reference, *tags, remove=True, dry_run=dry_run), as_json)


@click.command()
@click.argument("reference")
@click.argument("targets", nargs=-1, required=True)
@click.option("--as", "kind", default="uses", show_default=True, help="The kind of link (one word).")
@_dry_run
@json_option
@click.pass_obj
def link(obj, reference: str, targets: tuple[str, ...], kind: str, dry_run: bool, as_json: bool) -> int:
    """Link an entity to other entities (a shot uses an asset), in its sidecar."""
    return _render(obj.studio().link(reference, *targets, kind=kind, dry_run=dry_run), as_json)


@click.command()
@click.argument("reference")
@click.argument("targets", nargs=-1, required=True)
@click.option("--as", "kind", default="", help="Only links of this kind (default: every kind).")
@_dry_run
@json_option
@click.pass_obj
def unlink(obj, reference: str, targets: tuple[str, ...], kind: str, dry_run: bool, as_json: bool) -> int:
    """Remove an entity's links to other entities from its sidecar."""
    return _render(obj.studio().link(reference, *targets, kind=kind, remove=True, dry_run=dry_run), as_json)


def _render(change: Any, as_json: bool) -> int:
    document = change.to_json()
    if as_json:
        emit_json("bifrost.authored-change.1", document)
        return 0
    verb = "would write" if document["dry_run"] else ("wrote" if document["changed"] else "unchanged:")
    links = ", ".join(f"{x['as']} {x['to']}" for x in document["links"])
    lines = [f"{verb} {printable(document['sidecar'])}", f"  tags   {' '.join(document['tags']) or '-'}",
             f"  links  {links or '-'}"]
    if document["recorded"] == "daemon":
        lines.append("  the running bifrostd records it (its watcher sees the sidecar)")
    elif document["recorded"] == "pending":
        lines.append("  the catalog was busy: run 'bifrostctl scan' to record it")
    click.echo("\n".join(lines))
    return 0
