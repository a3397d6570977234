"""Running a mirror plan: transfers through ``Transfer``, each result recorded as it lands.

Phases, in order: leftovers of interrupted writes removed (only after a run
that may have left some, see :mod:`.leftovers`); catalog-only marks;
server-side copies from keys already mirrored; uploads; copies of content
uploaded in this run (duplicates sent once); deletions. Results come back on
the calling thread (the catalog's one writer) and are committed in small
batches.

Crash safety rests on one rule (see :mod:`bifrostd.catalog.mirror_state`):
a key is marked "content unknown" and committed before its transfer starts,
and its hash recorded only once the object was confirmed. A run killed at any
point therefore leaves unknown exactly the keys that were in flight (plus the
few queued with them, marked in the same batch), and the next run HEADs only
those, skipping any that landed. A file that changed during its upload stays
unknown and goes again once the scanner has re-hashed it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bifrostd.catalog.mirror_state import IncludeFilter, MirrorState
from bifrostd.progress import InFlight, Progress, Reporter

from .leftovers import Sweep, may_remain, sweep
from .plan import Copy, Delete, MirrorPlan, Upload, due_before, plan_mirror_run, split_key
from .targets import Target
from bifrostd.redaction import redact_credentials
from .outcomes import Outcome
from .transfer import CopyItem, FileResult, Transfer, UploadItem

if TYPE_CHECKING:
    from bifrostd.catalog import Catalog
    from bifrostd.catalog.mirror_state import RunRecord
    from bifrostd.config import Config
    from bifrostd.templates import TemplateSet

__all__ = ["RunReport", "due_targets", "execute", "locator", "next_due", "plan_target", "run_due_targets", "run_target"]

T = TypeVar("T")
FAILURE_STREAK = 20  # this many failures in a row, none succeeding: the bucket is unreachable, stop


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


@dataclass(frozen=True, slots=True)
class RunReport:
    target: str
    plan: MirrorPlan
    run_id: int | None = None
    status: str = "planned"  # planned (dry run) | nothing | ok | incomplete | failed | stopped
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    failures: tuple[FileResult, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("planned", "nothing", "ok") and not self.plan.refused and not self.plan.held

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "run_id": self.run_id, "status": self.status, "planned": self.plan.counts(),
                "counts": self.counts, "bytes": self.bytes, "seconds": round(self.seconds, 3),
                "failures": [f.to_json() for f in self.failures], "error": self.error,
                "refused": [r.to_json() for r in self.plan.refused], "held": len(self.plan.held),
                "held_reason": self.plan.held_reason}


def include_filter(target: Target) -> IncludeFilter:
    return IncludeFilter(target.include.roots, target.include.templates, target.include.kinds)


def plan_target(state: MirrorState, target: Target, locate: Callable[[str, str], Path], *, now_ns: int,
                allow_deletions: bool = False) -> MirrorPlan:
    """Diff the catalog against the target's bookkeeping and plan; reads only the catalog."""
    diff = state.diff(target.name, include_filter(target), due_before_ns=due_before(target, now_ns))
    needed = {w.hash for w in diff.changed if not (w.recorded and w.recorded_hash == w.hash)}
    sources = state.sources(target.name, needed) if needed else {}
    objects = state.object_count(target.name) if diff.unwanted else 0
    elsewhere = state.held_elsewhere(target.name, diff.unwanted) if diff.unwanted else set()
    return plan_mirror_run(target, diff, sources, locate=locate, now_ns=now_ns, objects=objects,
                allow_deletions=allow_deletions, held_elsewhere=elsewhere)


def run_target(
    state: MirrorState,
    target: Target,
    locate: Callable[[str, str], Path],
    *,
    now_ns: int | None = None,
    source: str = "command",
    transfer: Transfer | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress = _no_progress,
    allow_deletions: bool = False,
) -> RunReport:
    """Plan and execute one target. ``transfer`` is a seam (tests pass one on an emulator)."""
    the_plan = plan_target(state, target, locate, now_ns=state.clock() if now_ns is None else now_ns,
                           allow_deletions=allow_deletions)
    return execute(state, target, the_plan, source=source, transfer=transfer, should_stop=should_stop,
                   progress=progress)


