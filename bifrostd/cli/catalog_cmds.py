"""Commands over the catalog: ``scan``, ``status``, ``drift``, ``forget`` and ``log``.

Thin: open the catalog, call the library, render a table or one JSON
document. ``scan`` and ``forget`` write; the others open the catalog
read-only and never block a running daemon. ``forget`` asks the daemon to
write when it holds the catalog.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from contextlib import nullcontext
from typing import Any

import click

from ..config import parse_duration
from .output import emit_json, json_option, printable, table


def open_catalog(obj, *, write: bool = False):
    from ..catalog import Catalog

    return Catalog.open(obj.config().catalog_path, write=write)


# -- scan -------------------------------------------------------------------------------
@click.command()
@click.option("--root", "roots", multiple=True, help="Scan only this root (repeatable). Default: every root.")
@click.option("--prune", is_flag=True,
              help="Skip folders whose mtime is unchanged: faster, but blind to files edited in place. "
                   "Only for roots a running bifrostd watches.")
@click.option("--full", is_flag=True, hidden=True, help="Stat every file (the default; kept for scripts).")
@click.option("--rehash", "rehashing", is_flag=True,
              help="Also read again the files under PATH or of REF (every root if none is given) whatever their "
                   "size and mtime say, and report content that changed behind them.")
@click.argument("target", metavar="[PATH|REF]", required=False)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@json_option
@click.pass_obj
def scan(obj, roots: tuple[str, ...], prune: bool, full: bool, rehashing: bool, target: str | None, dry_run: bool,
         as_json: bool) -> int:
    """Walk the roots, hash new and changed files, and bring the catalog up to date.

    Every file is looked at (one stat each), so a scan that reports nothing
    changed means nothing changed, edits in place included. --prune skips
    folders whose mtime is unchanged, as the daemon's watched roots can
    afford. --rehash is a scrub: it re-reads content that an mtime-based scan
    trusts (edits that keep size and mtime). Per-file problems are reported
    as findings and never stop the scan.
    """
    from ..reconcile.scan import ScanOptions
    from ..reconcile.scan import scan as run_scan

    if target is not None and not rehashing:
        raise click.UsageError("PATH|REF names what --rehash reads again: scan --rehash PATH|REF")
    if prune and (full or rehashing):
        raise click.UsageError("--prune skips folders; it can't be combined with --full or --rehash")
    rehash = (target or "") if rehashing else None
    config, template_set = obj.config(), obj.templates()
    _check_roots(template_set, roots)
    catalog = _catalog_for_scan(obj, dry_run)
    progress = obj.progress(as_json=as_json)
    with catalog if catalog is not None else nullcontext():  # closed, and damage met reported, on the way out
        try:
            scope = _rehash_scope(catalog, template_set, rehash) if rehash is not None else None
            if scope is not None and not scope.roots:
                obj.info(f"{rehash}: no catalogued files to read again")
                return 0
            options = ScanOptions(roots=roots or (scope.roots if scope else ()), full=not prune, rehash=scope,
                                  dry_run=dry_run, hash_files=config.scan.hash, workers=config.scan.workers)
            report = run_scan(catalog, template_set, options, progress=progress)
        finally:
            progress.clear()
    _render_scan(obj, report, dry_run=dry_run, as_json=as_json)
    return 0


def _rehash_scope(catalog, template_set, target: str):
    from ..reconcile.targets import rehash_scope
    from ..templates import is_reference

    if catalog is None and is_reference(target):
        raise click.UsageError("a reference names catalogued files: scan once before --rehash REF")
    return rehash_scope(catalog, template_set, target)


def _check_roots(template_set, roots: tuple[str, ...]) -> None:
    unknown = [r for r in roots if r not in template_set.roots]
    if unknown:
        raise click.BadParameter(f"unknown root {unknown[0]!r} (roots: {', '.join(template_set.roots)})",
                                 param_hint="--root")


def _catalog_for_scan(obj, dry_run: bool):
    if not dry_run:
        return open_catalog(obj, write=True)
    return open_catalog(obj) if obj.config().catalog_path.exists() else None


def _render_scan(obj, report, *, dry_run: bool, as_json: bool) -> None:
    from .plan_render import action_json, action_line

    if as_json:
        document = report.to_json()
        if dry_run:
            document["actions"] = [action_json(a) for a in report.plan.actions]
        emit_json("bifrost.scan-plan.1" if dry_run else "bifrost.scan.1", document)
        return
    if dry_run:
        for action in report.plan.actions:
            click.echo(action_line(action))
    summary = _scan_summary(report, dry_run, findings=obj.verbosity > 0)
    if dry_run:  # the plan is the output; its summary is for the person watching
        obj.info(summary)
    else:
        click.echo(summary)


def _scan_summary(report, dry_run: bool, *, findings: bool = False) -> str:
    """Two lines of counts, the findings by kind and, with ``findings`` (-v), each finding."""
    counts = report.counts
    verb = "would change" if dry_run else "changed"
    lines = [f"scanned {', '.join(report.roots)} in {report.duration_s:.2f} s: {counts['files_seen']:,} files seen, "
             f"{counts['dirs_listed']:,} folders listed, {counts['dirs_skipped']:,} unchanged",
             f"  {verb}: added {counts['added']:,}, changed {counts['changed']:,}, moved {counts['moved']:,}, "
             f"vanished {counts['vanished']:,}, rematched {counts['rematched']:,}; hashed {counts['hashed']:,}"]
    if report.plan.findings:
        kinds = Counter(f.kind.value for f in report.plan.findings)
        lines.append(f"  findings: {len(report.plan.findings)} (" +
                     ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
        if findings:
            lines += [f"    {f.kind.value} {f.root}:{printable(f.relative)}: {f.message}" for f in report.plan.findings]
    return "\n".join(lines)


# -- status -----------------------------------------------------------------------------
@click.command()
@json_option
@click.pass_obj
def status(obj, as_json: bool) -> int:
    """Counts per entity kind, files and bytes, the last scan, drift in brief, templates in use."""
    template_set = obj.templates()
    with open_catalog(obj) as catalog:
        found = catalog.status()
        missing = catalog.count_missing()
    stale = sum(n for fp, n in found.fingerprints.items() if fp != template_set.fingerprint)
    document = {**found.to_json(), "catalog": str(obj.config().catalog_path),
                "templates": {"location": str(obj.config().templates), "fingerprint": template_set.fingerprint,
                              "records_from_other_sets": stale},
                "drift": {"unmanaged": found.unmanaged, "missing": missing, "sequences_with_gaps": found.gaps,
                          "records_from_other_sets": stale},
                "daemon": daemon_state(obj), "migration": _migration_state(obj)}
    if as_json:
        emit_json("bifrost.status.1", document)
    else:
        click.echo(_status_text(document))
    return 0


def _migration_state(obj) -> dict[str, Any] | None:
    """An interrupted tree migration's journal, in brief (None when there is none). Read here as plain JSON:
    status loads nothing of the reconcile stage (see tests/test_cli_startup.py)."""
    path = obj.config().migration_journal_path
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"journal": str(path), "command": None, "moves": None}
    return {"journal": str(path), "command": document.get("command"), "moves": len(document.get("moves", ()))}


def daemon_state(obj) -> dict[str, Any] | None:
    """The daemon's state once it exists: a ``daemon_state`` hook on the CLI context, else None."""
    hook = getattr(obj, "daemon_state", None)
    return hook() if callable(hook) else None


