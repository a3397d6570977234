"""``bifrostctl usd``: read a USD layer's outline, and rewrite its asset paths between ``bifrost:`` URIs and
concrete paths. Renders what :class:`bifrostd.api.Studio` answers; usd-core is imported by the library on
first use (exit 16 with the install command when it is missing)."""

from __future__ import annotations

from typing import Any

import click

from ..usd.loader import pxr
from .output import emit_json, json_option, printable
from .templates_cmds import OS_CHOICE

__all__ = ["usd"]


@click.group()
def usd() -> None:
    """USD layers: inspect one (layer stack, variants, arcs, asset paths), resolve or relativize its paths."""


@usd.command("inspect")
@click.argument("target")
@json_option
@click.pass_obj
def inspect_command(obj: Any, target: str, as_json: bool) -> int:
    """The layer stack, variant sets, references and payloads per prim, and asset paths of a USD layer.

    TARGET is a layer's path or a bifrost:/// reference to one. Layers are
    read one by one (Sdf level); no stage is composed. Exit 1 when the layer
    can't be read or names missing files.
    """
    pxr("Sdf")
    found = obj.studio().usd_inspect(target)
    if as_json:
        document = found.to_json()
        emit_json(document.pop("schema"), document)
    else:
        click.echo(_outline_text(found.to_json()))
    return 1 if found.dependencies.error or found.dependencies.missing else 0


def _outline_text(doc: dict[str, Any]) -> str:
    lines = [f"layer {printable(doc['layer'])}" + (f"  (defaultPrim {doc['default_prim']})" if doc["default_prim"] else "")]
    if doc["error"]:
        return "\n".join([*lines, f"  cannot read: {doc['error']}"])
    lines += ["layer stack:"] + [f"  {'  ' * s['depth']}{printable(s['layer'])}" + (f"  ({s['error']})" if s["error"] else "")
                                 for s in doc["stack"]]
    for prim in doc["prims"]:
        lines.append(f"prim {prim['path']}")
        lines += [f"  variant set {v['name']}: {', '.join(v['variants']) or '(defined elsewhere)'}"
                  + (f"  selected: {v['selection']}" if v["selection"] else "") for v in prim["variant_sets"]]
        lines += [f"  reference {printable(r)}" for r in prim["references"]]
        lines += [f"  payload {printable(p)}" for p in prim["payloads"]]
    lines.append("asset paths:")
    lines += [_dependency_text(d) for d in doc["dependencies"]]
    return "\n".join(lines)


def _dependency_text(dep: dict[str, Any]) -> str:
    where = dep["prim"] + (f".{dep['field']}" if dep["field"] else "") + (f" @t={dep['time']:g}" if dep["time"] is not None else "")
    state = "MISSING" if dep["missing"] else (f"{len(dep['files'])} files" if dep["pattern"] else "")
    state = state or ("entity" if dep["entity"] and not dep["files"] else "")
    return f"  {dep['kind']:<9} {where}  {printable(dep['authored'])}" + (f"  [{state}]" if state else "")


@usd.command("resolve-layer")
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@click.option("--os", "os_name", type=OS_CHOICE, default=None, help="Write paths for this OS (this machine's by default).")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@json_option
@click.pass_obj
def resolve_layer(obj: Any, source: str, target: str, os_name: str | None, dry_run: bool, as_json: bool) -> int:
    """Copy the layer IN to OUT with its bifrost: URIs replaced by concrete paths (for a render farm).

    References resolve as with 'bifrostctl resolve' (?version=latest from the
    catalog). IN is never written; OUT is written atomically, in the format
    its extension names. Exit 1 when a URI could not be resolved (it is kept).
    """
    pxr("Sdf")
    return _report(obj.studio().usd_resolve_layer(source, target, os=os_name, dry_run=dry_run), as_json)


@usd.command("relativize")
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@json_option
@click.pass_obj
def relativize(obj: Any, source: str, target: str, dry_run: bool, as_json: bool) -> int:
    """Copy the layer IN to OUT with concrete studio paths replaced by bifrost:/// references.

    A path (of any OS's spelling, or relative to IN) is replaced when it names
    one entity's file and its reference resolves back to it. IN is never
    written. Exit 1 when a path under a studio root was left as it is.
    """
    pxr("Sdf")
    return _report(obj.studio().usd_relativize(source, target, dry_run=dry_run), as_json)


def _report(result: Any, as_json: bool) -> int:
    document = result.to_json()
    if as_json:
        emit_json(document.pop("schema"), document)
    else:
        verb = "wrote" if result.written else "would write"
        click.echo(f"{verb} {printable(result.target)} ({len(result.changed)} of {len(result.changes)} paths changed)")
        for change in document["changes"]:
            line = f"  {printable(change['from'])} -> {printable(change['to'])}" if change["to"] \
                else f"  kept {printable(change['from'])}: {change['reason']}"
            click.echo(line)
    return 1 if len(result.changed) < len(result.changes) else 0