def execute(
    state: MirrorState,
    target: Target,
    the_plan: MirrorPlan,
    *,
    source: str = "command",
    transfer: Transfer | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress = _no_progress,
) -> RunReport:
    """Apply ``the_plan``. An empty plan opens no filesystem; it is only recorded as a run.

    First, after a run that may have left leftovers of interrupted writes at
    the target (killed, stopped, failed files), those idle long enough are
    removed (:mod:`bifrostd.mirror.leftovers`); that is the only request an
    empty plan then makes.
    """
    started = time.monotonic()
    previous = state.last_run(target.name)
    run_id = state.begin_run(target.name, source=source, planned=the_plan.counts())
    if transfer is None:
        _check_backend(state, target, run_id)
    swept, transfer = _sweep(state, target, previous, transfer)
    if the_plan.empty:
        state.finish_run(run_id, status="ok", counts=swept.counts(), bytes=0, error=None)
        return RunReport(target.name, the_plan, run_id, status="nothing", counts=swept.counts(),
                         seconds=time.monotonic() - started)
    if the_plan.marks:
        state.mark_gone(target.name, the_plan.marks, now_ns=state.clock())
    if the_plan.revives:
        state.revive(target.name, the_plan.revives)
    execution = _Execution(state, target, run_id, should_stop, progress)
    execution.counts.update(swept.counts())
    try:
        if the_plan.touches_bucket:
            execution.transfer = transfer or _open_transfer(target)
            execution.all_phases(the_plan)
    except BaseException as error:
        execution.recorder.flush()
        state.finish_run(run_id, status="failed", counts=execution.counts, bytes=execution.bytes,
                         error=redact_credentials(f"{type(error).__name__}: {error}"))
        raise
    execution.recorder.flush()
    status, failure = execution.verdict(the_plan.held_reason)
    state.finish_run(run_id, status=status, counts=execution.counts, bytes=execution.bytes, error=failure)
    return RunReport(target.name, the_plan, run_id, status, dict(execution.counts), execution.bytes,
                     time.monotonic() - started, tuple(execution.failures), failure)


def _check_backend(state: MirrorState, target: Target, run_id: int) -> None:
    """A missing backend package fails every run, an empty one too: the target shows the error from its first run,
    and the failed run counts for the schedule (an unrecorded one would be due again at once)."""
    from bifrostd.errors import PackageMissing

    from .backends import check_backend

    try:
        check_backend(target)
    except PackageMissing as error:
        state.finish_run(run_id, status="failed", counts={}, bytes=0,
                         error=redact_credentials(f"{type(error).__name__}: {error}"))
        raise


def _open_transfer(target: Target) -> Transfer:
    from .backends import open_filesystem

    return Transfer(open_filesystem(target), target)


def _sweep(state: MirrorState, target: Target, previous: RunRecord | None,
           transfer: Transfer | None) -> tuple[Sweep, Transfer | None]:
    """Remove leftovers of interrupted writes when the previous run may have left some; never raises."""
    if not may_remain(previous):
        return Sweep(), transfer
    try:
        transfer = transfer or _open_transfer(target)
    except Exception as error:  # noqa: BLE001 - the run reports it if it needs the bucket; the next one looks again
        return Sweep(unchecked=redact_credentials(f"{type(error).__name__}: {error}")), transfer
    return sweep(transfer.fs, target, now_ns=state.clock()), transfer


class _Recorder:
    """Results buffered on the calling thread, committed every ``every`` seconds or ``limit`` rows.

    Whatever a kill loses from the buffer stays "unknown" in the catalog, which
    costs one HEAD per key on the next run, never a re-send.
    """

    def __init__(self, state: MirrorState, target: str, run_id: int, *, every: float = 0.25, limit: int = 500) -> None:
        self.state, self.target, self.run_id = state, target, run_id
        self.every, self.limit = every, limit
        self.rows: list[tuple] = []
        self.gone: list[tuple[str, str]] = []
        self.last = time.monotonic()

    def present(self, root: str, path: str, digest: str, size: int, mtime_ns: int, etag: str | None) -> None:
        self.rows.append((root, path, digest, size, mtime_ns, etag))
        self._maybe_flush()

    def deleted(self, root: str, path: str) -> None:
        self.gone.append((root, path))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.rows) + len(self.gone) >= self.limit or time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.state.record(self.target, self.rows, self.run_id)
        if self.gone:
            self.state.forget(self.target, self.gone)
        self.rows, self.gone = [], []
        self.last = time.monotonic()


