"""Executing a tree migration: the edge checks, the journal, the renames, and the catalog following.

The order is what makes a ``kill -9`` harmless at any point:

1. :func:`check_moves` refuses moves the plan cannot judge: a file (or a
   sibling in its folder) open for writing by some process, a target on
   another filesystem than its source.
2. The journal (every move) is written to the state folder, durably.
3. Each file is renamed with ``renameat2(RENAME_NOREPLACE)`` where the
   kernel has it (``os.rename`` after a check elsewhere): atomic within a
   filesystem and never over an existing file. Across filesystems the
   rename fails with ``EXDEV`` and the move is refused: nothing is copied.
4. The catalog follows in one transaction: each moved record keeps its id,
   hash and history and gets its new path (a ``moved`` event, source
   ``migrate``), exactly as a scan records a rename; moved sidecars are
   indexed at their new folders.
5. Folders the moves emptied are removed, unless the current set names them
   (skeleton: a folder a template matches, such as a shot's folder).
6. The journal is removed.

Resuming (:func:`finish`) runs 3 to 6 again from the journal: a move whose
file is already at its target is done, the catalog step skips records
already at their target. Rolling back (:func:`roll_back`) runs the moves
done in reverse, with the same steps.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from ..authored import SIDECAR_NAME
from ..model import FileState, Move, Plan, parent_dir
from ..observe.open_files import open_for_writing
from .plan import Classifier
from .sidecars import index_sidecars
from .tree_journal import Journal, MoveState, move_state, remove_journal, write_journal
from .tree_plan import Refusal, Refused, TreeMove, TreePlan

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates import TemplateSet

__all__ = ["TreeReport", "check_moves", "execute", "finish", "roll_back"]

#: renameat2's flag: fail with EEXIST rather than replace the target.
RENAME_NOREPLACE = 1
AT_FDCWD = -100
Rename = Callable[[str, str], None]


@dataclass(slots=True)
class TreeReport:
    """What a migration did: moves made, found done, refused on the way; records moved; folders removed."""

    moved: int = 0
    already: int = 0
    refused: list[Refused] = field(default_factory=list)
    records: int = 0
    folders_removed: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"moved": self.moved, "already_done": self.already, "records_moved": self.records,
                "folders_removed": self.folders_removed, "duration_s": round(self.seconds, 3),
                "refused": [r.to_json() for r in self.refused]}


# -- what only the running system can tell ---------------------------------------------------
def check_moves(plan: TreePlan, roots: Mapping[str, str], *, writers: frozenset[str] | None = None) -> TreePlan:
    """``plan`` less the moves a running process or the filesystems forbid (see the module docstring)."""
    if writers is None:
        writers = open_for_writing(tuple(roots.values())) if plan.moves else frozenset()
    busy = {os.path.dirname(path) for path in writers}
    moves, refused = [], list(plan.refused)
    for move in plan.moves:
        source, target = _absolute(roots, move.root, move.source), _absolute(roots, move.root, move.target)
        problem = _problem(source, target, writers, busy)
        if problem is None:
            moves.append(move)
        else:
            refused.append(Refused(move.root, move.source, move.target, *problem))
    return TreePlan(tuple(moves), tuple(refused))


def _problem(source: str, target: str, writers: frozenset[str], busy: set[str]) -> tuple[Refusal, str] | None:
    if source in writers:
        return Refusal.OPEN_FOR_WRITING, "a process has it open for writing"
    if os.path.dirname(source) in busy:
        return Refusal.OPEN_FOR_WRITING, "a process is writing a file in its folder (a save or publish in progress)"
    try:
        device = os.lstat(source).st_dev
    except FileNotFoundError:
        return Refusal.SOURCE_GONE, "no longer on disk"
    if device != os.stat(_existing_ancestor(os.path.dirname(target))).st_dev:
        return Refusal.OTHER_FILESYSTEM, "the target folder is on another filesystem; nothing is copied"
    return None


def _existing_ancestor(folder: str) -> str:
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return folder


def _absolute(roots: Mapping[str, str], root: str, relative: str) -> str:
    return f"{roots[root].rstrip('/')}/{relative}"


# -- renaming ----------------------------------------------------------------------------------
@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's renameat2 (Linux, glibc 2.28 or later), looked up in the running process: no subprocess."""
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except (OSError, TypeError):  # Windows has no process-wide symbol table
        return None


def rename_no_replace(source: str, target: str) -> None:
    """Rename ``source`` to ``target`` atomically; raise FileExistsError rather than replace a file there."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        if renameat2(AT_FDCWD, os.fsencode(source), AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # a filesystem without the flag falls through
            raise OSError(code, os.strerror(code), source, None, target)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


# -- running a journal ---------------------------------------------------------------------------
def execute(plan: TreePlan, catalog: Catalog, template_set: TemplateSet, state_dir: Path, *, command: str,
            rename: Rename = rename_no_replace) -> TreeReport:
    """Journal ``plan``'s moves, then make them and let the catalog follow."""
    roots = _roots(template_set, plan.moves)
    journal = write_journal(state_dir, command, roots, plan.moves)
    return finish(journal, catalog, template_set, rename=rename)