def _status_text(doc: dict[str, Any]) -> str:
    files, sizes = doc["files"], doc["bytes"]
    lines = [f"catalog    {doc['catalog']}",
             f"templates  {doc['templates']['location']} ({doc['templates']['fingerprint']})",
             f"files      {files.get('present', 0):,} present ({_size(sizes.get('present', 0))}), "
             f"{files.get('missing', 0):,} missing"]
    kinds = ", ".join(f"{n:,} {k}" for k, n in doc["entities"].items()) or "none"
    lines.append(f"entities   {kinds}")
    scan_doc = doc["last_scan"]
    if scan_doc:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(scan_doc["finished_ns"] / 1e9))
        lines.append(f"last scan  {when}, {scan_doc['duration_s']:.2f} s, {scan_doc['findings']} findings")
    else:
        lines.append("last scan  never (run 'bifrostctl scan')")
    drift = doc["drift"]
    lines.append(f"drift      {drift['unmanaged']:,} unmanaged, {drift['missing']:,} missing, "
                 f"{drift['sequences_with_gaps']:,} sequences with gaps, "
                 f"{drift['records_from_other_sets']:,} records from other template sets")
    if doc["migration"] is not None:
        migration = doc["migration"]
        lines.append(f"migration  interrupted ({migration['command']}, {migration['moves']} moves): "
                     "'bifrostctl templates migrate --resume' or '--rollback'")
    if doc["daemon"] is not None:  # the running daemon's section (bifrostd/cli/daemon_cmds.py)
        from .daemon_cmds import describe_daemon

        lines.append(describe_daemon(doc["daemon"]))
    else:
        lines.append("daemon     not running")
    return "\n".join(lines)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