class _Execution:
    """One run's phases, tallies and stop conditions."""

    def __init__(self, state: MirrorState, target: Target, run_id: int,
                 should_stop: Callable[[], bool] | None, progress: Progress) -> None:
        self.state, self.target, self.run_id = state, target, run_id
        self.recorder = _Recorder(state, target.name, run_id)
        self.transfer: Transfer | None = None
        self.external_stop = should_stop
        self.report = Reporter(progress)
        self.counts: dict[str, int] = {}
        self.bytes = 0
        self.failures: list[FileResult] = []
        self.streak = 0
        self.stopped = False
        self.broken = False
        self.landed: dict[str, str | None] = {}  # key -> ETag of what landed in this run: sources for duplicates

    # -- phases -------------------------------------------------------------------------------
    def all_phases(self, the_plan: MirrorPlan) -> None:
        first = [c for c in the_plan.copies if not c.after_upload]
        later = [c for c in the_plan.copies if c.after_upload]
        self.copies(first, "copying")
        self.uploads(the_plan.uploads)
        self.copies([c for c in later if c.src_key in self.landed], "copying duplicates")
        for skipped in (c for c in later if c.src_key not in self.landed):
            self.tally(FileResult(skipped.key, Outcome.FAILED, error=f"not copied: {skipped.src_key} did not upload"))
        kept = self._sources_of_failed_copies(the_plan.copies)
        self.deletes(d for d in the_plan.deletes if d.key not in kept)  # a failed copy keeps its source

    def _sources_of_failed_copies(self, copies: Iterable[Copy]) -> set[str]:
        """The sources of this run's failed copies that are still in the bucket.

        Such a source is the bucket's only copy of that content, so it is not
        deleted. A source that is gone (a lifecycle rule, a hand in the
        console) is forgotten instead: the next run then uploads the file,
        rather than trying to copy from it forever. When the bucket can't say
        (an error), the source is kept and asked about again next run.
        """
        assert self.transfer is not None
        if self.stopped or self.broken:
            return set()  # no deletion runs after a stop: nothing to ask the bucket
        failed = {f.key for f in self.failures}
        kept = set()
        for key in sorted({c.src_key for c in copies if c.key in failed and not c.after_upload}):
            try:
                there = self.transfer.head(key) is not None
            except Exception:  # noqa: BLE001 - unreachable: keep it
                there = True
            if there:
                kept.add(key)
            else:
                self.recorder.deleted(*split_key(key))
        return kept

    def uploads(self, uploads: Iterable[Upload]) -> None:
        transfer = self._transfer()
        uploads = list(uploads)
        items = ((u, UploadItem(u.local_path, u.key, u.size, u.mtime_ns, u.inode, u.hash)) for u in uploads)
        flight = InFlight() if self.report.wants_bytes else None

        def upload(pair: tuple[Upload, UploadItem]) -> FileResult:
            chunks = {"progress": flight.meter(pair[1].key, pair[1].size)} if flight is not None else {}
            return transfer.upload(pair[1], check_existing=pair[0].check_existing, **chunks)

        def landed(pair: tuple[Upload, UploadItem], result: FileResult) -> None:
            if flight is not None:
                flight.finish(pair[1].key, pair[1].size)
            self._landed(pair[0].root, pair[0].path, pair[0].hash, pair[0].size, pair[0].mtime_ns, result)

        self._run("uploading", len(uploads), self._in_flight(items, lambda pair: (pair[0].root, pair[0].path,
                                                                                 pair[0].size)),
                  upload, landed, flight=flight, total_bytes=sum(u.size for u in uploads) if flight else None)

    def copies(self, copies: list[Copy], stage: str) -> None:
        transfer = self._transfer()
        items = ((c, self._copy_item(c)) for c in copies)
        self._run(stage, len(copies), self._in_flight(items, lambda pair: (pair[0].root, pair[0].path, pair[0].size)),
                  lambda pair: transfer.copy(pair[1]),
                  lambda pair, result: self._landed(pair[0].root, pair[0].path, pair[0].hash, pair[0].size,
                                                    pair[0].mtime_ns, result))

    def _copy_item(self, c: Copy) -> CopyItem:
        """The copy to make; a source uploaded by this run has the ETag its upload landed with."""
        return CopyItem(c.src_key, c.key, c.size, c.hash, c.mtime_ns, c.src_etag or self.landed.get(c.src_key))

    def deletes(self, deletes: Iterable[Delete]) -> None:
        transfer = self._transfer()
        deletes = list(deletes)

        def done(item: Delete, result: FileResult) -> None:
            if result.ok:
                self.recorder.deleted(item.root, item.path)

        self._run("deleting", len(deletes), iter(deletes), lambda d: transfer.delete(d.key), done)

    # -- plumbing -----------------------------------------------------------------------------
    def _transfer(self) -> Transfer:
        assert self.transfer is not None  # set before all_phases, when the plan touches the bucket
        return self.transfer

    def _landed(self, root: str, path: str, digest: str, size: int, mtime_ns: int, result: FileResult) -> None:
        if result.ok:
            self.recorder.present(root, path, digest, size, mtime_ns, result.etag)
            self.landed[result.key] = result.etag
        # CHANGED and FAILED keys stay unknown (marked in flight): the next run checks them

    def _in_flight(self, items: Iterator[T], row: Callable[[T], tuple[str, str, int]]) -> Iterator[T]:
        """Yield items only after their keys are committed as in flight, a small batch at a time."""
        batch: list[T] = []
        size = 2 * self.target.concurrency
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield from self._marked(batch, row)
                batch = []
        if batch:
            yield from self._marked(batch, row)

    def _marked(self, batch: list[T], row: Callable[[T], tuple[str, str, int]]) -> list[T]:
        self.recorder.flush()  # keep the order: earlier results before later in-flight marks
        self.state.mark_in_flight(self.target.name, [row(item) for item in batch], self.run_id)
        return batch

    def _run(self, stage: str, total: int, items: Iterator[T], work: Callable[[T], FileResult],
             record: Callable[[T, FileResult], None], *, flight: InFlight | None = None,
             total_bytes: int | None = None) -> None:
        """Run one phase; with ``flight`` (uploads, for a byte-aware progress) the bytes sent show too."""
        if not total or self.stopped or self.broken:
            return
        done = 0
        self.report.count(stage, 0, total, 0 if flight else None, total_bytes)

        def on_result(item: T, result: FileResult) -> None:
            nonlocal done
            record(item, result)
            self.tally(result)
            done += 1
            self.report.count(stage, done, total, flight.done if flight else None, total_bytes)

        def tick() -> None:
            assert flight is not None
            self.report.between(stage, done, total, flight.done, total_bytes)

        assert self.transfer is not None
        self.transfer.run_many(items, work, on_result=on_result, should_stop=self.should_stop,
                               tick=tick if flight is not None else None)

    def tally(self, result: FileResult) -> None:
        self.counts[result.outcome.value] = self.counts.get(result.outcome.value, 0) + 1
        self.bytes += result.bytes
        if result.outcome is Outcome.FAILED:
            self.failures.append(result)
            self.streak += 1
        elif result.ok:
            self.streak = 0

    def should_stop(self) -> bool:
        if self.streak >= FAILURE_STREAK and not self.landed and not self.counts.get(Outcome.DELETED.value):
            self.broken = True
        if not self.broken and self.external_stop is not None and self.external_stop():
            self.stopped = True
        return self.broken or self.stopped

    def verdict(self, held_reason: str | None) -> tuple[str, str | None]:
        last = self.failures[-1].error if self.failures else None
        if self.broken:
            return "failed", f"stopped after {self.streak} failures in a row; last: {last}"
        if self.stopped:
            return "stopped", last
        if held_reason:
            return "incomplete", held_reason if last is None else f"{held_reason}; last failure: {last}"
        return ("incomplete" if self.failures else "ok"), last


