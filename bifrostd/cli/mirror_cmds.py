"""``bifrostctl mirror run|status|verify|restore``: mirroring to buckets, thin over ``bifrostd.mirror``.

``run``, ``verify --repair`` and an in-place ``restore`` write the catalog (its
one writer: when bifrostd runs, it owns the schedule); ``status``, ``verify``
and ``--dry-run`` only read it.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import Any

import click

from ..catalog.mirror_state import MirrorState
from ..errors import MirrorError, MirrorTargetError
from .catalog_cmds import open_catalog
from .output import emit_json, json_option, printable, table

EXIT_FINDINGS = 1


def _targets(obj, name: str | None = None, *, required: bool = True) -> list:
    from ..studio_config import mirror_targets
    from ..templates.source import did_you_mean

    targets = mirror_targets(obj.config())
    if not targets:
        if not required:
            return []
        raise MirrorTargetError("no mirror targets in the config; add them under mirror.targets (see docs/mirror.md)")
    if name is None:
        return list(targets.values())
    if name not in targets:
        hint = did_you_mean(name, targets) or f"targets: {', '.join(targets)}"
        raise MirrorTargetError(f"unknown mirror target {name!r} ({hint})")
    return [targets[name]]


def _locate(obj):
    from ..mirror.runner import locator

    return locator(obj.templates())


class _StopOnTerm:
    """SIGTERM (systemd stopping the unit) ends the run between files; it resumes next time."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> _StopOnTerm:
        self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)

    def __call__(self) -> bool:
        return self.requested


@click.group()
def mirror() -> None:
    """Mirror catalogued files to buckets, check the buckets, and restore from them."""


# -- run --------------------------------------------------------------------------------
@mirror.command("run")
@click.argument("target", required=False)
@click.option("--dry-run", is_flag=True, help="Print the plan; touch neither the bucket nor the catalog.")
@click.option("--due", is_flag=True, help="Only targets whose schedule says they are due (for the systemd timer).")
@click.option("--allow-deletions", is_flag=True,
              help="Make this run's deletions even when they exceed the target's max_delete.")
@json_option
@click.pass_obj
def run_command(obj, target: str | None, dry_run: bool, due: bool, allow_deletions: bool, as_json: bool) -> int:
    """Send new and changed files to TARGET (default: every target); copy moved ones server-side.

    Only settled, hashed files go. A run that finds nothing to do lists no bucket.
    An interrupted run resumes where it stopped, re-sending nothing that landed.
    A run that would delete more objects than the target's max_delete deletes
    none of them (exit 1) until it is run with --allow-deletions.
    """
    from ..errors import CatalogBusy, PackageMissing
    from ..mirror.runner import due_targets, plan_target, run_target

    if due and allow_deletions:
        raise click.UsageError("--allow-deletions is for one run asked for now: name the target, without --due")
    targets = _targets(obj, target, required=not due)  # --due: with no targets, none is due (the timer exits 0)
    progress = obj.progress(as_json=as_json)
    reports: list[Any] = []  # MirrorPlans for a dry run, else RunReports
    missing: list[PackageMissing] = []  # a target lacking its backend package holds no other target back
    try:
        catalog = open_catalog(obj, write=not dry_run)
    except CatalogBusy as busy:
        return _run_through_daemon(obj, busy, [t.name for t in targets] if target else [], due=due,
                                   allow_deletions=allow_deletions, as_json=as_json)
    with catalog, _StopOnTerm() as stop:
        state = MirrorState.of(catalog)
        if due:
            targets = due_targets(targets, state, time.time())
        for one in targets:
            if dry_run:
                reports.append(plan_target(state, one, _locate(obj), now_ns=time.time_ns(),
                                           allow_deletions=allow_deletions))
                continue
            try:
                reports.append(run_target(state, one, _locate(obj), should_stop=stop, allow_deletions=allow_deletions,
                                          progress=progress.labelled(one.name)))
            except PackageMissing as error:
                missing.append(error)
            finally:
                progress.clear()
    code = _render_runs(reports, dry_run=dry_run, as_json=as_json)
    if missing:
        raise missing[0]  # after the other targets' reports; exit 16
    return code