# -- drift ------------------------------------------------------------------------------
@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Rows per category in the table.")
@json_option
@click.pass_obj
def drift(obj, limit: int, as_json: bool) -> int:
    """Where disk and expectations differ: unmanaged and missing files, frame gaps, stale matches.

    Exit code 1 when there is any drift.
    """
    from ..production.ranges import frame_findings
    from ..production.skeletons import held_entities, missing_skeleton_folders, skeleton_plans
    from ..reconcile.plan import plan_template_change

    template_set = obj.templates()
    with open_catalog(obj) as catalog:
        unmanaged = catalog.unmanaged_by_folder()
        missing = catalog.missing_files()
        gaps = catalog.gaps()
        stale = plan_template_change(catalog.present_records(other_than=template_set.fingerprint), template_set)
        broken = catalog.broken_sidecars()
        held = held_entities(catalog, template_set)
        frames = [f.to_json() for f in frame_findings(catalog, template_set)]
    skeleton = missing_skeleton_folders(template_set, skeleton_plans(template_set, held))
    document = {"unmanaged": [g.to_json() for g in unmanaged], "missing": [_record_json(r) for r in missing],
                "gaps": [g.to_json() for g in gaps],
                "template_mismatch": [_rematch_json(a) for a in stale.actions()],
                "broken_sidecars": [_broken_json(b) for b in broken],
                "missing_skeleton": [m.to_json() for m in skeleton],
                "outside_range": [f for f in frames if f["kind"] == "outside_range"],
                "short_frames": [f for f in frames if f["kind"] == "short"],
                "fingerprint": template_set.fingerprint}
    counts = {name: len(document[name]) for name in ("unmanaged", "missing", "gaps", "template_mismatch",
                                                     "broken_sidecars", "missing_skeleton", "outside_range",
                                                     "short_frames")}
    counts["unmanaged_files"] = sum(g.count for g in unmanaged)
    if as_json:
        emit_json("bifrost.drift.1", {**document, "counts": counts})
    else:
        click.echo(_drift_text(document, counts, limit))
    return 1 if any(counts.values()) else 0


def _record_json(record) -> dict[str, Any]:
    return {"root": record.root, "path": record.relative, "template": record.classification.template,
            "entity": record.classification.entity_uri, "size": record.size}


def _broken_json(row) -> dict[str, Any]:
    return {"root": row.root, "folder": row.folder, "problems": list(row.problems),
            "last_good_kept": row.data is not None}


def _rematch_json(action) -> dict[str, Any]:
    record, now = action.record, action.classification
    return {"root": record.root, "path": record.relative,
            "template": [record.classification.template, now.template],
            "entity": [record.classification.entity_uri, now.entity_uri]}


