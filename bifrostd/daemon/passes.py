"""Rolling passes over each root's catalogued files: the sweep of polled roots and the scrub.

A polled root (NFS, SMB) has no watcher to report a file written in place,
and writing into a file does not change its folder's mtime, so the fast
pruned polls never look at it. The **sweep** stats every catalogued file of
each polled root once per ``sweep_every`` window; the **scrub** re-reads and
re-hashes every file of every root once per ``scrub_every`` window, for the
edits no stat can see (same size and mtime: tools writing through mmap, a
clock set back, bit rot).

Both go through a root's files in path order, a slice at a time, paced to
spread one pass over its window and never faster than their rate (files
per second for the sweep, bytes per second for the scrub). A root with more
than ``rate × window`` worth of files takes longer than the window: the
rate is the promise made to the file server, the window a wish. A slice is
judged like the watcher's dirty paths (``dirty.apply_dirty``): a changed
file is recorded, a vanished one goes missing.

:class:`Passes` is pure bookkeeping over an injected monotonic clock; the
daemon asks it what is due, reads the slice from the catalog, applies it and
reports back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SLICE_EVERY = 1.0  # seconds between slices of a pass at its pace (each slice holds the loop briefly)
FILL = 0.9  # a pass is paced to end within this part of its window (slices start a second in)
BURST = 2.0  # seconds of pace a slice may take on at once after the loop was busy elsewhere


@dataclass(slots=True)
class Pass:
    """One pass over one root's files: where it is and what it found."""

    root: str
    started: float  # monotonic seconds
    started_wall: float
    total: int  # units (files, or bytes) the catalog held when the pass began
    pace: float  # units per second
    cursor: str = ""  # the last path looked at; the next slice starts after it
    done: int = 0  # units looked at
    files: int = 0
    changed: int = 0
    credit: float = 0.0
    credited: float = 0.0  # when credit was last added

    def to_json(self, now: float) -> dict[str, Any]:
        left = max(0, self.total - self.done)
        return {"started": self.started_wall, "done": self.done, "total": self.total, "files": self.files,
                "changed": self.changed, "pace": round(self.pace, 1),
                "eta_s": round(left / self.pace, 1) if self.pace else None}


@dataclass(slots=True)
class Finished:
    """The last completed pass of a root."""

    at: float  # wall clock
    files: int
    changed: int
    duration_s: float


@dataclass(slots=True)
class Passes:
    """The passes of one kind (sweep or scrub) over a set of roots.

    ``every`` is the window one pass should fill; ``rate`` the most units
    per second. A pass starts when its root is due (at once for a new root,
    then ``every`` after the last pass began), at a pace of its total over
    the window, capped by ``rate``.
    """

    kind: str
    unit: str  # "files" or "bytes"
    every: float
    rate: float
    running: dict[str, Pass] = field(default_factory=dict)
    next_start: dict[str, float] = field(default_factory=dict)
    last: dict[str, Finished] = field(default_factory=dict)

    def cover(self, roots: set[str], now: float) -> None:
        """Follow these roots: new ones are due at once, gone ones are forgotten."""
        for root in set(self.next_start) | set(self.running):
            if root not in roots:
                self.next_start.pop(root, None)
                self.running.pop(root, None)
        for root in roots:
            if root not in self.running:
                self.next_start.setdefault(root, now)

    def due_starts(self, now: float) -> list[str]:
        """Roots whose next pass should begin now (the daemon then counts their files and calls ``begin``)."""
        return sorted(root for root, at in self.next_start.items() if at <= now and root not in self.running)

    def begin(self, root: str, total: int, now: float, wall: float) -> Pass:
        pace = min(self.rate, max(total / (self.every * FILL), 1.0 if self.unit == "files" else 1024.0))
        self.next_start.pop(root, None)
        started = Pass(root, now, wall, total, pace, credited=now)
        self.running[root] = started
        return started

    def allowance(self, root: str, now: float) -> int:
        """Units the next slice of ``root`` may take now (0: not yet); credit accrues at the pace, up to a burst."""
        current = self.running.get(root)
        if current is None:
            return 0
        current.credit = min(current.credit + (now - current.credited) * current.pace, current.pace * BURST)
        current.credited = now
        return int(current.credit) if current.credit >= _least(current) else 0

    def spent(self, root: str, *, units: int, files: int, changed: int, cursor: str, exhausted: bool,
              now: float, wall: float) -> Finished | None:
        """Record a slice; returns the pass when this slice ended it (the next one is then scheduled)."""
        current = self.running[root]
        current.credit -= units  # a big file may take the credit below zero: the next slices wait it out
        current.done += units
        current.files += files
        current.changed += changed
        current.cursor = cursor
        if not exhausted:
            return None
        del self.running[root]
        finished = Finished(wall, current.files, current.changed, round(now - current.started, 3))
        self.last[root] = finished
        self.next_start[root] = max(now, current.started + self.every)
        return finished

    def next_wake(self, now: float) -> float | None:
        """When a slice or a pass is next due (None: nothing to do)."""
        times = list(self.next_start.values())
        for current in self.running.values():
            times.append(current.credited + max(0.0, _least(current) - current.credit) / current.pace)
        return min(times) if times else None

    def to_json(self, now: float) -> dict[str, Any]:
        roots = sorted(set(self.running) | set(self.next_start) | set(self.last))
        return {"every_s": self.every, "rate": self.rate, "unit": self.unit,
                "roots": {root: self._root_json(root, now) for root in roots}}

    def _root_json(self, root: str, now: float) -> dict[str, Any]:
        last = self.last.get(root)
        return {"running": self.running[root].to_json(now) if root in self.running else None,
                "next_in_s": round(max(0.0, self.next_start[root] - now), 1) if root in self.next_start else None,
                "last": None if last is None else {"at": last.at, "files": last.files, "changed": last.changed,
                                                   "duration_s": last.duration_s}}


def _least(current: Pass) -> float:
    """The credit a slice waits for: a second's worth at the pace (one unit at least)."""
    return max(1.0, current.pace * SLICE_EVERY)


def slice_files(rows: list[tuple[str, int]], allowance: int, *, unit: str) -> list[tuple[str, int]]:
    """The first rows (path, size) that fit ``allowance`` units: files, or bytes (always at least one file)."""
    if unit == "files":
        return rows[:allowance]
    taken: list[tuple[str, int]] = []
    spent = 0
    for path, size in rows:
        if taken and spent + size > allowance:
            break
        taken.append((path, size))
        spent += size
    return taken