# -- for the daemon and the systemd timer -----------------------------------------------------


def locator(template_set: TemplateSet) -> Callable[[str, str], Path]:
    """Absolute local paths of catalogued files on this host, from the template set's roots."""
    bases: dict[str, Path] = {}

    def locate(root: str, path: str) -> Path:
        base = bases.get(root)
        if base is None:
            base = bases[root] = Path(template_set.root_path(root))
        return base / path

    return locate


#: A last run that ended with one of these was cut short (a kill, a stop): the target is due again at once.
RESUME_STATUSES = ("interrupted", "stopped")


def target_next_run(target: Target, last: RunRecord | None, now: float) -> float:
    """When ``target`` is next due given its last run (None: never ran); may be in the past: due now."""
    from .schedule import next_run

    assert target.schedule is not None  # asked of scheduled targets only

    if last is not None and last.status in RESUME_STATUSES:
        return now
    return next_run(target.schedule, last.started_ns / 1e9 if last else None, now)


def due_targets(targets: Iterable[Target], state: MirrorState, now: float) -> list[Target]:
    """Scheduled targets whose next run time has come (unscheduled ones never are)."""
    return [t for t in targets if t.schedule is not None and target_next_run(t, state.last_run(t.name), now) <= now]


def next_due(targets: Iterable[Target], state: MirrorState, now: float) -> float | None:
    """The earliest time any scheduled target is due (the daemon sleeps until then), or None."""
    times = [target_next_run(t, state.last_run(t.name), now) for t in targets if t.schedule is not None]
    return min(times) if times else None


