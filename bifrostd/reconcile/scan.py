"""Indexing: walk the roots, hash lazily, plan, apply, record the scan.

The steps, each owned elsewhere and glued here:

1. walk each root with the catalog's remembered folder mtimes (``bifrostd.observe.walk``);
2. load the catalog's view of what that walk may change (``bifrostd.catalog``);
3. hash only what needs it: new files, changed files, files never hashed
   (``bifrostd.observe.hashing``); a file that changed while being read gets no hash
   and its folder is remembered as unsettled, so the next scan retries it;
4. plan (``bifrostd.reconcile.plan``, pure) and, unless dry-running, apply the plan
   in batched transactions and record the scan.

Interrupting this at any point is safe: the catalog only ever holds whole
batches, and folder mtimes are remembered last.

Progress (``bifrostd.progress``): a plain callback hears each stage start and
each hashing chunk and applied batch, as it always did; a byte-aware one also
hears, ten times a second, the files and bytes found while walking and the
bytes hashed within a chunk. Those are counted only for a byte-aware callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, ParamSpec, Sequence, TypeVar

from ..model import DirState, FileState, Finding, FindingKind, Plan, RehashScope
from ..observe.walk import UNSETTLED
from ..progress import INTERVAL, Progress, Reporter
from .plan import Classifier, needs_hash, plan_catalog_changes, split_unchanged, summary
from ..model import CatalogView, Observations, RootDir, WalkScope

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates import TemplateSet

P = ParamSpec("P")
R = TypeVar("R")

#: Files hashed between progress updates.
HASH_CHUNK = 5000

Hasher = Callable[..., list[Any]]


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """``full`` lists every folder (stats every file); without it folders whose mtime is unchanged are skipped,
    which misses files edited in place: only for roots a watcher covers. ``rehash`` makes a full scan read the
    files it covers again even when their size and mtime are unchanged (a scrub)."""

    roots: tuple[str, ...] = ()
    full: bool = False
    rehash: RehashScope | None = None
    dry_run: bool = False
    hash_files: bool = True
    workers: int = 2
    batch_size: int = 20000


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan saw and did; ``plan`` is the full plan (printed by ``--dry-run``)."""

    plan: Plan
    roots: tuple[str, ...]
    files_seen: int
    dirs_listed: int
    dirs_skipped: int
    hashed: int
    hash_retries: int
    duration_s: float
    scan_id: int | None = None
    applied: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {**summary(self.plan), "files_seen": self.files_seen, "dirs_listed": self.dirs_listed,
                "dirs_skipped": self.dirs_skipped, "hashed": self.hashed, "hash_retries": self.hash_retries,
                "findings": len(self.plan.findings)}

    def to_json(self) -> dict[str, Any]:
        return {"roots": list(self.roots), "applied": self.applied, "scan_id": self.scan_id,
                "duration_s": round(self.duration_s, 3), "counts": self.counts,
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "findings": [f.to_json() for f in self.plan.findings]}


# -- walking ----------------------------------------------------------------------------
def observe_roots(template_set: TemplateSet, roots: Sequence[str], prior: dict[tuple[str, str], int], *, full: bool,
            walker: Callable[..., Any] | None = None, report: Reporter | None = None) -> Observations:
    """Walk every root and merge the results into one set of observations.

    With a byte-aware ``report``, the walker is also given ``on_listed`` (see
    ``scan.walk``), so the files and bytes found so far show while it walks.
    """
    if walker is None:
        from ..observe.walk import walk

        walker = walk
    files: list[FileState] = []
    dirs: list[DirState] = []
    findings: list[Finding] = []
    listed: set[RootDir] = set()
    skipped: set[RootDir] = set()
    failed: set[RootDir] = set()
    tally = _WalkTally(report) if report is not None and report.wants_bytes else None
    for root in roots:
        mine = {rel: mtime for (name, rel), mtime in prior.items() if name == root}
        extra: dict[str, Any] = {"on_listed": tally.listed} if tally is not None else {}
        result = walker(root, template_set.root_path(root), mine, full=full, **extra)
        if tally is not None:
            tally.root_done(result.files)
        files.extend(result.files)
        dirs.extend(DirState(root, rel, mtime) for rel, mtime in result.directories.items())
        findings.extend(result.findings)
        listed.update((root, d) for d in result.listed)
        skipped.update((root, d) for d in result.skipped)
        failed.update((root, d) for d in result.unreadable)
    scope = WalkScope(frozenset(roots), frozenset(listed), frozenset(skipped), frozenset(failed))
    return Observations(tuple(files), scope, tuple(dirs), tuple(findings))