def finish(journal: Journal, catalog: Catalog, template_set: TemplateSet, *,
           rename: Rename = rename_no_replace) -> TreeReport:
    """Make every move of ``journal`` not yet made, then the catalog, the folders, and remove the journal."""
    return _complete(journal, journal.moves, catalog, template_set, rename)


def roll_back(journal: Journal, catalog: Catalog, template_set: TemplateSet, *,
              rename: Rename = rename_no_replace) -> TreeReport:
    """Undo the moves of ``journal`` that were made (last first), the catalog with them, and remove it."""
    back = tuple(TreeMove(m.root, m.target, m.source, m.new_template, m.template) for m in reversed(journal.moves))
    return _complete(journal, back, catalog, template_set, rename)


def _complete(journal: Journal, moves: tuple[TreeMove, ...], catalog: Catalog, template_set: TemplateSet,
              rename: Rename) -> TreeReport:
    started = time.monotonic()
    journal.check_roots(_roots(template_set, journal.moves))
    report = TreeReport()
    done = _run(moves, journal.roots, report, rename)
    _follow(catalog, template_set, done, journal.roots, report)
    report.folders_removed = _prune(template_set, journal.roots, [(m.root, m.source) for m in done])
    remove_journal(journal)
    report.seconds = time.monotonic() - started
    return report


def _roots(template_set: TemplateSet, moves: Iterable[TreeMove]) -> dict[str, str]:
    return {name: template_set.root_path(name) for name in sorted({m.root for m in moves})}


def _run(moves: Iterable[TreeMove], roots: Mapping[str, str], report: TreeReport, rename: Rename) -> list[TreeMove]:
    """Rename each move still to do; the moves whose file is now at its target (made now or before)."""
    done = []
    for move in moves:
        source, target = _absolute(roots, move.root, move.source), _absolute(roots, move.root, move.target)
        state = move_state(source, target)
        if state is MoveState.TO_DO:
            problem = _rename(source, target, rename)
            if problem is not None:
                report.refused.append(Refused(move.root, move.source, move.target, *problem))
                continue
            report.moved += 1
        elif state is MoveState.DONE:
            report.already += 1
        else:
            reason = Refusal.TARGET_EXISTS if state is MoveState.CONFLICT else Refusal.SOURCE_GONE
            report.refused.append(Refused(move.root, move.source, move.target, reason, f"found {state.value}"))
            continue
        done.append(move)
    return done


def _rename(source: str, target: str, rename: Rename) -> tuple[Refusal, str] | None:
    """Rename one file; why not, when the filesystem says no (the move is reported, the others go on)."""
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        rename(source, target)
    except FileExistsError:
        return Refusal.TARGET_EXISTS, "a file appeared there since the plan"
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return Refusal.OTHER_FILESYSTEM, "the target folder is on another filesystem; nothing is copied"
        return Refusal.RENAME_FAILED, exc.strerror or str(exc)  # permissions, a read-only mount, a full disk
    return None


# -- the catalog and the folders follow --------------------------------------------------------
def _follow(catalog: Catalog, template_set: TemplateSet, done: list[TreeMove], roots: Mapping[str, str],
            report: TreeReport) -> None:
    """Record each move as a Move of its record (same id, hash and history); index moved sidecars."""
    classify = Classifier(template_set)
    actions: list[Move] = []
    sidecars: list[FileState] = []
    for root in sorted({m.root for m in done}):
        moves = [m for m in done if m.root == root]
        records = {r.relative: r for r in catalog.dirty_view(root, [m.source for m in moves], [], []).records}
        for move in moves:
            record = records.get(move.source)
            state = _stat(roots, root, move.target)
            if state is None:
                continue
            if move.target.rpartition("/")[2] == SIDECAR_NAME:
                sidecars.append(state)
            if record is not None:
                actions.append(Move(record, state, record.hash, classify(root, move.target)))
    if actions:
        catalog.apply(Plan(tuple(actions), fingerprint=template_set.fingerprint), source="migrate")
    index_sidecars(catalog, template_set, sidecars)
    report.records = len(actions)


def _stat(roots: Mapping[str, str], root: str, relative: str) -> FileState | None:
    try:
        st = os.lstat(_absolute(roots, root, relative))
    except FileNotFoundError:
        return None
    return FileState(root, relative, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_uid)


def _prune(template_set: TemplateSet, roots: Mapping[str, str], left: Iterable[tuple[str, str]]) -> int:
    """Remove the folders the moves left empty, deepest first, sparing skeleton folders and the roots."""
    folders = {(root, parent_dir(relative)) for root, relative in left}
    removed = 0
    for root, folder in sorted(folders, key=lambda f: -f[1].count("/")):
        while folder and template_set.match_relative(root, folder) is None:
            try:
                os.rmdir(_absolute(roots, root, folder))
            except OSError:  # not empty (or gone already): its parents are not empty either
                break
            removed += 1
            folder = parent_dir(folder)
    return removed
