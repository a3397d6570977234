"""Settling: a dirty path is handed on only once it has been quiet for the settle interval.

Artists' applications write a file in many steps (create, write, write…,
close, sometimes rename and touch); renders write frames for minutes. The
watcher marks a path dirty on each event; :class:`Settler` keeps, per path,
the time of its last event and releases it once ``settle`` seconds passed
without another. Whoever takes due paths also checks the file's own mtime
(a writer may be silent yet not finished) and gives back those too young.

Pure bookkeeping with an injected clock value (``now`` arguments): tests
drive it without sleeping. Thread-safe: the watcher's dispatch threads
touch, the daemon's loop takes.

Invariant: a path is pending at most once; ``take`` returns each due path
once, oldest deadline first, and a path touched again after being taken is
pending again.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from typing import Iterable

Key = tuple[str, str, bool]
"""(root, relative path, is a directory)."""


@dataclass(frozen=True, slots=True)
class Dirty:
    """A path the watcher saw change: re-observe it, the watcher is only a hint."""

    root: str
    relative: str
    is_dir: bool = False

    @property
    def key(self) -> Key:
        return (self.root, self.relative, self.is_dir)


class Settler:
    """Pending dirty paths with their deadlines (last event + ``settle``)."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self._deadline: dict[Key, float] = {}
        self._heap: list[tuple[float, Key]] = []
        self._last_event: dict[str, float] = {}
        self._lock = threading.Lock()
        self.touched = 0

    def touch(self, dirty: Dirty, now: float) -> bool:
        """Record an event; True when nothing was pending before (the consumer may be asleep)."""
        key = dirty.key
        deadline = now + self.settle
        with self._lock:
            was_empty = not self._deadline
            self.touched += 1
            self._last_event[dirty.root] = now
            if key not in self._deadline:
                heapq.heappush(self._heap, (deadline, key))
            self._deadline[key] = deadline
        return was_empty

    def touch_all(self, paths: Iterable[Dirty], now: float) -> None:
        for dirty in paths:
            self.touch(dirty, now)

    def defer(self, paths: Iterable[Dirty], until: float) -> None:
        """Put back paths whose batch failed, due again no sooner than ``until`` (a retry's backoff).

        Unlike :meth:`touch` this is no event: the root's quiet time is untouched.
        """
        with self._lock:
            for dirty in paths:
                key = dirty.key
                if key not in self._deadline:
                    heapq.heappush(self._heap, (until, key))
                self._deadline[key] = max(self._deadline.get(key, until), until)

    def take(self, now: float, *, limit: int = 50_000) -> list[Dirty]:
        """Pop up to ``limit`` paths whose deadline has passed, oldest first."""
        out: list[Dirty] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now and len(out) < limit:
                _, key = heapq.heappop(self._heap)
                deadline = self._deadline[key]
                if deadline > now:  # touched since it was queued: wait for its real deadline
                    heapq.heappush(self._heap, (deadline, key))
                    continue
                del self._deadline[key]
                out.append(Dirty(*key))
        return out

    def next_deadline(self) -> float | None:
        """The earliest a path may become due (possibly a little early: then ``take`` finds nothing)."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def quiet_since(self, root: str) -> float | None:
        """When ``root`` last had an event, or None if never."""
        with self._lock:
            return self._last_event.get(root)

    def drop_root(self, root: str) -> int:
        """Forget every pending path of ``root`` (a full walk of it supersedes them); returns how many."""
        with self._lock:
            keys = [k for k in self._deadline if k[0] == root]
            for key in keys:
                del self._deadline[key]
            self._heap = [(d, k) for d, k in self._heap if k[0] != root]
            heapq.heapify(self._heap)
        return len(keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._deadline)