def _run_through_daemon(obj, busy: Exception, names: list[str], *, due: bool, allow_deletions: bool,
                        as_json: bool) -> int:
    """When bifrostd holds the catalog, its mirror worker runs the targets; this only asks (or, with --due,
    leaves the schedule to it)."""
    from ..errors import DaemonUnreachable
    from .daemon_cmds import daemon_client

    client = daemon_client(obj)
    try:
        if due:
            client.call("ping")  # is it the daemon that holds the catalog?
            requested: list[str] = []
        else:
            requested = client.call("mirror-run", targets=names, allow_deletions=allow_deletions)["requested"]
    except DaemonUnreachable:
        raise busy from None  # another command holds the catalog, not the daemon
    if as_json:
        emit_json("bifrost.mirror-run-requested.1", {"requested": requested, "via": "daemon"})
    elif requested:
        click.echo(f"bifrostd runs {', '.join(requested)} now; follow it with 'bifrostctl mirror status'")
    else:
        click.echo("bifrostd holds the catalog and runs the mirror schedule itself")
    return 0


def _render_runs(reports: list[Any], *, dry_run: bool, as_json: bool) -> int:
    if dry_run:
        if as_json:
            emit_json("bifrost.mirror-plan.1", {"targets": [p.to_json() for p in reports]})
        else:
            for plan in reports:
                click.echo("\n".join(_plan_lines(plan)))
        return EXIT_FINDINGS if any(p.refused or p.held for p in reports) else 0
    if as_json:
        emit_json("bifrost.mirror-run.1", {"targets": [r.to_json() for r in reports]})
    else:
        for report in reports:
            click.echo(_run_line(report))
            for failure in report.failures[:20]:
                click.echo(f"  failed {printable(failure.key)}: {failure.error}", err=True)
            for refusal in report.plan.refused[:20]:
                click.echo(f"  refused {refusal.root}:{printable(refusal.path)}: {refusal.reason}", err=True)
            if report.plan.held_reason:
                click.echo(f"  {report.plan.held_reason}", err=True)
    if any(r.status == "failed" for r in reports):
        return MirrorError.exit_code
    return 0 if all(r.ok for r in reports) else EXIT_FINDINGS


def _plan_lines(plan) -> list[str]:
    lines = [f"{plan.target}: " + _counts_text(plan.counts())]
    lines += [f"  upload {printable(u.key)} ({u.size:,} bytes)" for u in plan.uploads]
    lines += [f"  copy {printable(c.src_key)} -> {printable(c.key)}" for c in plan.copies]
    lines += [f"  delete {printable(d.key)} ({d.reason})" for d in plan.deletes]
    lines += [f"  refused {r.root}:{printable(r.path)}: {r.reason}" for r in plan.refused]
    if plan.held_reason:
        lines.append(f"  {plan.held_reason}:")
        lines += [f"  held delete {printable(d.key)} ({d.reason})" for d in plan.held]
    return lines


def _counts_text(counts: dict[str, int]) -> str:
    shown = [f"{name.replace('_', ' ')} {value:,}" for name, value in counts.items() if value]
    return ", ".join(shown) or "nothing to do"


def _run_line(report) -> str:
    counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(report.counts.items()))
    if report.status == "nothing":
        return f"{report.target}: nothing to do" + (f"; {counts}" if counts else "")
    return (f"{report.target}: {report.status}: {counts or 'catalog only'}; {_bytes(report.bytes)} sent in "
            f"{report.seconds:.2f} s")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


