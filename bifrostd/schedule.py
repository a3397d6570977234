"""When the daemon does its periodic work: pure bookkeeping over an injected monotonic clock.

Four kinds of work come due: a full reconcile of every root
(``full_every``), fast pruned rescans of polled roots (``poll_every``), a
rescan of a root the watcher asked for (an overflow, the root deleted),
and a look at the template files. A requested rescan waits until its root
has been quiet for the settle interval, so a burst that overflowed the
queue is walked once, after it ends, not again and again during it; a
root that never goes quiet is rescanned after ``max_wait`` anyway.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rescan:
    root: str
    full: bool
    reason: str


class Schedule:
    def __init__(self, *, full_every: float, poll_every: float, settle: float, now: float,
                 template_every: float = 1.0, max_wait: float = 30.0) -> None:
        self.full_every = full_every
        self.poll_every = poll_every
        self.settle = settle
        self.template_every = template_every
        self.max_wait = max_wait
        self.next_full = now + full_every
        self.next_templates = now + template_every
        self._next_poll: dict[str, float] = {}
        self._requested: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    # -- requests (from any thread) ---------------------------------------------------
    def request(self, root: str, reason: str, now: float) -> None:
        with self._lock:
            self._requested.setdefault(root, (now, reason))

    def requested(self) -> dict[str, str]:
        with self._lock:
            return {root: reason for root, (_, reason) in self._requested.items()}

    # -- polled roots -------------------------------------------------------------------
    def poll(self, roots: set[str], now: float) -> None:
        """Set which roots are polled (new ones are first polled one interval from now)."""
        self._next_poll = {r: self._next_poll.get(r, now + self.poll_every) for r in roots}

    # -- what is due ------------------------------------------------------------------
    def due_rescans(self, now: float, last_event: dict[str, float | None]) -> list[Rescan]:
        """Requested rescans whose root is quiet (or waited too long), then polls that are due."""
        out: list[Rescan] = []
        with self._lock:
            for root, (since, reason) in list(self._requested.items()):
                quiet = last_event.get(root)
                if quiet is None or now - quiet >= self.settle or now - since >= self.max_wait:
                    del self._requested[root]
                    out.append(Rescan(root, True, reason))
        taken = {r.root for r in out}
        for root, when in self._next_poll.items():
            if when <= now and root not in taken:
                out.append(Rescan(root, False, "poll"))
        return out

    def polled(self, root: str, now: float) -> None:
        if root in self._next_poll:
            self._next_poll[root] = now + self.poll_every

    def full_due(self, now: float) -> bool:
        return now >= self.next_full

    def full_done(self, now: float) -> None:
        self.next_full = now + self.full_every
        for root in self._next_poll:
            self._next_poll[root] = now + self.poll_every

    def templates_due(self, now: float) -> bool:
        if now < self.next_templates:
            return False
        self.next_templates = now + self.template_every
        return True

    def next_wake(self, now: float) -> float:
        """The next time something here may come due (requested rescans are re-checked each settle)."""
        times = [self.next_full, self.next_templates, *self._next_poll.values()]
        with self._lock:
            if self._requested:
                times.append(now + min(self.settle, 0.25) if self.settle else now)
        return min(times)
