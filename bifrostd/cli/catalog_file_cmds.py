"""``bifrostctl catalog check|rebuild``: the catalog file itself, checked for damage and rebuilt from the tree.

Thin: ``check`` asks ``catalog.integrity`` and renders its findings;
``rebuild`` plans with ``bifrostd.reconcile.rebuild``, moves the old file aside and
runs the scan into a new catalog.
"""

from __future__ import annotations

import time
from typing import Any

import click

from .output import emit_json, json_option

RECOVERY = ("to recover: stop bifrostd if it runs, then 'bifrostctl catalog rebuild' (moves this file aside, "
            "kept, and scans the roots into a new catalog)")


@click.group("catalog")
def catalog() -> None:
    """Check the catalog file for damage, or rebuild it from the tree."""


@catalog.command("check")
@click.option("--quick", is_flag=True, help="PRAGMA quick_check: each table's structure only (about 5x faster).")
@json_option
@click.pass_obj
def check(obj, quick: bool, as_json: bool) -> int:
    """Check the catalog file for damage (SQLite's integrity check); read-only, also while bifrostd runs.

    Exit code 1 when it finds any problem.
    """
    from ..catalog.integrity import check_file

    report = check_file(obj.config().catalog_path, quick=quick)
    if as_json:
        emit_json("bifrost.catalog-check.1", report.to_json())
    else:
        click.echo(_check_text(report))
    return 0 if report.ok else 1


def _check_text(report) -> str:
    kind = "quick check" if report.quick else "integrity check"
    if report.ok:
        return f"catalog {report.path}: ok ({kind}, {report.seconds:.2f} s)"
    lines = [f"catalog {report.path}: damaged ({kind} found {len(report.problems)} problem"
             f"{'s' if len(report.problems) != 1 else ''})"]
    lines += [f"  {problem}" for problem in report.problems]
    return "\n".join([*lines, RECOVERY])


@catalog.command("rebuild")
@click.option("--dry-run", is_flag=True, help="Print what would be moved and scanned; change nothing.")
@click.option("--force", is_flag=True, help="Rebuild a catalog that passes its check too.")
@json_option
@click.pass_obj
def rebuild(obj, dry_run: bool, force: bool, as_json: bool) -> int:
    """Move the catalog aside (kept, never deleted) and scan every root into a new one.

    For a damaged catalog. Files, entities and sequences come back from the
    tree; the activity log and the mirror's record of each bucket start
    afresh. Refused while bifrostd runs on the state folder.
    """
    from ..reconcile import rebuild as rebuilding
    from ..catalog.integrity import check_file

    config, template_set = obj.config(), obj.templates()
    path, roots = config.catalog_path, tuple(template_set.roots)

    def plan():
        report = check_file(path, quick=True) if path.exists() else None
        return rebuilding.plan_rebuild(path, report, roots, stamp=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                                       force=force)

    if dry_run:
        rebuilding.refuse_if_held(config.state_dir)
        document = {**plan().to_json(), "dry_run": True, "scan": None}
    else:
        with rebuilding.holding(config.state_dir, path) as writer:
            the_plan = plan()
            rebuilding.move_aside(the_plan)
            report = _scan_into_new(obj, config, template_set, writer, as_json=as_json)
        document = {**the_plan.to_json(), "dry_run": False, "scan": report.to_json()}
    if as_json:
        emit_json(rebuilding.SCHEMA, document)
    else:
        click.echo(_rebuild_text(document))
    return 0


def _scan_into_new(obj, config, template_set, writer, *, as_json: bool):
    from ..catalog import Catalog
    from ..reconcile.scan import ScanOptions, scan

    options = ScanOptions(full=True, hash_files=config.scan.hash, workers=config.scan.workers)
    progress = obj.progress(as_json=as_json)
    try:
        with Catalog.open(config.catalog_path, write=True, lock=writer) as catalog:
            return scan(catalog, template_set, options, progress=progress)
    finally:
        progress.clear()


def _rebuild_text(doc: dict[str, Any]) -> str:
    verb = "would move" if doc["dry_run"] else "moved"
    lines = [f"{verb} {m['from']} to {m['to']}" for m in doc["moved"]]
    if not doc["moved"]:
        lines.append(f"no catalog at {doc['catalog']}: nothing to move")
    if doc["dry_run"]:
        return "\n".join([*lines, f"would scan {', '.join(doc['roots'])} into a new catalog"])
    counts = doc["scan"]["counts"]
    lines.append(f"scanned {', '.join(doc['roots'])} into a new catalog in {doc['scan']['duration_s']:.2f} s: "
                 f"{counts['added']:,} files, {counts['findings']:,} findings")
    if doc["moved"]:
        lines.append("the old file is kept: delete it once nothing more is wanted from it. The activity log "
                     "starts again from here, and each mirror target's next run sends every file again")
    return "\n".join(lines)