# -- status -----------------------------------------------------------------------------
@mirror.command("status")
@json_option
@click.pass_obj
def status_command(obj, as_json: bool) -> int:
    """Per target: files and bytes pending, objects mirrored, last run, last error, lag, next run."""
    from ..mirror.runner import include_filter, plan_target, target_next_run

    targets = _targets(obj)
    now_ns = time.time_ns()
    rows = []
    with open_catalog(obj) as catalog:
        state = MirrorState.of(catalog)
        for target in targets:
            plan = plan_target(state, target, _locate(obj), now_ns=now_ns)
            unsettled, unsettled_bytes, _ = state.unsettled(include_filter(target))
            last = state.last_run(target.name)
            last_ok = state.last_run(target.name, status="ok")
            error = state.last_error(target.name)
            pending = len(plan.uploads) + len(plan.copies)
            nxt = target_next_run(target, last, now_ns / 1e9) if target.schedule else None
            rows.append({
                "target": target.name, "url": target.url, "delete": target.delete.value,
                "pending_files": pending, "pending_bytes": plan.upload_bytes,
                "pending_deletes": len(plan.deletes) + len(plan.held), "held_deletes": len(plan.held),
                "refused": len(plan.refused),
                "unsettled_files": unsettled, "unsettled_bytes": unsettled_bytes,
                "mirrored": state.totals(target.name),
                "lag_s": round((now_ns - plan.oldest_change_ns) / 1e9, 3) if pending and plan.oldest_change_ns else 0.0,
                "last_run": last.to_json() if last else None,
                "last_ok_ns": last_ok.started_ns if last_ok else None,
                "last_error": ({"run_id": error.id, "at_ns": error.finished_ns or error.started_ns,
                                "error": error.error} if error else None),
                "schedule": (target.schedule.cron or f"every {target.schedule.interval:g}s") if target.schedule else None,
                "next_run_ns": int(nxt * 1e9) if nxt is not None else None,
            })
    if as_json:
        emit_json("bifrost.mirror-status.1", {"targets": rows})
    else:
        click.echo(_status_table(rows))
    return 0


def _when(ns: int | None) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S") if ns else "never"


def _status_table(rows: list[dict]) -> str:
    lines = table(
        ["target", "pending", "bytes", "deletes", "mirrored", "lag", "last run", "status", "next run"],
        [(r["target"], f"{r['pending_files']:,}", _bytes(r["pending_bytes"]), f"{r['pending_deletes']:,}",
          f"{r['mirrored']['objects']:,}", f"{r['lag_s']:.0f} s",
          _when(r["last_run"]["started_ns"] if r["last_run"] else None),
          r["last_run"]["status"] if r["last_run"] else "-",
          _when(r["next_run_ns"]) if r["schedule"] else "unscheduled") for r in rows])
    notes = []
    for r in rows:
        if r["last_error"]:
            notes.append(f"{r['target']}: last error at {_when(r['last_error']['at_ns'])}: {r['last_error']['error']}")
        if r["refused"]:
            notes.append(f"{r['target']}: {r['refused']:,} file(s) can't be mirrored (see 'mirror run --dry-run')")
        if r["held_deletes"]:
            notes.append(f"{r['target']}: {r['held_deletes']:,} deletion(s) held back by max_delete "
                         f"(see 'mirror run --dry-run'; 'mirror run {r['target']} --allow-deletions' makes them)")
        if r["unsettled_files"]:
            notes.append(f"{r['target']}: {r['unsettled_files']:,} file(s) not hashed yet (still settling)")
    return "\n".join([lines, *notes])


# -- verify -----------------------------------------------------------------------------
@mirror.command("verify")
@click.argument("target")
@click.option("--deep", is_flag=True, help="Download and hash every object instead of trusting its metadata.")
@click.option("--repair", is_flag=True,
              help="Fix what was found: re-upload, remove leftovers of interrupted writes (writes).")
@click.option("--allow-deletions", is_flag=True,
              help="With --repair: delete extra objects even when they exceed the target's max_delete.")
@json_option
@click.pass_obj
def verify_command(obj, target: str, deep: bool, repair: bool, allow_deletions: bool, as_json: bool) -> int:
    """Compare TARGET's bucket with the catalog: missing, extra, wrong size or hash. Read-only unless --repair.

    Also lists leftovers of interrupted writes (temp files, S3 multipart
    uploads) with their bytes and age. Exit 1 when problems or leftovers remain.
    """
    if allow_deletions and not repair:
        raise click.UsageError("--allow-deletions only applies with --repair")
    from ..mirror.audit import audit
    from ..mirror.audit import repair as run_repair

    (one,) = _targets(obj, target)
    transfer = _transfer(one)
    with open_catalog(obj, write=repair) as catalog:
        state = MirrorState.of(catalog)
        report = audit(transfer, state, one, deep=deep)
        fixed = after = None
        if repair and not report.ok:
            fixed = run_repair(transfer, state, one, report, _locate(obj), allow_deletions=allow_deletions)
            after = audit(transfer, state, one, deep=False)
    final = after or report
    if as_json:
        emit_json("bifrost.mirror-verify.1", {**report.to_json(), "repair": fixed.to_json() if fixed else None,
                                              "after": after.to_json() if after else None, "ok": final.ok})
    else:
        click.echo(_verify_text(report, fixed, after))
    return 0 if final.ok else EXIT_FINDINGS


