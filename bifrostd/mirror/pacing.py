"""How fast and how often the mirror talks to a bucket: a bandwidth cap and retry backoff.

Both take their clock and sleep as parameters so tests run them without waiting.
The bandwidth cap is one token bucket per target, shared by every worker thread;
workers sleep in their own thread (never on fsspec's event loop, which all
transfers share).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "RateLimiter"]


class RateLimiter:
    """A token bucket of ``rate`` bytes per second with one second of burst.

    ``acquire(n)`` reserves ``n`` bytes and sleeps until they are due, so the
    long-run rate never exceeds ``rate`` however many threads share it.
    """

    def __init__(
        self,
        rate: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = clock()

    def acquire(self, n: int) -> float:
        """Reserve ``n`` bytes; returns the seconds slept."""
        if not self.rate or n <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(self._next_free, now - 1.0)  # unused capacity older than 1 s is lost
            self._next_free = start + n / self.rate
            delay = self._next_free - now - 1.0  # a 1 s burst may go ahead of schedule
        if delay > 0:
            self._sleep(delay)
            return delay
        return 0.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt k waits uniform(0, base * 2**k), capped.

    Full jitter spreads the retries of many workers hit by the same throttling
    burst, instead of sending them back in lock-step.
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(attempt, 0)))
        return ceiling * (0.5 + 0.5 * rng())  # at least half the ceiling: a retry never fires at once