def _drift_text(doc: dict[str, Any], counts: dict[str, int], limit: int) -> str:
    if not any(counts.values()):
        return "no drift"
    parts = []
    if doc["unmanaged"]:
        rows: list[tuple[Any, ...]] = [(g["root"], g["folder"] or ".", g["count"], ", ".join(g["examples"]))
                                       for g in doc["unmanaged"][:limit]]
        parts.append(f"unmanaged files: {counts['unmanaged_files']:,} in {counts['unmanaged']:,} folders\n"
                     + table(["root", "folder", "files", "examples"], rows))
    if doc["missing"]:
        rows = [(m["root"], m["path"], m["template"] or "-") for m in doc["missing"][:limit]]
        parts.append(f"missing files: {counts['missing']:,} (deleted on purpose? 'bifrostctl forget PATH|REF')\n"
                     + table(["root", "path", "template"], rows))
    if doc["gaps"]:
        rows = [(g["pattern"], f"{g['first']}-{g['last']}", g["count"], g["missing"]) for g in doc["gaps"][:limit]]
        parts.append(f"frame gaps: {counts['gaps']:,} sequences\n" + table(["sequence", "range", "frames", "missing"], rows))
    if doc["template_mismatch"]:
        rows = [(m["path"], f"{m['template'][0]} -> {m['template'][1]}") for m in doc["template_mismatch"][:limit]]
        parts.append(f"records whose template no longer matches: {counts['template_mismatch']:,}\n"
                     + table(["path", "template"], rows))
    if doc["broken_sidecars"]:
        lines = [f"{p['file']}:{p['line']}:{p['column']}: {p['key'] + ': ' if p['key'] else ''}{p['message']}"
                 for b in doc["broken_sidecars"][:limit] for p in b["problems"]]
        parts.append(f"broken sidecars: {counts['broken_sidecars']:,} (the catalog keeps their last good values)\n"
                     + "\n".join(lines))
    if doc["missing_skeleton"]:
        rows = [(m["root"], m["folder"], m["entity"]) for m in doc["missing_skeleton"][:limit]]
        parts.append(f"missing skeleton folders: {counts['missing_skeleton']:,} ('bifrostctl skeleton fix')\n"
                     + table(["root", "folder", "entity"], rows))
    for name, title in (("outside_range", "frames outside their shot's range"),
                        ("short_frames", "zero-byte or truncated frames")):
        if doc[name]:
            rows = [(f["sequence"], f["frames"], f["range"]) for f in doc[name][:limit]]
            parts.append(f"{title}: {counts[name]:,} sequences\n" + table(["sequence", "frames", "shot range"], rows))
    return "\n\n".join(parts)


# -- forget -----------------------------------------------------------------------------
#: Seconds to wait for a running daemon to forget (it queues the request behind its current work).
FORGET_TIMEOUT = 75.0


