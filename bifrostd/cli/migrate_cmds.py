"""``templates migrate`` and ``templates conform``: move the tree to follow the templates.

Both plan first (``reconcile.tree_plan``, then the running system's checks in
``reconcile.tree_run.check_moves``), print every move, and stop there with
``--dry-run``. A real run holds the state folder (so no ``bifrostd`` runs,
nor starts, while files move) and the catalog's writer lock, journals the
moves and makes them (``reconcile.tree_run``). See docs/migrating-the-tree.md.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from ..errors import DaemonRunning, MigrationPending
from .output import emit_json, json_option, printable

MAP_HELP = ("Pair template OLD with the current set's template NEW (repeatable); unpaired templates go to the "
            "current template of the same name.")


def _renames(pairs: tuple[str, ...]) -> dict[str, str]:
    renames = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise click.UsageError(f"--map takes OLD=NEW, got {pair!r}")
        renames[old] = new
    return renames


@click.command("migrate")
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW", help=MAP_HELP)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--resume", is_flag=True, help="Finish an interrupted migration from its journal.")
@click.option("--rollback", is_flag=True, help="Undo an interrupted migration from its journal.")
@json_option
@click.pass_obj
def migrate(obj, pairs: tuple[str, ...], dry_run: bool, resume: bool, rollback: bool, as_json: bool) -> int:
    """Move catalogued files from the path their recorded template gave them to the one the current
    template of the same name gives the same fields; the catalog, sidecars and mirror follow.

    Exit code 1 when any move is refused (each is listed with its reason).
    """
    from ..reconcile.tree_plan import plan_migration

    if resume and rollback:
        raise click.UsageError("--resume finishes the journal's moves, --rollback undoes them: choose one")
    if resume or rollback:
        return _run_journal(obj, rollback=rollback, dry_run=dry_run, as_json=as_json)
    renames = _renames(pairs)
    return _plan_and_run(obj, "migrate", lambda catalog, occupied: plan_migration(
        catalog.present_records(), obj.templates(), renames=renames, occupied=occupied), dry_run, as_json)


@click.command("conform")
@click.argument("old_set", type=click.Path(exists=True, path_type=Path))
@click.option("--map", "pairs", multiple=True, metavar="OLD=NEW", help=MAP_HELP)
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@json_option
@click.pass_obj
def conform(obj, old_set: Path, pairs: tuple[str, ...], dry_run: bool, as_json: bool) -> int:
    """Move files laid out by another template set (OLD_SET: a file or folder of template YAML)
    into the current set's layout; the catalog, sidecars and mirror follow.

    Each file the old set matches goes to the current template of the same
    name (or its --map pair), formatted with the fields the old set read.
    Exit code 1 when any move is refused. An interrupted run is finished or
    undone with 'templates migrate --resume' or '--rollback'.
    """
    from ..reconcile.tree_plan import plan_conform
    from ..templates import load_template_set

    old, current, renames = load_template_set(old_set), obj.templates(), _renames(pairs)
    roots = [name for name in current.roots if name in old.roots and _has_path(current, name)]
    return _plan_and_run(obj, "conform", lambda _catalog, occupied: plan_conform(
        _walk(current, roots), old, current, renames=renames, occupied=occupied), dry_run, as_json)


def _has_path(template_set, root: str) -> bool:
    return template_set.os_name in template_set.roots[root].paths


def _walk(template_set, roots: list[str]):
    """(root, relative POSIX path) of every regular file under ``roots``, as a full scan's walk sees them
    (symlinks are not followed)."""
    from ..observe.walk import walk

    for root in roots:
        for state in walk(root, template_set.root_path(root), full=True).files:
            yield root, state.relative


def _plan_and_run(obj, command: str, make_plan: Callable[[Any, Callable[[str, str], bool]], Any],
                  dry_run: bool, as_json: bool) -> int:
    from ..reconcile.tree_journal import read_journal
    from ..reconcile.tree_run import TreeReport, check_moves, execute
    from .catalog_cmds import open_catalog

    config, template_set = obj.config(), obj.templates()
    roots = {name: template_set.root_path(name) for name in template_set.roots if _has_path(template_set, name)}
    occupied = _occupied(roots)
    with ExitStack() as held:
        if not dry_run:  # no bifrostd may run or start while files move; the catalog is ours to write
            held.enter_context(_state_lock(config.state_dir))
        _refuse_pending(read_journal(config.state_dir))
        catalog = held.enter_context(open_catalog(obj, write=not dry_run))
        plan = check_moves(make_plan(catalog, occupied), roots)
        _render_plan(plan, dry_run=dry_run, as_json=as_json, command=command)
        if dry_run or (not plan.moves and not as_json):
            return 1 if plan.refused else 0
        report = execute(plan, catalog, template_set, config.state_dir, command=command) if plan.moves else None
    _render_report(obj, report or TreeReport(), as_json=as_json, planned=plan.refused)
    return 1 if plan.refused or (report and report.refused) else 0


@contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """Hold the daemon's lock on the state folder while files move: no bifrostd runs, nor starts, meanwhile."""
    from ..catalog.state_lock import StateLock

    try:
        lock = StateLock(state_dir).acquire()
    except DaemonRunning as exc:
        raise DaemonRunning(f"bifrostd (pid {exc.fields['pid']}) holds the state folder {state_dir}: stop it "
                            "('bifrostctl daemon stop'), move the tree, then start it again") from None
    try:
        yield
    finally:
        lock.release()


