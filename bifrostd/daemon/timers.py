"""When the daemon does its periodic work: pure bookkeeping over an injected monotonic clock.

Four kinds of work come due: a full reconcile of every root
(``full_every``), fast pruned rescans of polled roots (``poll_every``), a
rescan of a root the watcher asked for (an overflow, the root deleted),
and a look at the template files. A requested rescan waits until its root
has been quiet for the settle interval, so a burst that overflowed the
queue is walked once, after it ends, not again and again during it; a
root that never goes quiet is rescanned after ``max_wait`` anyway. A
rescan cut short (a reload arrived mid-walk) is put back as it was asked
for, so it is never lost and keeps its place; one that failed (the state
disk full) is retried after its backoff (``bifrostd.daemon.retry``), never dropped.

:class:`StepSizer` says how much of a big job (settled paths, records to
re-derive) one step of the loop takes on, so that no step holds the loop
for more than about a budget of seconds: a reload or a stop waits for one
step, never for a whole burst.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rescan:
    root: str
    full: bool
    reason: str
    since: float | None = None  # when a requested rescan was asked for; None for a poll


class DaemonTimers:
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
        self._not_before: dict[str, float] = {}  # requested rescans that failed, and when they may run again
        self._lock = threading.Lock()

    # -- requests (from any thread) ---------------------------------------------------
    def request(self, root: str, reason: str, now: float) -> None:
        with self._lock:
            self._requested.setdefault(root, (now, reason))

    def put_back(self, rescans: list[Rescan]) -> None:
        """Rescans handed out by ``due_rescans`` but not done: requested ones wait again from when they were
        first asked for (so they are due at once when the root is still quiet); polls were never taken off."""
        with self._lock:
            for rescan in rescans:
                if rescan.since is not None:
                    self._requested.setdefault(rescan.root, (rescan.since, rescan.reason))

    def retry(self, rescan: Rescan, at: float) -> None:
        """A rescan that failed runs again no sooner than ``at``: a full one is requested again (from when it
        was first asked for), a poll waits until then."""
        with self._lock:
            if rescan.full:
                self._requested.setdefault(rescan.root, (rescan.since if rescan.since is not None else at,
                                                         rescan.reason))
                self._not_before[rescan.root] = at
            elif rescan.root in self._next_poll:
                self._next_poll[rescan.root] = at

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
                if self._not_before.get(root, now) > now:  # failed: waiting out its backoff
                    continue
                quiet = last_event.get(root)
                if quiet is None or now - quiet >= self.settle or now - since >= self.max_wait:
                    del self._requested[root]
                    self._not_before.pop(root, None)
                    out.append(Rescan(root, True, reason, since))
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
            ready = [r for r in self._requested if self._not_before.get(r, now) <= now]
            if ready:
                times.append(now + min(self.settle, 0.25) if self.settle else now)
            times += [self._not_before[r] for r in self._requested if r not in ready and r in self._not_before]
        return min(times)


class StepSizer:
    """How many items (paths, records) the next step takes on, learnt from how long the last step took.

    The next size is what the last step's pace would fit in ``budget``
    seconds, at least ``least`` (a step's fixed cost would otherwise shrink
    it for ever) and at most ``most``, and at most twice the last size: a
    burst starts small and grows step by step, so a slow start (cold caches,
    big files to hash) never holds the loop for long.
    """

    def __init__(self, *, budget: float, least: int, most: int) -> None:
        self.budget = budget
        self.least = least
        self.most = most
        self._size = least

    @property
    def size(self) -> int:
        return max(1, min(self._size, self.most))

    def done(self, items: int, seconds: float) -> None:
        """Record a step that took ``seconds`` over ``items`` items."""
        if items <= 0:
            return
        fits = int(self.budget * items / max(seconds, 1e-6))
        self._size = max(self.least, min(fits, 2 * self.size, self.most))