def _transfer(target):
    from ..mirror import Transfer, open_filesystem

    return Transfer(open_filesystem(target), target)


def _verify_text(report, fixed, after) -> str:
    lines = [f"{report.target}: checked {report.checked:,} object(s){' (deep)' if report.deep else ''}, "
             f"{len(report.problems):,} problem(s)" + _leftovers_summary(report)]
    lines += [f"  {p.kind} {printable(p.key)}{': ' + p.detail if p.detail else ''}" for p in report.problems[:200]]
    lines += [_leftover_line(leftover, report.at_ns) for leftover in report.leftovers[:200]]
    if fixed is not None:
        lines.append(f"repaired: forgot {len(fixed.forgotten):,}, deleted {len(fixed.deleted):,}, "
                     f"removed {len(fixed.leftovers_removed):,} leftover(s), left {len(fixed.left):,}; "
                     + (_run_line(fixed.run) if fixed.run else "no run"))
        lines += [f"  could not delete {f}" for f in fixed.failures]
        lines += [f"  {fixed.held_reason}"] if fixed.held_reason else []
    if after is not None:
        lines.append(f"after repair: {len(after.problems):,} problem(s)" + _leftovers_summary(after))
    return "\n".join(lines)


def _leftovers_summary(report) -> str:
    if not report.leftovers:
        return ""
    oldest = report.oldest_leftover_s
    return (f", {len(report.leftovers):,} leftover(s) of interrupted writes ({_bytes(report.leftover_bytes)}"
            + (f", oldest written {_age(oldest)} ago)" if oldest is not None else ")"))


_LEFTOVER_NAMES = {"temp-file": "temp file", "temp-object": "temp object", "multipart-upload": "incomplete upload"}


def _leftover_line(leftover, at_ns: int) -> str:
    facts = [] if leftover.parts is None else [f"{leftover.parts:,} part(s)"]
    facts += [] if leftover.size is None else [_bytes(leftover.size)]
    idle = leftover.idle_ns(at_ns)
    facts += [] if idle is None else [f"last written {_age(idle / 1e9)} ago"]
    return f"  {_LEFTOVER_NAMES.get(leftover.kind, leftover.kind)} {printable(leftover.key)}: {', '.join(facts)}"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


# -- restore ----------------------------------------------------------------------------
@mirror.command("restore")
@click.argument("target")
@click.argument("filters", nargs=-1)
@click.option("--to", "to_dir", type=click.Path(file_okay=False), default=None,
              help="Restore under DIR/<root>/<path> instead of in place.")
@click.option("--dry-run", is_flag=True,
              help="Check what would be restored, skipped or refused (as the real run would); write nothing.")
