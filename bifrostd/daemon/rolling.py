"""The daemon's rolling passes (``bifrostd.daemon.passes``): a slice of the sweep and of the scrub per loop step.

The sweep stats every catalogued file of each polled root once per
``daemon.sweep_every``, at most ``daemon.sweep_rate`` files a second; the
scrub (off unless ``daemon.scrub_every`` is set) re-reads every file of
every root once per window, at most ``daemon.scrub_rate`` bytes a second.
A slice is applied like the watcher's dirty paths, on the loop's thread (the
catalog's one writer); a slice that fails (a full state disk) is tried again
after its backoff from the same place, never skipped.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import BifrostError, CatalogCorrupt
from ..model import FindingKind
from ..observe.settle import Dirty
from .passes import Passes, slice_files

if TYPE_CHECKING:
    from ..reconcile.dirty import BatchReport
    from .loop import Daemon
    from ..studio_config.daemon_settings import DaemonSettings

log = logging.getLogger("bifrostd")
SCRUB_ROWS = 2000  # records read per scrub slice (the byte allowance then cuts it)
FOUND_KEPT = 20  # scrub findings shown in daemon status


class RollingPasses:
    """The sweep and the scrub of one daemon; ``step`` does what is due, ``to_json`` shows where they are."""

    def __init__(self, settings: DaemonSettings) -> None:
        self.sweep: Passes | None = None
        self.scrub: Passes | None = None
        self.found: deque[dict[str, Any]] = deque(maxlen=FOUND_KEPT)
        self.configure(settings)

    def configure(self, settings: DaemonSettings) -> None:
        """Follow the settings (a reload); a pass whose window and rate did not change goes on where it is."""
        self.sweep = _passes(self.sweep, "sweep", "files", settings.sweep_every, settings.sweep_rate)
        self.scrub = _passes(self.scrub, "scrub", "bytes", settings.scrub_every, settings.scrub_rate)

    def step(self, daemon: Daemon, *, polled: set[str], roots: set[str]) -> None:
        now = daemon.clock()
        for passes, covered in ((self.sweep, polled), (self.scrub, roots)):
            if passes is None:
                continue
            passes.cover(covered, now)
            for root in passes.due_starts(now):
                files, size = daemon.catalog.file_totals(root)
                passes.begin(root, files if passes.unit == "files" else size, now, time.time())
            for root in list(passes.running):
                if daemon.stopping or daemon.reload_requested:
                    return
                self._slice(daemon, passes, root)

    def _slice(self, daemon: Daemon, passes: Passes, root: str) -> None:
        now = daemon.clock()
        key = (passes.kind, root)
        if daemon.retries.waiting(key, now):
            return
        allowance = passes.allowance(root, now)
        if not allowance:
            return
        limit = allowance if passes.unit == "files" else SCRUB_ROWS
        rows = daemon.catalog.files_after(root, passes.running[root].cursor, limit)
        taken = slice_files(rows, allowance, unit=passes.unit)
        exhausted = len(rows) < limit and len(taken) == len(rows)
        changed = 0
        if taken:
            try:
                report = daemon.apply_paths(root, [Dirty(root, path) for path, _ in taken],
                                            rehash=passes.kind == "scrub")
            except CatalogCorrupt:
                raise
            except Exception as exc:  # the state disk full: this slice again after the backoff, from the same place
                reason = str(exc) if isinstance(exc, BifrostError) else f"{type(exc).__name__}: {exc}"
                until = daemon.retries.failed(key, f"{passes.kind} of root {root}", reason, daemon.clock())
                daemon.error(f"root {root}: {passes.kind} of {len(taken):,} files not recorded ({reason}); "
                             f"tried again in {until - daemon.clock():.0f} s")
                return
            if daemon.retries.succeeded(key):
                log.info("root %s: the %s goes on", root, passes.kind, extra={"root": root})
            changed = self._changed(passes, report)
        units = len(taken) if passes.unit == "files" else sum(size for _, size in taken)
        finished = passes.spent(root, units=units, files=len(taken), changed=changed,
                                cursor=taken[-1][0] if taken else "", exhausted=exhausted,
                                now=daemon.clock(), wall=time.time())
        if finished is not None:
            log.info("root %s: %s pass done: %d files in %.0f s, %d changed", root, passes.kind, finished.files,
                     finished.duration_s, finished.changed, extra={"root": root, "count": finished.changed,
                                                                   "duration_s": finished.duration_s})

    def _changed(self, passes: Passes, report: BatchReport) -> int:
        """Files a slice found changed: any recorded change for the sweep; for the scrub, content that changed
        behind an unchanged size and mtime (each one logged, and kept for status)."""
        if passes.kind == "sweep":
            return report.actions
        found = [f for f in report.findings if f.kind is FindingKind.CHANGED_UNDER_SAME_MTIME]
        for finding in found:
            log.warning("root %s: scrub: %s: %s", finding.root, finding.relative, finding.message,
                        extra={"root": finding.root})
            self.found.append({"at": time.time(), "root": finding.root, "path": finding.relative})
        return len(found)

    def next_wake(self, now: float) -> float | None:
        times = [t for p in (self.sweep, self.scrub) if p is not None and (t := p.next_wake(now)) is not None]
        return min(times) if times else None

    def to_json(self, now: float) -> dict[str, Any]:
        return {"sweep": self.sweep.to_json(now) if self.sweep else None,
                "scrub": {**self.scrub.to_json(now), "found": list(self.found)} if self.scrub else None}


def _passes(current: Passes | None, kind: str, unit: str, every: float | None, rate: int) -> Passes | None:
    if every is None:
        return None
    if current is not None and current.every == every and current.rate == rate:
        return current
    return Passes(kind, unit, every, float(rate))
