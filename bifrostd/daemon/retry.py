"""Work that failed, waiting to be tried again: pure bookkeeping over an injected monotonic clock.

The daemon never drops work because it failed once. A batch of settled
paths, a rescan, or a root's reconcile that raises (the state disk full, a
share gone for a moment) is put back and tried again after a delay that
doubles with each failure, from ``first`` up to ``most`` seconds, so a
lasting fault costs a try a minute, not a busy loop. Whoever owns the
work puts it back (the settler its paths, the schedule its rescans); this
says when, and remembers why, for ``daemon status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Failing:
    """One kind of work that failed: what, why, how often, and when it is tried next."""

    what: str
    error: str
    attempts: int
    since: float
    next_at: float

    def to_json(self, now: float) -> dict[str, Any]:
        return {"what": self.what, "error": self.error, "attempts": self.attempts,
                "failing_for_s": round(now - self.since, 1), "retry_in_s": round(max(self.next_at - now, 0.0), 1)}


class Retries:
    """Failing work by key (e.g. ``("batch", root)``), with exponential backoff."""

    def __init__(self, *, first: float = 1.0, most: float = 60.0) -> None:
        self.first = first
        self.most = most
        self._failing: dict[tuple[str, str], Failing] = {}

    def failed(self, key: tuple[str, str], what: str, error: str, now: float) -> float:
        """Record a failure of ``key``; returns when to try it again."""
        known = self._failing.get(key)
        attempts = known.attempts + 1 if known else 1
        delay = min(self.first * 2 ** (attempts - 1), self.most)
        self._failing[key] = Failing(what, error, attempts, known.since if known else now, now + delay)
        return now + delay

    def succeeded(self, key: tuple[str, str]) -> bool:
        """Forget ``key``'s failures; True if it was failing (it has recovered)."""
        return self._failing.pop(key, None) is not None

    def waiting(self, key: tuple[str, str], now: float) -> bool:
        """True while ``key`` failed and its next try is not due yet."""
        known = self._failing.get(key)
        return known is not None and now < known.next_at

    def next_at(self, key: tuple[str, str]) -> float | None:
        known = self._failing.get(key)
        return known.next_at if known else None

    def next_wake(self) -> float | None:
        """The earliest next try of any failing work, or None."""
        return min((f.next_at for f in self._failing.values()), default=None)

    def __bool__(self) -> bool:
        return bool(self._failing)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._failing

    def to_json(self, now: float) -> list[dict[str, Any]]:
        return [f.to_json(now) for _, f in sorted(self._failing.items())]
