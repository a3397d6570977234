"""Bringing the catalog up to date for the watcher's dirty paths, without walking the root.

The watcher says *where* something happened; this module looks. Dirty
files are re-stat-ed (``walk.stat_paths``), dirty folders are walked in
full (a folder created, moved in, or deleted), and the batch goes through
the same reconcile pipeline as a scan (``reconcile.pipeline``), which
judges exactly those paths: the catalog view handed to it is cut down to
the records of the dirty files, the records under the dirty folders, and
missing records (so a move from elsewhere pairs up by inode or content).
Nothing else can be vanished by a dirty batch, whatever the watcher said.

Settling. A file whose mtime is younger than the settle interval (and
not in the future: clocks differ), or that changed while being hashed, is
still being written: it is left out
of the batch (and its record out of the view, so it is not taken for
gone) and handed back to be looked at again later.

Folder mtimes are remembered only for folders walked in full here; a
folder that merely held a dirty file keeps its old mtime, so the next
pruned walk lists it again and agrees.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..errors import ScanError
from ..model import DirState, FileState, Finding, Plan, RehashScope, Rematch
from .pipeline import Hashed, Pipeline, default_hasher
from .plan import Classifier, summary
from .sidecars import index_sidecars
from ..model import CatalogView, Observations, WalkScope, parent_dir
from ..observe.settle import Dirty

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..model import FileRecord
    from ..templates import TemplateSet


@dataclass(frozen=True, slots=True)
class DirtyBatch:
    """What re-observing one root's dirty paths found."""

    root: str
    observations: Observations
    files: frozenset[str]
    folders: frozenset[str]
    young: tuple[Dirty, ...] = ()

    def view(self, catalog: Catalog | None) -> tuple[DirtyBatch, CatalogView]:
        """The catalog's records this batch may judge, plus missing records that could have moved here;
        young files' records are left out, so they are not taken for gone."""
        assert catalog is not None  # a dirty batch is always applied
        inodes = [(s.device, s.inode) for s in self.observations.files]
        return self, self._without_young(catalog.dirty_view(self.root, self.files, self.folders, inodes))

    def with_hashes(self, hashed: Hashed, view: CatalogView) -> tuple[DirtyBatch, CatalogView]:
        """Files that changed (or vanished) while being read become young; other failed reads are findings."""
        if not hashed.failed:
            return replace(self, observations=hashed.observations), view
        unstable = {s.relative for s, o in hashed.failed if o.changed}
        observed = hashed.observations
        findings = tuple(f for s, o in hashed.failed
                         if not o.changed and (f := o.finding(self.root, s.relative)) is not None)
        observations = replace(observed, files=tuple(s for s in observed.files if s.relative not in unstable),
                               findings=observed.findings + findings, dirs=_settled_dirs(observed.dirs, unstable))
        young = self.young + tuple(Dirty(self.root, r) for r in sorted(unstable))
        batch = replace(self, observations=observations, files=self.files - unstable, young=young)
        return batch, batch._without_young(view)

    def _without_young(self, view: CatalogView) -> CatalogView:
        """The view minus the records of young files: they are judged once they settle."""
        young = {d.relative for d in self.young}
        if not young:
            return view
        return replace(view, records=tuple(r for r in view.records
                                           if not (r.root == self.root and r.relative in young)))


@dataclass(frozen=True, slots=True)
class BatchReport:
    root: str
    paths: int
    actions: int
    young: tuple[Dirty, ...]
    findings: tuple[Finding, ...]
    counts: dict[str, int]


def collapse(dirty: Iterable[Dirty]) -> tuple[list[str], list[str]]:
    """(files, folders) with everything under a dirty folder dropped: the folder's walk covers it."""
    folders = sorted({d.relative for d in dirty if d.is_dir})
    kept: list[str] = []
    for folder in folders:
        if not kept or not _under(folder, kept[-1]):
            kept.append(folder)
    files = sorted({d.relative for d in dirty if not d.is_dir and not _under_any(d.relative, kept)})
    return files, kept


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _under_any(path: str, folders: Sequence[str]) -> bool:
    return any(_under(path, f) for f in folders)


