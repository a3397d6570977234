"""Frame sequences: collapsing frame numbers into a range with its gaps.

Pure: a version's frames (``comp_v003.1001.exr`` … ``comp_v003.1100.exr``) are
one unit in the catalog, identified by the template and every field except
the frame. This module turns a set of frame numbers into that unit's range,
count and missing frames, and writes ranges the way artists read them
(``1001-1040,1042-1100``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)
class FrameRange:
    """The frames present in a sequence: first, last, count and the gaps between."""

    first: int
    last: int
    count: int
    missing: tuple[tuple[int, int], ...] = ()

    @property
    def missing_count(self) -> int:
        return sum(end - start + 1 for start, end in self.missing)

    @property
    def complete(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "count": self.count,
                "missing": format_ranges(self.missing), "missing_count": self.missing_count}


def collapse(frames: Iterable[int]) -> FrameRange | None:
    """The range of ``frames`` (duplicates ignored), or None when there are none."""
    ordered = sorted(set(frames))
    if not ordered:
        return None
    gaps = tuple((a + 1, b - 1) for a, b in zip(ordered, ordered[1:]) if b - a > 1)
    return FrameRange(ordered[0], ordered[-1], len(ordered), gaps)


def runs(frames: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Consecutive runs of ``frames`` as (start, end) pairs."""
    ordered = sorted(set(frames))
    out: list[tuple[int, int]] = []
    for frame in ordered:
        if out and frame == out[-1][1] + 1:
            out[-1] = (out[-1][0], frame)
        else:
            out.append((frame, frame))
    return tuple(out)


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    """``1001-1040,1042`` from ((1001, 1040), (1042, 1042))."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """The inverse of :func:`format_ranges` (negative frames are written ``-5--1``)."""
    out: list[tuple[int, int]] = []
    for part in filter(None, text.split(",")):
        head, sep, tail = part[1:].partition("-")
        start = int(part[0] + head)
        out.append((start, int(tail) if sep else start))
    return tuple(out)