@click.command()
@click.argument("targets", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Forget every missing file.")
@click.option("--dry-run", is_flag=True, help="List what would be forgotten; change nothing.")
@json_option
@click.pass_obj
def forget(obj, targets: tuple[str, ...], everything: bool, dry_run: bool, as_json: bool) -> int:
    """Stop expecting files deleted on purpose: remove their missing records.

    Each TARGET is a path under a root (a file, or a folder and everything
    below it) or a bifrost:/// reference (the entity and those below it).
    Only records of files that are gone from disk are forgotten, each with a
    'forgotten' event in the log; files on disk are never touched. When
    bifrostd holds the catalog, it does the forgetting.
    """
    from ..reconcile.forget import SCHEMA, ForgetReport, plan_forget

    if not targets and not everything:
        raise click.UsageError("name what to forget (a path or a bifrost:/// reference), or use --all")
    template_set = obj.templates()
    if dry_run:
        with open_catalog(obj) as catalog:
            plan = plan_forget(catalog, template_set, targets, everything=everything)
        document = ForgetReport(plan, dry_run=True).to_json()
    else:
        document = _forget(obj, template_set, targets, everything)
    if as_json:
        emit_json(SCHEMA, document)
    else:
        click.echo(_forget_text(document))
    return 0


def _forget(obj, template_set, targets: tuple[str, ...], everything: bool) -> dict[str, Any]:
    """Forget through our own writer connection, or through the daemon when it holds the catalog."""
    from ..errors import CatalogBusy, CatalogMissing, DaemonUnreachable
    from ..reconcile.forget import execute_forget, plan_forget
    from .daemon_cmds import daemon_client

    if not obj.config().catalog_path.exists():
        raise CatalogMissing(path=obj.config().catalog_path)
    try:
        catalog = open_catalog(obj, write=True)
    except CatalogBusy as busy:
        try:
            absolute = [_for_daemon(t) for t in targets]
            reply = daemon_client(obj, timeout=FORGET_TIMEOUT).call("forget", targets=absolute, all=everything)
        except DaemonUnreachable:
            raise busy from None
        return {**reply["forget"], "via": "daemon"}
    with catalog:
        report = execute_forget(catalog, template_set, plan_forget(catalog, template_set, targets,
                                                                   everything=everything))
    return {**report.to_json(), "via": "catalog"}


def _for_daemon(target: str) -> str:
    """A target as the daemon can read it: its current folder is not ours, so a relative path is made
    absolute here; a reference, and a path written for another OS (``P:\\...``), go as they are."""
    from ..templates import is_reference
    from ..templates.placing import syntax_of

    if is_reference(target) or os.path.isabs(target) or syntax_of(target, "linux") == "windows":
        return target
    return os.path.abspath(target)


def _forget_text(doc: dict[str, Any]) -> str:
    verb = "would forget" if doc["dry_run"] else "forgot"
    lines = [f"{verb} {f['root']}:{printable(f['path'])}" for f in doc["files"]]
    if doc["omitted"]:
        lines.append(f"... and {doc['omitted']:,} more")
    summary = f"{verb} {doc['count']:,} missing file{'s' if doc['count'] != 1 else ''}"
    if doc.get("kept"):
        summary += f"; {doc['kept']:,} came back on disk meanwhile and were kept"
    if not doc["count"] and not doc.get("kept"):
        summary = "nothing to forget: no missing files there"
    return "\n".join([*lines, summary])


# -- log --------------------------------------------------------------------------------
@click.command("log")
@click.option("--since", default=None, help="Only events newer than this: a duration (30m, 24h, 7d) or a date.")
@click.option("--kind", type=click.Choice(["appeared", "changed", "moved", "vanished", "rematched", "forgotten"]),
              default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="At most this many events.")
@json_option
@click.pass_obj
def log_command(obj, since: str | None, kind: str | None, limit: int, as_json: bool) -> int:
    """The activity log, newest first: what appeared, changed, moved or vanished, and who owns it."""
    since_ns = parse_since(since, now=time.time()) if since else 0
    with open_catalog(obj) as catalog:
        events = catalog.events(since_ns=since_ns, limit=limit, kind=kind)
    if as_json:
        emit_json("bifrost.log.1", {"since_ns": since_ns, "events": [e.to_json() for e in events]})
        return 0
    rows = [(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at_ns / 1e9)), e.kind, e.source, e.user or "-",
             f"{e.root}:{e.old_relative} -> {e.relative}" if e.old_relative else f"{e.root}:{e.relative}")
            for e in events]
    click.echo(table(["when", "event", "source", "user", "path"], rows))
    return 0


def parse_since(text: str, *, now: float) -> int:
    """Nanoseconds since the epoch for ``--since``: a duration ago, or an ISO date/time.

    Anything before the epoch (``--since 99999d``) means the whole log.
    """
    from datetime import datetime

    try:
        return max(0, int((now - parse_duration(text)) * 1e9))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a duration (30m, 24h, 7d) nor a date (2026-05-01)",
                                 param_hint="--since") from None
    try:
        return max(0, int(when.timestamp() * 1e9))
    except (ValueError, OverflowError, OSError):  # a date too far back for the platform's clock
        return 0