def _occupied(roots: dict[str, str]) -> Callable[[str, str], bool]:
    return lambda root, relative: os.path.lexists(f"{roots[root].rstrip('/')}/{relative}")


def _refuse_pending(journal) -> None:
    if journal is not None:
        raise MigrationPending(journal=str(journal.path), moves=len(journal.moves), command=journal.command)


def _run_journal(obj, *, rollback: bool, dry_run: bool, as_json: bool) -> int:
    from ..reconcile.tree_journal import read_journal
    from ..reconcile.tree_run import finish, roll_back
    from .catalog_cmds import open_catalog

    config = obj.config()
    journal = read_journal(config.state_dir)
    if journal is None:
        obj.info("no interrupted migration: nothing to resume or roll back")
        return 0
    if dry_run:
        _render_journal(journal, rollback=rollback, as_json=as_json)
        return 0
    with _state_lock(config.state_dir), open_catalog(obj, write=True) as catalog:
        run = roll_back if rollback else finish
        report = run(journal, catalog, obj.templates())
    _render_report(obj, report, as_json=as_json)
    return 1 if report.refused else 0


# -- rendering ----------------------------------------------------------------------------------
def _render_plan(plan, *, dry_run: bool, as_json: bool, command: str) -> None:
    if as_json:
        if dry_run:
            emit_json("bifrost.tree-plan.1", {"command": command, **plan.to_json()})
        return
    for move in plan.moves:
        click.echo(f"> {move.root}:{printable(move.source)} -> {printable(move.target)}")
    for refused in plan.refused:
        target = f" -> {printable(refused.target)}" if refused.target else ""
        click.echo(f"! {refused.root}:{printable(refused.source)}{target}: {refused.reason.value} ({refused.detail})")
    if not plan.moves and not plan.refused:
        click.echo("nothing to move: the tree already follows the templates")
    elif dry_run:
        click.echo(f"{len(plan.moves):,} move(s) planned, {len(plan.refused):,} refused; nothing was changed",
                   err=True)


def _render_journal(journal, *, rollback: bool, as_json: bool) -> None:
    from ..reconcile.tree_journal import move_state

    rows = []
    for move in journal.moves:
        base = journal.roots[move.root].rstrip("/")
        rows.append((move, move_state(f"{base}/{move.source}", f"{base}/{move.target}").value))
    if as_json:
        emit_json("bifrost.tree-journal.1", {"command": journal.command, "rollback": rollback, "moves": [
            {**move.to_json(), "state": state} for move, state in rows]})
        return
    for move, state in rows:
        click.echo(f"{state:<8} {move.root}:{printable(move.source)} -> {printable(move.target)}")


def _render_report(obj, report, *, as_json: bool, planned: tuple = ()) -> None:
    """The run's outcome; in JSON its refusals follow those of the plan (the text printed those already)."""
    if as_json:
        document = report.to_json()
        document["refused"] = [r.to_json() for r in planned] + document["refused"]
        emit_json("bifrost.tree-migration.1", document)
        return
    for refused in report.refused:
        click.echo(f"! {refused.root}:{printable(refused.source)}: {refused.reason.value} ({refused.detail})")
    click.echo(f"moved {report.moved:,} file(s) ({report.already:,} found moved already), "
               f"{report.records:,} catalog record(s) followed, {report.folders_removed:,} empty folder(s) "
               f"removed, {len(report.refused):,} refused, in {report.seconds:.2f} s")