class _WalkTally:
    """Files and bytes found by the walks so far, told at most ten times a second.

    A file's size is added once, when a report is due (not per entry: the
    walk's hot loop stays as it is), from the walker's growing list of files.
    """

    def __init__(self, report: Reporter, clock: Callable[[], float] = time.monotonic) -> None:
        self.report, self.clock = report, clock
        self.files = self.bytes = self.counted = 0
        self.last = clock()

    def listed(self, found: Sequence[FileState]) -> None:
        now = self.clock()
        if now - self.last < INTERVAL:
            return
        self.last = now
        self.bytes += sum(f.size for f in found[self.counted:])
        self.counted = len(found)
        self.report.between("walking", self.files + len(found), None, self.bytes)

    def root_done(self, found: Sequence[FileState]) -> None:
        self.bytes += sum(f.size for f in found[self.counted:])
        self.files += len(found)
        self.counted = 0


# -- hashing ----------------------------------------------------------------------------
def default_hasher(items: list[tuple[str, FileState]], *, workers: int,
                   progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """``hashing.hash_many``: stable xxh3-128 digests, big files on threads."""
    from ..observe.hashing import hash_many

    return hash_many(items, workers=workers, progress=progress)


def hash_needed(observations: Observations, view: CatalogView, template_set: TemplateSet, *, hasher: Hasher,
                workers: int, progress: Progress | Reporter,
                rehash: RehashScope | None = None) -> tuple[Observations, int, int]:
    """Observations with hashes for the files that need one; (observations, hashed, to retry).

    A byte-aware ``progress`` also gets the bytes hashed, within each chunk too
    (the hasher is then called with ``progress``, see ``hashing.hash_many``).
    Files ``rehash`` covers are hashed whatever their size and mtime say.
    """
    report = progress if isinstance(progress, Reporter) else Reporter(progress)
    records = {(r.root, r.relative): r for r in view.records}
    todo = [i for i, s in enumerate(observations.files)
            if needs_hash(records.get((s.root, s.relative)), s) or (rehash and rehash.covers(s.root, s.relative))]
    if not todo:
        return observations, 0, 0
    bases = {root: template_set.root_path(root) for root in observations.scope.roots}
    files = list(observations.files)
    items = [(f"{bases[files[i].root]}/{files[i].relative}", files[i]) for i in todo]
    outcomes = _hash_chunks(items, hasher, workers, report)
    failed: list[tuple[FileState, Any]] = []
    gone: set[int] = set()
    for index, outcome in zip(todo, outcomes):
        if outcome.digest is None:
            failed.append((files[index], outcome))
            if outcome.gone:
                gone.add(index)  # not a file any more: its folder was listed, so its record goes missing
        else:
            files[index] = replace(files[index], hash=outcome.digest)
    kept = tuple(f for i, f in enumerate(files) if i not in gone)
    return _with_retries(observations, kept, failed), len(todo) - len(failed), len(failed)


def _hash_chunks(items: list[tuple[str, FileState]], hasher: Hasher, workers: int, report: Reporter) -> list[Any]:
    outcomes: list[Any] = []
    total_bytes = sum(f.size for _, f in items) if report.wants_bytes else None
    done_bytes = 0
    report.between("hashing", 0, len(items), 0, total_bytes)  # the start, for a rate and time left
    for start in range(0, len(items), HASH_CHUNK):
        chunk = items[start:start + HASH_CHUNK]
        if total_bytes is None:
            outcomes.extend(hasher(chunk, workers=workers))
        else:
            def within(files: int, count: int, before: int = len(outcomes), base: int = done_bytes) -> None:
                report.between("hashing", before + files, len(items), base + count, total_bytes)

            outcomes.extend(hasher(chunk, workers=workers, progress=within))
            done_bytes += sum(f.size for _, f in chunk)
        report.count("hashing", len(outcomes), len(items), done_bytes if total_bytes is not None else None,
                     total_bytes)
    return outcomes


def _with_retries(observations: Observations, files: tuple[FileState, ...],
                  failed: list[tuple[FileState, Any]]) -> Observations:
    """Findings for files that could not be hashed, and their folders remembered as unsettled.

    An unsettled folder is listed again by the next walk, so the file is
    hashed again then, instead of waiting for a full walk.
    """
    findings = tuple(f for s, o in failed if (f := o.finding(s.root, s.relative)) is not None)
    retry = {(s.root, s.relative.rpartition("/")[0]) for s, _ in failed}
    dirs = tuple(DirState(d.root, d.relative, UNSETTLED) if (d.root, d.relative) in retry else d
                 for d in observations.dirs)
    return replace(observations, files=files, dirs=dirs, findings=observations.findings + findings)


# -- the whole scan ---------------------------------------------------------------------
def scan(catalog: Catalog | None, template_set: TemplateSet, options: ScanOptions, *, hasher: Hasher | None = None,
         walker: Callable[..., Any] | None = None, progress: Progress = _no_progress) -> ScanReport:
    """Walk, hash, plan and (unless ``options.dry_run``) apply; ``catalog`` may be None for a dry run."""
    report = Reporter(progress)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    roots = options.roots or tuple(template_set.roots)
    scan_id = None
    if not options.dry_run:
        assert catalog is not None  # only a dry run goes without a catalog
        scan_id = catalog.begin_scan(root=",".join(roots) if options.roots else None, full=options.full,
                                     fingerprint=template_set.fingerprint)
    clock = _Stopwatch(timings)
    prior = catalog.dirs(roots) if catalog is not None else {}
    report.count("walking", 0, None, 0 if report.wants_bytes else None)
    observations = clock("walk", observe_roots, template_set, roots, prior, full=options.full, walker=walker,
                         report=report)
    found = len(observations.files)
    found_bytes = sum(f.size for f in observations.files) if report.wants_bytes else None
    report.count("walking", found, found, found_bytes)
    files_seen = len(observations.files)
    if catalog is not None and (options.full or not prior):
        observations, view = clock("view", _whole_view, catalog, observations, template_set.fingerprint,
                                   hashed=options.hash_files, keep=options.rehash)
    else:
        view = clock("view", _view, catalog, observations.scope, whole=False)
    hashed = retries = 0
    if options.hash_files or options.rehash:
        observations, hashed, retries = clock("hash", hash_needed, observations, view, template_set,
                                              hasher=hasher or default_hasher, workers=options.workers,
                                              progress=report, rehash=options.rehash)
    if options.rehash:
        observations = changed_under_same_mtime(observations, view)
    the_plan = clock("plan", plan_catalog_changes, view, observations, template_set, classifier=Classifier(template_set))
    result = ScanReport(the_plan, roots, files_seen, len(observations.scope.listed),
                        len(observations.scope.skipped), hashed, retries, 0.0, scan_id, False, timings)
    if options.dry_run:
        return replace(result, duration_s=time.perf_counter() - started)
    assert catalog is not None and scan_id is not None  # not a dry run: begun above
    total = len(the_plan.actions)
    report.between("applying", 0, total, None)
    clock("apply", catalog.apply, the_plan, scan_id=scan_id, batch_size=options.batch_size,
          progress=lambda done: report.count("applying", done, total))
    result = replace(result, duration_s=time.perf_counter() - started, applied=True)
    catalog.finish_scan(scan_id, counts=result.counts, findings=the_plan.findings, duration_s=result.duration_s)
    return result


def _whole_view(catalog: Catalog, observations: Observations, fingerprint: str, *,
                hashed: bool, keep: RehashScope | None = None) -> tuple[Observations, CatalogView]:
    """For a walk that listed everything: compare compact signatures, then load only the records to plan.

    Files ``keep`` covers are planned whatever their signature says (a scrub reads them again); their
    records are among the ids ``split_unchanged`` returns, as it never saw those files.
    """
    roots = sorted(observations.scope.roots)
    signatures = catalog.signatures(roots, fingerprint, hashed=hashed)
    if keep is None:
        observations, ids = split_unchanged(observations, signatures)
        return observations, catalog.records(roots, ids)
    kept: list[FileState] = []
    others: list[FileState] = []
    for observed in observations.files:
        (kept if keep.covers(observed.root, observed.relative) else others).append(observed)
    rest, ids = split_unchanged(replace(observations, files=tuple(others)), signatures)
    return replace(rest, files=rest.files + tuple(kept)), catalog.records(roots, ids)


def changed_under_same_mtime(observations: Observations, view: CatalogView) -> Observations:
    """A finding for each re-read file whose content differs from its record's behind the same size and mtime.

    No mtime-based scan can see such an edit (a tool writing through mmap, a
    clock set back, bit rot): the plan updates the record's hash, and this
    says why, so a scrub's report names them.
    """
    records = {(r.root, r.relative): r for r in view.records}
    found = []
    for observed in observations.files:
        record = records.get((observed.root, observed.relative))
        if (record is not None and observed.hash and record.hash and observed.hash != record.hash
                and record.signature == observed.signature):
            found.append(Finding(FindingKind.CHANGED_UNDER_SAME_MTIME, observed.root, observed.relative,
                                 "content changed although size and mtime did not; its new hash is recorded "
                                 "(and mirrored on the next run)"))
    return replace(observations, findings=observations.findings + tuple(found)) if found else observations


def _view(catalog: Catalog | None, scope: WalkScope, *, whole: bool) -> CatalogView:
    return catalog.view(scope, whole=whole) if catalog is not None else CatalogView()


class _Stopwatch:
    """Times each step into a dict, for the scan summary and the benchmark."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


__all__ = ["ScanOptions", "ScanReport", "hash_needed", "observe_roots", "scan"]
