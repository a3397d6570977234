"""Frame sequences held to their shot's frame range: frames outside it, and frames far too small.

An entity whose sidecar has a frame range (a shot after ``shots import`` or
``create --frames``) expects the frames at or below it within the cut range
widened by its handles. ``drift`` and ``show`` list, per frame sequence:

- ``outside_range``: present frames before ``cut_in - handle_in`` or after
  ``cut_out + handle_out`` (missing frames inside the range are gaps,
  already reported as such);
- ``short_frames``: zero-byte frames, and frames under 2% of the median
  size of their neighbours (up to three frames either side, at least two):
  a render killed mid-write leaves kilobytes where its neighbours have
  megabytes. Frame sizes of a real shot vary several fold from frame to
  frame (the demo's by up to 20x), so the bar is far below that.

Only entities with a frame range are checked, so the cost follows the
number of shots people ranged, not the size of the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any, Iterable

from ..sequences import format_ranges, runs
from .edit_plan import within

if TYPE_CHECKING:
    from ..authored import FrameRange
    from ..catalog import Catalog
    from ..templates.templateset import TemplateSet

__all__ = ["FrameFinding", "frame_findings", "frames_by_sequence"]

#: A frame under this share of its neighbours' median size is reported as truncated.
SHORT_SHARE = 0.02
#: How many frames either side are its neighbours.
NEIGHBOURS = 3


@dataclass(frozen=True, slots=True)
class FrameFinding:
    """Frames of one sequence of ``entity`` that are ``outside_range`` or ``short`` (zero-byte or truncated)."""

    kind: str
    entity: str
    sequence: str
    frames: tuple[int, ...]
    range: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "entity": self.entity, "sequence": self.sequence,
                "frames": format_ranges(runs(self.frames)), "count": len(self.frames), "range": self.range}


def frames_by_sequence(catalog: Catalog, entity_id: int) -> dict[str, list[tuple[int, int]]]:
    """(frame, size) of the present frames of each frame sequence at or below an entity, by ``ROOT:PATTERN``."""
    found: dict[str, list[tuple[int, int]]] = {}
    for row in catalog.files_below(entity_id):
        if row.frame is not None and row.sequence is not None:
            found.setdefault(f"{row.root}:{row.sequence}", []).append((row.frame, row.size))
    return {pattern: sorted(frames) for pattern, frames in found.items()}


def check_frames(entity: str, frames: FrameRange, sequences: dict[str, list[tuple[int, int]]]) -> list[FrameFinding]:
    """The findings of one ranged entity's sequences (pure)."""
    text = f"{frames.cut_in - frames.handle_in}-{frames.cut_out + frames.handle_out}"
    found: list[FrameFinding] = []
    for pattern, items in sorted(sequences.items()):
        outside = tuple(f for f, _ in items if not within(f, frames))
        if outside:
            found.append(FrameFinding("outside_range", entity, pattern, outside, text))
        short = _short(items)
        if short:
            found.append(FrameFinding("short", entity, pattern, short, text))
    return found


def _short(items: list[tuple[int, int]]) -> tuple[int, ...]:
    """Zero-byte frames, and frames far below their neighbours' median size (``items`` in frame order)."""
    sizes = [size for _, size in items]
    return tuple(frame for i, (frame, size) in enumerate(items) if size == 0 or _far_below(sizes, i))


def _far_below(sizes: list[int], index: int) -> bool:
    around = sizes[max(0, index - NEIGHBOURS):index] + sizes[index + 1:index + 1 + NEIGHBOURS]
    return len(around) >= 2 and sizes[index] < median(around) * SHORT_SHARE


def frame_findings(catalog: Catalog, template_set: TemplateSet, under: str | None = None) -> list[FrameFinding]:
    """The findings of every entity with a frame range in its sidecar (that ``under`` names, if given)."""
    found: list[FrameFinding] = []
    for uri, frames in _ranged(catalog, template_set):
        if under is not None and uri != under:
            continue
        info = catalog.entity_by_uri(uri)
        if info is not None:
            found += check_frames(uri, frames, frames_by_sequence(catalog, info.id))
    return found


def _ranged(catalog: Catalog, template_set: TemplateSet) -> Iterable[tuple[str, FrameRange]]:
    for root, folder in catalog.authored_folders():
        row = catalog.authored(root, folder)
        if row is None or row.data is None or row.data.frames is None or not folder:
            continue
        match = template_set.match_relative(root, folder)
        if match is not None and not match.ambiguous and match.entity is not None:
            yield match.entity.uri(template_set.entities), row.data.frames
