"""Indexing: walk the roots, feed the reconcile pipeline, record the scan.

This module owns what is particular to a walk of whole roots; the steps
after the walk are the pipeline's (``bifrostd.reconcile.pipeline``), shared
with the watcher's dirty batches:

1. walk each root with the catalog's remembered folder mtimes (``bifrostd.observe.walk``);
   a walk that lists everything is given the catalog's compact signatures
   first, and counts the files it finds exactly as catalogued instead of
   observing them;
2. load the catalog's view of what that walk may change (``bifrostd.catalog``):
   after a walk that listed everything, only the records no file matched
   (``RootWalk.view``);
3. hash only what needs it (the pipeline); a file that changed while being
   read gets no hash and its folder is remembered as unsettled, so the next
   scan retries it (``RootWalk.with_hashes``);
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
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..model import DirState, FileState, Finding, KnownFile, Plan, RehashScope
from ..observe.walk import UNSETTLED
from ..progress import INTERVAL, Progress, Reporter
from .pipeline import Hashed, Hasher, Pipeline, Stopwatch, default_hasher
from .plan import summary
from .sidecars import index_sidecars
from ..model import CatalogView, Observations, RootDir, WalkScope

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..observe.walk import WalkResult
    from ..templates import TemplateSet

Known = Mapping[str, Mapping[str, KnownFile]]  # {root: {relative: signature}}, as ``Catalog.signatures`` reads it


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
@dataclass(frozen=True, slots=True)
class Seen:
    """What the walks of the roots saw.

    Files found exactly as their settled records (``unchanged`` of them,
    ``unchanged_bytes`` in all) are counted, not among ``observations``;
    ``unmatched`` are the ids of the known records no file matched, the
    ones still to plan. Without known signatures both are empty.
    """

    observations: Observations
    unchanged: int = 0
    unchanged_bytes: int = 0
    unmatched: tuple[int, ...] = ()


def observe_roots(template_set: TemplateSet, roots: Sequence[str], prior: dict[tuple[str, str], int], *, full: bool,
                  walker: Callable[..., Any] | None = None, report: Reporter | None = None,
                  known: Known | None = None) -> Seen:
    """Walk every root and merge the results into one set of observations.

    With a byte-aware ``report``, the walker is also given ``on_listed`` (see
    ``scan.walk``), so the files and bytes found so far show while it walks.
    With ``known`` signatures, each walker is given its root's.
    """
    if walker is None:
        from ..observe.walk import walk

        walker = walk
    results: list[WalkResult] = []
    tally = _WalkTally(report) if report is not None and report.wants_bytes else None
    for root in roots:
        mine = {rel: mtime for (name, rel), mtime in prior.items() if name == root}
        extra: dict[str, Any] = {"on_listed": tally.listed} if tally is not None else {}
        if known is not None:
            extra["known"] = known.get(root, {})
        results.append(walker(root, template_set.root_path(root), mine, full=full, **extra))
        if tally is not None:
            tally.root_done(results[-1])
    return _merged(roots, results)


def _merged(roots: Sequence[str], results: Sequence[WalkResult]) -> Seen:
    files: list[FileState] = []
    dirs: list[DirState] = []
    findings: list[Finding] = []
    listed: set[RootDir] = set()
    skipped: set[RootDir] = set()
    failed: set[RootDir] = set()
    for result in results:
        root = result.root
        files.extend(result.files)
        dirs.extend(DirState(root, rel, mtime) for rel, mtime in result.directories.items())
        findings.extend(result.findings)
        listed.update((root, d) for d in result.listed)
        skipped.update((root, d) for d in result.skipped)
        failed.update((root, d) for d in result.unreadable)
    scope = WalkScope(frozenset(roots), frozenset(listed), frozenset(skipped), frozenset(failed))
    unmatched = tuple(sig[1] for result in results for sig in result.unmatched.values())
    return Seen(Observations(tuple(files), scope, tuple(dirs), tuple(findings)),
                sum(r.unchanged for r in results), sum(r.unchanged_bytes for r in results), unmatched)


class _WalkTally:
    """Files and bytes found by the walks so far, told at most ten times a second.

    A file's size is added once, when a report is due (not per entry: the
    walk's hot loop stays as it is), from the walker's growing list of files;
    files found unchanged come as the walker's running count and bytes.
    """

    def __init__(self, report: Reporter, clock: Callable[[], float] = time.monotonic) -> None:
        self.report, self.clock = report, clock
        self.files = self.bytes = self.counted = 0
        self.last = clock()

    def listed(self, found: Sequence[FileState], unchanged: int = 0, unchanged_bytes: int = 0) -> None:
        now = self.clock()
        if now - self.last < INTERVAL:
            return
        self.last = now
        self.bytes += sum(f.size for f in found[self.counted:])
        self.counted = len(found)
        self.report.between("walking", self.files + len(found) + unchanged, None,
                            self.bytes + unchanged_bytes)

    def root_done(self, result: WalkResult) -> None:
        self.bytes += sum(f.size for f in result.files[self.counted:]) + result.unchanged_bytes
        self.files += len(result.files) + result.unchanged
        self.counted = 0


# -- the whole scan ---------------------------------------------------------------------
def scan(catalog: Catalog | None, template_set: TemplateSet, options: ScanOptions, *, hasher: Hasher | None = None,
         walker: Callable[..., Any] | None = None, progress: Progress = _no_progress) -> ScanReport:
    """Walk, hash, plan and (unless ``options.dry_run``) apply; ``catalog`` may be None for a dry run."""
    report = Reporter(progress)
    started = time.perf_counter()
    roots = options.roots or tuple(template_set.roots)
    scan_id = None if options.dry_run else _begin(catalog, template_set, options, roots)
    pipeline = Pipeline(template_set, hasher=hasher or default_hasher, workers=options.workers,
                        hash_files=options.hash_files, rehash=options.rehash)
    walked = _walk_roots(catalog, template_set, options, roots, walker=walker, report=report,
                         clock=pipeline.stopwatch)
    files_seen = len(walked.observations.files) + walked.unchanged
    done = pipeline.run(walked, catalog, report=report)
    scope = done.walked.observations.scope
    result = ScanReport(done.plan, roots, files_seen, len(scope.listed), len(scope.skipped), done.hashed,
                        done.hash_retries, 0.0, scan_id, False, pipeline.stopwatch.timings)
    if options.dry_run:
        return replace(result, duration_s=time.perf_counter() - started)
    assert catalog is not None and scan_id is not None  # not a dry run: begun above
    pipeline.apply(catalog, done.plan, scan_id=scan_id, batch_size=options.batch_size, report=report)
    index_sidecars(catalog, template_set, done.walked.observations.files)
    result = replace(result, duration_s=time.perf_counter() - started, applied=True)
    catalog.finish_scan(scan_id, counts=result.counts, findings=done.plan.findings, duration_s=result.duration_s)
    return result


def _begin(catalog: Catalog | None, template_set: TemplateSet, options: ScanOptions, roots: tuple[str, ...]) -> int:
    assert catalog is not None  # only a dry run goes without a catalog
    return catalog.begin_scan(root=",".join(roots) if options.roots else None, full=options.full,
                              fingerprint=template_set.fingerprint)


def _walk_roots(catalog: Catalog | None, template_set: TemplateSet, options: ScanOptions, roots: tuple[str, ...], *,
                walker: Callable[..., Any] | None, report: Reporter, clock: Stopwatch) -> RootWalk:
    """Walk the roots (pruned by the folder mtimes the catalog remembers, unless ``options.full``).

    A walk that lists everything (``full``, or the first) compares each file
    with the catalog's signatures as it goes (see ``observe.walk``).
    """
    prior = catalog.dirs(roots) if catalog is not None else {}
    whole = catalog is not None and (options.full or not prior)
    report.count("walking", 0, None, 0 if report.wants_bytes else None)
    known = None
    if whole:
        assert catalog is not None  # only a walk with a catalog is whole
        known = clock("signatures", _known, catalog, template_set.fingerprint, roots, options)
    seen = clock("walk", observe_roots, template_set, roots, prior, full=options.full, walker=walker,
                 report=report, known=known)
    files = seen.observations.files
    found = len(files) + seen.unchanged
    found_bytes = sum(f.size for f in files) + seen.unchanged_bytes if report.wants_bytes else None
    report.count("walking", found, found, found_bytes)
    return RootWalk(seen.observations, whole=whole, fingerprint=template_set.fingerprint,
                    hash_files=options.hash_files, keep=options.rehash, prior=prior, unchanged=seen.unchanged,
                    unmatched=seen.unmatched)


def _known(catalog: Catalog, fingerprint: str, roots: Sequence[str], options: ScanOptions) -> Known:
    """The catalog's signatures of ``roots``; those of files a scrub covers are unsettled (size -1), so no file
    matches them: the files are read again and their records still loaded to plan them."""
    known = catalog.signatures(roots, fingerprint, hashed=options.hash_files)
    keep = options.rehash
    if keep is None:
        return known
    return {root: {rel: (sig[:2] + (-1,) + sig[3:] if keep.covers(root, rel) else sig) for rel, sig in sigs.items()}
            for root, sigs in known.items()}


@dataclass(frozen=True, slots=True)
class RootWalk:
    """A walk of whole roots, as the pipeline takes it (a ``pipeline.Walked``).

    ``whole``: every folder was listed (a full walk, or a first one) and
    there is a catalog, so the walk told unchanged files apart by their
    compact signatures: ``unchanged`` of them are not among the
    observations, and only the records with ids in ``unmatched`` are loaded
    to plan the rest (see ``reconcile.plan.split_unchanged`` for why that
    plans the same as loading everything). A file that could not be read
    stably gets no hash and its folder is remembered as unsettled, so the
    next walk, pruned or not, lists it and reads the file again.
    """

    observations: Observations
    whole: bool
    fingerprint: str
    hash_files: bool
    keep: RehashScope | None = None
    prior: Mapping[tuple[str, str], int] | None = None  # the remembered folders the walk started from
    unchanged: int = 0
    unmatched: tuple[int, ...] = ()

    def view(self, catalog: Catalog | None) -> tuple[RootWalk, CatalogView]:
        if not self.whole:
            return self, _view(catalog, self.observations.scope, whole=False, dirs=self.prior)
        assert catalog is not None  # only a walk with a catalog is whole
        return self, catalog.records(sorted(self.observations.scope.roots), self.unmatched, dirs=self.prior)

    def with_hashes(self, hashed: Hashed, view: CatalogView) -> tuple[RootWalk, CatalogView]:
        observations = _retry_next_walk(hashed) if hashed.failed else hashed.observations
        return replace(self, observations=observations), view


def _retry_next_walk(hashed: Hashed) -> Observations:
    """Findings for files that could not be hashed, and their folders remembered as unsettled.

    A file that is no longer a file is dropped (its folder was listed, so its
    record goes missing). An unsettled folder is listed again by the next
    walk, so the file is hashed again then, instead of waiting for a full walk.
    """
    observations, failed = hashed.observations, hashed.failed
    gone = {(s.root, s.relative) for s, o in failed if o.gone}
    files = tuple(f for f in observations.files if (f.root, f.relative) not in gone) if gone else observations.files
    findings = tuple(f for s, o in failed if (f := o.finding(s.root, s.relative)) is not None)
    retry = {(s.root, s.relative.rpartition("/")[0]) for s, _ in failed}
    dirs = tuple(DirState(d.root, d.relative, UNSETTLED) if (d.root, d.relative) in retry else d
                 for d in observations.dirs)
    return replace(observations, files=files, dirs=dirs, findings=observations.findings + findings)


def _view(catalog: Catalog | None, scope: WalkScope, *, whole: bool,
          dirs: Mapping[tuple[str, str], int] | None = None) -> CatalogView:
    return catalog.view(scope, whole=whole, dirs=dirs) if catalog is not None else CatalogView()


__all__ = ["RootWalk", "ScanOptions", "ScanReport", "Seen", "observe_roots", "scan"]