def run_due_targets(
    config: Config,
    catalog: Catalog,
    now: float | None = None,
    *,
    template_set: TemplateSet | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Progress = _no_progress,
    source: str = "daemon",
    on_target: Callable[[Target], None] | None = None,
    also: Iterable[str] = (),
    allow_deletions: Iterable[str] = (),
) -> list[RunReport]:
    """Run every target of ``config`` that its schedule says is due, and those named in ``also`` (asked
    for now); the daemon's entry point.

    ``catalog`` must be open for writing (the daemon is its one writer). Runs
    one target after another on the calling thread; ``should_stop`` (e.g. set on
    SIGTERM) ends the current run between files, leaving it resumable;
    ``on_target`` is told each target as its run starts; targets named in
    ``allow_deletions`` may delete beyond their ``max_delete`` in this run. A
    target whose run fails is reported in its ``RunReport`` and never stops the others.
    """
    from .targets import parse_targets

    now = time.time() if now is None else now
    state = MirrorState.of(catalog)
    targets = parse_targets(config.mirror) if config.mirror else {}
    locate = locator(template_set if template_set is not None else config.load_templates())
    reports = []
    due = due_targets(targets.values(), state, now)
    asked = [targets[name] for name in also if name in targets and targets[name] not in due]
    allowed = set(allow_deletions)
    for target in due + asked:
        if should_stop is not None and should_stop():
            break
        if on_target is not None:
            on_target(target)
        reports.append(_run_guarded(state, target, locate, source, should_stop, progress,
                                    allow_deletions=target.name in allowed))
    return reports


def _run_guarded(state: MirrorState, target: Target, locate: Callable[[str, str], Path], source: str,
                 should_stop: Callable[[], bool] | None, progress: Progress, *, allow_deletions: bool) -> RunReport:
    import logging

    from bifrostd.errors import BifrostError

    try:
        return run_target(state, target, locate, source=source, should_stop=should_stop, progress=progress,
                          allow_deletions=allow_deletions)
    except BifrostError as error:  # e.g. a backend not installed: the run is recorded as failed
        logging.getLogger("bifrostd.mirror").error("mirror %s: %s", target.name, error)
        return RunReport(target.name, MirrorPlan(target.name), status="failed", error=str(error))
