"""Reading an edit (``.otio``, a CMX 3600 ``.edl``, any format an OpenTimelineIO adapter reads) into a cut list.

The edge of ``shots import``: OpenTimelineIO is an optional extra
(``pip install 'bifrostd[edit]'``), imported here on first use, and a
missing one raises PackageMissing with the pip command. Everything the
planner needs is copied out of OTIO's objects into :class:`CutClip` values,
so the planner (:mod:`.edit_plan`) never sees OTIO.

Traps this module stands between (see OTIO 0.18 and otio-cmx3600-adapter
1.0): an EDL does not carry its frame rate, so ``rate`` is always passed to
the EDL reader (24 unless told); NTSC rates are the fractions
``30000/1001`` and ``24000/1001``, never ``29.97``; the record start of an
EDL is the negated ``source_range.start_time`` of its track. Any error the
reader raises is translated into :class:`~bifrostd.errors.EditUnreadable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import EditUnreadable, FieldValueError
from ..packages import require

__all__ = ["CutClip", "parse_rate", "read_edit"]

#: The rates people write as decimals, and the exact fractions timecode needs.
_NTSC = {"23.976": Fraction(24000, 1001), "23.98": Fraction(24000, 1001), "29.97": Fraction(30000, 1001),
         "47.952": Fraction(48000, 1001), "59.94": Fraction(60000, 1001)}
#: Suffixes read by adapters that need the rate given (the file does not say it).
_RATE_GIVEN = {".edl"}


@dataclass(frozen=True, slots=True)
class CutClip:
    """One clip of the cut: its name, marker names, and its place and length in frames at the edit's rate."""

    name: str
    #: The record position of the clip's first frame, in frames from the start of the edit (0-based).
    record_in: int
    duration: int
    markers: tuple[str, ...] = ()


def parse_rate(text: str) -> Fraction:
    """``24``, ``25``, ``30000/1001`` or ``29.97`` (read as 30000/1001) as an exact rate."""
    text = text.strip()
    if text in _NTSC:
        return _NTSC[text]
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise FieldValueError(f"rate {text!r}: frames per second, e.g. 24, 25 or 30000/1001") from None
    if rate <= 0:
        raise FieldValueError(f"rate {text!r}: frames per second must be more than 0")
    return rate


def read_edit(path: Path, rate: Fraction | None = None) -> tuple[CutClip, ...]:
    """The clips of the first video track of the edit at ``path``, in record order.

    ``rate`` is the edit's frame rate: given to readers of formats that do
    not store it (EDL: 24 when None), and the rate durations are counted in
    for formats that do (``.otio``: each clip's own rate when None).
    """
    otio = require("opentimelineio", feature="shots import (reading an edit)", package="opentimelineio")
    timeline = _timeline(otio, path, rate)
    tracks = timeline.video_tracks() if hasattr(timeline, "video_tracks") else []
    if not tracks:
        raise EditUnreadable(path=str(path), reason="it has no video track")
    return tuple(_clip(otio, clip, rate) for clip in tracks[0].find_clips())


def _timeline(otio: Any, path: Path, rate: Fraction | None) -> Any:
    if not path.is_file():
        raise EditUnreadable(path=str(path), reason="no such file")
    options = {"rate": float(rate or 24)} if path.suffix.lower() in _RATE_GIVEN else {}
    try:
        return otio.adapters.read_from_file(str(path), **options)
    except otio.exceptions.NoKnownAdapterForExtensionError:
        raise EditUnreadable(path=str(path), reason=f"no OpenTimelineIO adapter reads {path.suffix or 'it'!r} files "
                             "(.otio is built in; .edl needs the otio-cmx3600-adapter package)") from None
    except Exception as error:  # noqa: BLE001 - any reader failure is a file that does not parse
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EditUnreadable(path=str(path), reason=f"{type(error).__name__}: {reason}") from None


def _clip(otio: Any, clip: Any, rate: Fraction | None) -> CutClip:
    placed = clip.range_in_parent()  # 0-based in the track: the EDL's record start is the track's offset
    count = float(rate) if rate is not None else None
    return CutClip(str(clip.name or ""), _frames(placed.start_time, count), _frames(placed.duration, count),
                   tuple(str(m.name) for m in clip.markers if m.name))


def _frames(time: Any, rate: float | None) -> int:
    return int(round(time.value if rate is None else time.rescaled_to(rate).value))