def observe_dirty(root: str, root_path: str, dirty: Iterable[Dirty], *, settle_ns: int,
            now_ns: Callable[[], int] = time.time_ns) -> DirtyBatch:
    """Stat the dirty files and walk the dirty folders of one root."""
    from ..observe.walk import stat_paths

    files, folders = collapse(dirty)
    found = stat_paths(root, root_path, files)
    folders = sorted(set(folders) | {f for f in found.directories if f in files and f not in folders})
    states = list(found.states)
    findings = list(found.findings)
    listed = {parent_dir(f) for f in files}
    failed: set[str] = set()
    dirs: list[DirState] = []
    for folder in folders:
        _walk_folder(root, root_path, folder, states, findings, listed, failed, dirs)
    # The event clock already waited ``settle``; the mtime check catches silent writers, with half
    # the interval of slack so the gap between a write and its event never sends a file round again.
    # An mtime in the future (a client clock ahead of the file server's, touch -d) says nothing about
    # whether the file is still being written: the event clock and the hash check judge it alone.
    now = now_ns()
    cutoff = now - settle_ns // 2
    young = tuple(Dirty(root, s.relative) for s in states if cutoff < s.mtime_ns <= now)
    young_paths = {d.relative for d in young}
    kept = tuple(s for s in states if s.relative not in young_paths)
    scope = WalkScope(frozenset({root}), frozenset((root, d) for d in listed),
                      failed=frozenset((root, d) for d in failed))
    observations = Observations(kept, scope, _settled_dirs(dirs, young_paths), tuple(findings))
    return DirtyBatch(root, observations, frozenset(files) - young_paths, frozenset(folders), young)


def _walk_folder(root: str, root_path: str, folder: str, states: list[FileState], findings: list[Finding],
                 listed: set[str], failed: set[str], dirs: list[DirState]) -> None:
    """Walk a dirty folder in full; a folder that is gone is 'listed' empty, so its records go."""
    from ..observe.walk import walk

    absolute = os.path.join(root_path, folder)
    if not os.path.isdir(absolute) or os.path.islink(absolute):
        listed.add(folder)
        return
    try:
        result = walk(root, root_path, None, full=True, under=folder)
    except ScanError:  # vanished between the check and the walk
        listed.add(folder)
        return
    states.extend(result.files)
    findings.extend(result.findings)
    listed.update(result.listed)
    failed.update(result.unreadable)
    dirs.extend(DirState(root, rel, mtime) for rel, mtime in result.directories.items() if rel in result.listed)


def _settled_dirs(dirs: Iterable[DirState], unsettled: set[str]) -> tuple[DirState, ...]:
    """Folders to remember, minus those holding a file still being written.

    Remembering such a folder would let the next pruned walk skip it, and
    the file would be missed if the daemon stopped before it settled.
    """
    parents = {parent_dir(p) for p in unsettled}
    return tuple(d for d in dirs if d.relative not in parents)


def apply_dirty(catalog: Catalog, template_set: TemplateSet, root: str, dirty: Sequence[Dirty], *, settle_ns: int,
                classifier: Classifier | None = None, hash_files: bool = True, workers: int = 2,
                hasher: Callable[..., list[Any]] | None = None, now_ns: Callable[[], int] = time.time_ns,
                rehash: bool = False, source: str = "watch") -> BatchReport:
    """Observe, hash, plan and apply one root's dirty paths in one batch of transactions.

    ``rehash`` (a scrub) reads every file again whatever its size and mtime
    say, and reports content that changed behind an unchanged signature.
    ``source`` names who saw the change in the log (the watcher, or a command such as ``create``).
    """
    batch = observe_dirty(root, template_set.root_path(root), dirty, settle_ns=settle_ns, now_ns=now_ns)
    pipeline = Pipeline(template_set, hasher=hasher or default_hasher, workers=workers, hash_files=hash_files,
                        rehash=RehashScope(folders=frozenset({(root, "")})) if rehash else None,
                        classifier=classifier)
    done = pipeline.run(batch, catalog)
    the_plan = done.plan
    if not the_plan.empty or the_plan.dirs or the_plan.dirs_gone:
        pipeline.apply(catalog, the_plan, source=source)
    index_sidecars(catalog, template_set, done.walked.observations.files)
    return BatchReport(root, len(dirty), len(the_plan.actions), done.walked.young, the_plan.findings,
                       summary(the_plan))


def template_migration(records: Iterable[FileRecord], template_set: TemplateSet, classifier: Classifier | None = None) -> Plan:
    """Rematch every given record with ``template_set`` (changed or not: the fingerprint moves on)."""
    classify = classifier or Classifier(template_set)
    fingerprint = template_set.fingerprint
    actions = tuple(Rematch(r, classify(r.root, r.relative), fingerprint) for r in records)
    return Plan(actions, fingerprint=fingerprint)
