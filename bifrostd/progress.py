"""Progress of long work (scans, mirror runs, restores): the callback protocol, and counting bytes for it.

A progress callback is any ``progress(stage, done, total)``: ``done`` of
``total`` items (files, objects; ``total`` None while unknown). Producers call
it on the thread that runs the work, never from a worker thread, so it may
raise to stop the work (the daemon stops a long walk that way). That is the
whole protocol for most callers, and it has not changed.

A callback that also wants bytes (a terminal bar with rate and time left)
subclasses :class:`ByteProgress` and receives :class:`Step` values instead,
at the same points plus, time-throttled, in between (while a big file is
hashed or sent). Producers talk to either kind through a :class:`Reporter`
and count bytes only when ``Reporter.wants_bytes``, so a daemon or a piped
command pays nothing for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["INTERVAL", "ByteProgress", "InFlight", "Meter", "Progress", "Reporter", "Step"]

Progress = Callable[[str, int, "int | None"], None]

INTERVAL = 0.1
"""Seconds between in-between steps: ten a second is smooth on a terminal and free next to the work."""


@dataclass(frozen=True, slots=True)
class Step:
    """Where one stage of long work stands; bytes are None where the stage does not count them."""

    stage: str
    done: int
    total: int | None
    done_bytes: int | None = None
    total_bytes: int | None = None


class ByteProgress:
    """Base of progress callbacks that want bytes too; still callable as a plain ``progress(stage, done, total)``."""

    def step(self, step: Step) -> None:
        raise NotImplementedError

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.step(Step(stage, done, total))


class Reporter:
    """What a producer holds: tells a callback of either kind in the form it takes.

    ``count`` is a step every callback hears (the points where plain callbacks
    were always called: a stage starting, a batch or a file done); ``between``
    is an in-between step (bytes moved within a file or a batch) that only a
    byte-aware callback hears.
    """

    __slots__ = ("_plain", "_fine", "wants_bytes")

    def __init__(self, progress: Progress | None) -> None:
        self._fine = progress.step if isinstance(progress, ByteProgress) else None
        self._plain = progress
        self.wants_bytes = self._fine is not None

    def count(self, stage: str, done: int, total: int | None, done_bytes: int | None = None,
              total_bytes: int | None = None) -> None:
        if self._fine is not None:
            self._fine(Step(stage, done, total, done_bytes, total_bytes))
        elif self._plain is not None:
            self._plain(stage, done, total)

    def between(self, stage: str, done: int, total: int | None, done_bytes: int | None,
                total_bytes: int | None = None) -> None:
        if self._fine is not None:
            self._fine(Step(stage, done, total, done_bytes, total_bytes))


class Meter:
    """Files and bytes counted by any thread; reported by the thread that created it, at most every ``interval`` s.

    Worker threads only ``add``; the owning thread's own ``add`` (a big file
    hashed inline) and its ``poll`` (while it waits for workers) call
    ``report(files, bytes)``. So the report, like every progress call, runs on
    the thread that runs the work.
    """

    __slots__ = ("files", "bytes", "_report", "_interval", "_clock", "_last", "_lock", "_owner")

    def __init__(self, report: Callable[[int, int], None], *, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.files = self.bytes = 0
        self._report, self._clock = report, clock
        self._interval = INTERVAL if interval is None else interval
        self._last = clock()
        self._lock = threading.Lock()
        self._owner = threading.get_ident()

    def add(self, count: int, files: int = 0) -> None:
        with self._lock:
            self.bytes += count
            self.files += files
        if threading.get_ident() == self._owner:
            self.poll()

    def poll(self) -> None:
        """Report if ``interval`` has passed since the last report; call on the owning thread only."""
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._report(self.files, self.bytes)


class InFlight:
    """Bytes of a batch of transfers: those of finished items plus those moved so far by items in flight.

    An item's bytes count once, capped at its size, whatever its retries
    re-send; a finished item counts its whole size, sent or skipped, so the
    figure is what is left to do, and time left is computed from it.
    """

    __slots__ = ("finished", "_moving", "_lock")

    def __init__(self) -> None:
        self.finished = 0
        self._moving: dict[Hashable, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def meter(self, key: Hashable, size: int) -> Callable[[int], None]:
        """The per-chunk callback for one item (called on a worker thread)."""

        def moved(count: int) -> None:
            with self._lock:
                sent, _ = self._moving.get(key, (0, size))
                self._moving[key] = (min(sent + count, size), size)

        return moved

    def finish(self, key: Hashable, size: int) -> None:
        with self._lock:
            self._moving.pop(key, None)
            self.finished += size

    @property
    def done(self) -> int:
        with self._lock:
            return self.finished + sum(sent for sent, _ in self._moving.values())