@click.option("--force", is_flag=True, help="Overwrite local files newer than the mirrored copy.")
@click.option("--include-deleted", is_flag=True, help="Also restore objects whose files were deleted since.")
@json_option
@click.pass_obj
def restore_command(obj, target: str, filters: tuple[str, ...], to_dir: str | None, dry_run: bool, force: bool,
                    include_deleted: bool, as_json: bool) -> int:
    """Download TARGET's objects (under FILTERS: REF, PATH or root:path) in place or --to DIR, hash-checked.

    A local file newer than its mirrored copy is never overwritten without --force.
    Restoring in place re-registers the restored files in the catalog.
    --dry-run makes the same checks (hashing local files that may already have
    the content) and reports the counts the real run would.
    """
    from ..mirror.backends import listing
    from ..mirror.recovery import RestoreReport, key_prefix, restore, select

    (one,) = _targets(obj, target)
    template_set = obj.templates()
    prefixes = tuple(key_prefix(f, template_set) for f in filters)
    transfer = _transfer(one)
    recorded = _recorded(obj, one)
    dest_for = _destination(obj, to_dir)
    items, skipped = select((o for o, _ in listing(transfer.fs, one)), recorded, prefixes=prefixes,
                            dest_for=dest_for, include_deleted=include_deleted, target=one)
    progress = obj.progress(as_json=as_json)
    verdicts: dict[str, Any] = {}  # a dry run lists each item with what the real run would do

    def remember(item, result) -> None:
        verdicts[item.key] = result

    with _StopOnTerm() as stop:
        try:
            counts, received, problems, seconds = restore(transfer, items, force=force,
                                                          progress=progress.labelled(one.name),
                                                          should_stop=stop, dry_run=dry_run,
                                                          on_result=remember if dry_run else None)
        finally:
            progress.clear()
    report = RestoreReport(one.name, tuple(items), tuple(skipped), counts, received, seconds, tuple(problems),
                           dry_run=dry_run, verdicts=verdicts)
    rescanned = None
    if not dry_run and to_dir is None and counts.get("downloaded"):
        rescanned = _register(obj, items)
    if as_json:
        emit_json("bifrost.mirror-restore.1", {**report.to_json(), "rescanned": rescanned})
    else:
        click.echo(_restore_text(report, rescanned))
    return 0 if report.ok else EXIT_FINDINGS


def _recorded(obj, target) -> dict:
    """The catalog's rows for the target, or nothing when there is no catalog (a lost host)."""
    if not obj.config().catalog_path.exists():
        return {}
    with open_catalog(obj) as catalog:
        return {row.key: row for row in MirrorState.of(catalog).objects(target.name)}


def _destination(obj, to_dir: str | None):
    """Where each key goes: below its root's folder, or below DIR; no symlink below either is followed."""
    from pathlib import Path

    from ..mirror.plan import split_key
    from ..observe.safe_paths import RootedPath

    if to_dir is not None:
        base = Path(to_dir).resolve()
        return lambda key: RootedPath(base, key)
    template_set = obj.templates()
    bases: dict[str, Path] = {}

    def in_place(key: str):
        root, path = split_key(key)
        if root not in template_set.roots or not path:
            return None
        if root not in bases:
            bases[root] = Path(template_set.root_path(root))
        return RootedPath(bases[root], path)

    return in_place


def _register(obj, items) -> dict[str, Any]:
    """Scan the roots restored into, so the catalog holds the restored files (the walk is the truth)."""
    from ..errors import CatalogBusy
    from ..reconcile.scan import ScanOptions
    from ..reconcile.scan import scan as run_scan
    from ..mirror.plan import split_key

    roots = tuple(sorted({split_key(i.key)[0] for i in items}))
    try:
        with open_catalog(obj, write=True) as catalog:
            report = run_scan(catalog, obj.templates(), ScanOptions(roots=roots, hash_files=obj.config().scan.hash,
                                                                    workers=obj.config().scan.workers))
    except CatalogBusy:
        return {"roots": list(roots), "scanned": False,
                "note": "bifrostd holds the catalog; its watcher and walks register the restored files"}
    return {"roots": list(roots), "scanned": True, "counts": report.counts}


def _restore_text(report, rescanned) -> str:
    if report.dry_run:
        fetch = report.would_download
        lines = [f"{printable(i.key)} -> {printable(str(i.dest))} ({i.size:,} bytes)" for i in fetch]
        present = report.counts.get("skipped", 0)
        lines.append(f"{report.target}: would restore {len(fetch):,} object(s), {_bytes(report.bytes)}"
                     + (f"; {present:,} already present (skipped)" if present else ""))
        lines += [f"  {p.outcome.value} {printable(p.key)}: {p.error}" for p in report.problems[:200]]
    else:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items())) or "nothing"
        lines = [f"{report.target}: {counts}; {_bytes(report.bytes)} in {report.seconds:.2f} s"]
        lines += [f"  {p.outcome.value} {printable(p.key)}: {p.error}" for p in report.problems[:200]]
    lines += [f"  skipped {printable(k)}: {why}" for k, why in report.skipped[:50]]
    if rescanned:
        lines.append(f"catalog: rescanned {', '.join(rescanned['roots'])}" if rescanned["scanned"]
                     else f"catalog: {rescanned['note']}")
    return "\n".join(lines)
