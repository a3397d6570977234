"""The reconcile pipeline: a walker's observations in, the catalog brought up to date.

A walk of the roots (``reconcile.scan``) and a look at the watcher's dirty
paths (``reconcile.dirty``) differ only in how they observe, which records
their observations may judge, and what a torn read means: a walk lists its
folder again next time, a dirty batch hands the file back to the settler.
Those three belong to the walker's value (a ``Walked``); everything after is
here, once, so a dirty batch and a scan of the same change decide alike:

1. load the catalog's view (the walker's choice);
2. hash what needs it: new files, changed files (size, mtime, inode, device),
   files never hashed, and whatever the ``rehash`` scope covers, through the
   one hasher given (``bifrostd.observe.hashing.hash_many`` by default); the
   walker says what a failed read means;
3. plan with the pure planner (``reconcile.plan``), with a finding for
   content that changed behind an unchanged size and mtime when rehashing;
4. apply the plan to the ``Catalog`` in batched transactions
   (``Pipeline.apply``, a separate step so a dry run stops at the plan).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Generic, ParamSpec, Protocol, Self, Sequence, TypeVar

from ..model import CatalogView, FileState, Finding, FindingKind, Observations, Plan, RehashScope
from ..progress import Reporter
from .plan import Classifier, needs_hash, plan_catalog_changes

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..observe.hashing import HashOutcome
    from ..templates import TemplateSet

P = ParamSpec("P")
R = TypeVar("R")

#: Files hashed between progress updates.
HASH_CHUNK = 5000

Hasher = Callable[..., "list[HashOutcome]"]


def default_hasher(items: list[tuple[str, FileState]], *, workers: int,
                   progress: Callable[[int, int], None] | None = None) -> list[HashOutcome]:
    """``hashing.hash_many``: stable xxh3-128 digests, big files on threads."""
    from ..observe.hashing import hash_many

    return hash_many(items, workers=workers, progress=progress)


@dataclass(frozen=True, slots=True)
class Hashed:
    """Observations with the digests read; ``failed`` files got none (they are still among the observations)."""

    observations: Observations
    failed: tuple[tuple[FileState, HashOutcome], ...] = ()
    hashed: int = 0


class Walked(Protocol):
    """What a walker hands the pipeline: its observations, and the choices that are the walker's to make."""

    @property
    def observations(self) -> Observations: ...

    def view(self, catalog: Catalog | None) -> tuple[Self, CatalogView]:
        """The catalog's records these observations may judge (and the observations left to plan)."""
        ...

    def with_hashes(self, hashed: Hashed, view: CatalogView) -> tuple[Self, CatalogView]:
        """These observations once hashed: what becomes of files whose read failed is the walker's to say."""
        ...


W = TypeVar("W", bound=Walked)


@dataclass(frozen=True, slots=True)
class Reconciled(Generic[W]):
    """What the pipeline made of one walker's observations: the walker's value as planned, and the plan."""

    walked: W
    plan: Plan
    hashed: int = 0
    hash_retries: int = 0


class Stopwatch:
    """Times each step into a dict, for the scan summary and the benchmark."""

    def __init__(self, timings: dict[str, float] | None = None) -> None:
        self.timings = {} if timings is None else timings

    def __call__(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One way of reconciling: the templates, the hasher, and what to read.

    ``hash_files`` off reads nothing but what ``rehash`` covers; ``rehash``
    (a scrub) reads the files it covers whatever their size and mtime say.
    """

    template_set: TemplateSet
    hasher: Hasher = default_hasher
    workers: int = 2
    hash_files: bool = True
    rehash: RehashScope | None = None
    classifier: Classifier | None = None
    stopwatch: Stopwatch = field(default_factory=Stopwatch)

    def run(self, walked: W, catalog: Catalog | None, *, report: Reporter | None = None) -> Reconciled[W]:
        """View, hash, plan: everything but applying. A ``report`` hears the hashing, in chunks."""
        clock = self.stopwatch
        walked, view = clock("view", walked.view, catalog)
        hashed = Hashed(walked.observations)
        if self.hash_files or self.rehash is not None:
            hashed = clock("hash", self.hash, walked.observations, view, report)
        walked, view = walked.with_hashes(hashed, view)
        the_plan = clock("plan", self.plan, view, walked.observations)
        return Reconciled(walked, the_plan, hashed.hashed, len(hashed.failed))

    def hash(self, observations: Observations, view: CatalogView, report: Reporter | None = None) -> Hashed:
        """The observations with a digest for each file that needs one and could be read stably."""
        files = list(observations.files)
        todo = self._to_read(files, view)
        if not todo:
            return Hashed(observations)
        bases = {root: _prefix(self.template_set.root_path(root)) for root in observations.scope.roots}
        items = [(bases[files[i].root] + files[i].relative, files[i]) for i in todo]
        outcomes = self._read(items, report)
        failed: list[tuple[FileState, HashOutcome]] = []
        for index, outcome in zip(todo, outcomes):
            if outcome.digest is None:
                failed.append((files[index], outcome))
            else:
                files[index] = replace(files[index], hash=outcome.digest)
        return Hashed(replace(observations, files=tuple(files)), tuple(failed), len(todo) - len(failed))

    def _to_read(self, files: Sequence[FileState], view: CatalogView) -> list[int]:
        records = {(r.root, r.relative): r for r in view.records}
        rehash = self.rehash
        return [i for i, s in enumerate(files)
                if needs_hash(records.get((s.root, s.relative)), s) or (rehash is not None
                                                                        and rehash.covers(s.root, s.relative))]

    def _read(self, items: list[tuple[str, FileState]], report: Reporter | None) -> list[HashOutcome]:
        if report is None:
            return self.hasher(items, workers=self.workers)
        return _hash_chunks(items, self.hasher, self.workers, report)

    def plan(self, view: CatalogView, observations: Observations) -> Plan:
        """The pure planner's plan; when rehashing, content changed behind the same mtime is a finding too."""
        if self.rehash is not None:
            observations = changed_under_same_mtime(observations, view)
        return plan_catalog_changes(view, observations, self.template_set, classifier=self.classifier)

    def apply(self, catalog: Catalog, the_plan: Plan, *, source: str = "scan", scan_id: int | None = None,
              batch_size: int = 20000, report: Reporter | None = None) -> None:
        """Write the plan in batched transactions; a ``report`` hears each batch applied."""
        progress: Callable[[int], None] | None = None
        if report is not None:
            total = len(the_plan.actions)
            report.between("applying", 0, total, None)
            progress = lambda done: report.count("applying", done, total)  # noqa: E731
        self.stopwatch("apply", catalog.apply, the_plan, source=source, scan_id=scan_id, batch_size=batch_size,
                       progress=progress)


def _prefix(root_path: str) -> str:
    """``root_path`` ready to have a relative path appended (the filesystem root already ends in a slash)."""
    return root_path if root_path.endswith("/") else root_path + "/"


def _hash_chunks(items: list[tuple[str, FileState]], hasher: Hasher, workers: int,
                 report: Reporter) -> list[HashOutcome]:
    """Hash in chunks of ``HASH_CHUNK`` files, telling ``report`` after each (and within, if byte-aware)."""
    outcomes: list[HashOutcome] = []
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


__all__ = ["HASH_CHUNK", "Hashed", "Hasher", "Pipeline", "Reconciled", "Stopwatch", "Walked",
           "changed_under_same_mtime", "default_hasher"]
