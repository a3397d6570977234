"""Planning ``shots import``: from the clips of a cut and what the studio holds, what would change.

Pure: values in (the cut's clips, the naming rule, each known shot's frame
range and rendered frames), an :class:`EditPlan` out. Nothing here reads a
file or the catalog; :mod:`.edit_import` gathers the state and applies the
plan. Invariant the tests hold with hypothesis: applying a plan and
planning again gives a plan without changes (``plan.changes`` empty).

A shot's cut range starts at the studio start frame (1001) and lasts the
clip's duration at the edit's rate; its handles are the ones asked for, or
the shot's own when none are (0 for a new shot), so a re-import never
undoes handles set by hand unless told to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..authored import FrameRange
from ..sequences import format_ranges, runs
from .edit_read import CutClip

__all__ = ["DEFAULT_NAME_PATTERN", "CutShot", "EditPlan", "KnownShot", "Naming", "Refusal", "ShotChange",
           "Stranded", "compile_pattern", "name_clips", "plan_edit"]

#: ``sq010_sh0100`` (sequence and shot) or ``sh0100`` (the shot alone: the sequence comes from --sequence).
DEFAULT_NAME_PATTERN = r"^(?:(?P<sequence>[A-Za-z]+\d+)[_.-])?(?P<shot>[A-Za-z]+\d+)$"


def compile_pattern(text: str) -> re.Pattern[str]:
    """The naming regex; ValueError saying why when it is not one or lacks the ``shot`` group."""
    try:
        pattern = re.compile(text)
    except re.error as error:
        raise ValueError(f"name pattern {text!r} is not a regular expression: {error}") from None
    if "shot" not in pattern.groupindex:
        raise ValueError(f"name pattern {text!r} needs a named group (?P<shot>...) (and may have (?P<sequence>...))")
    return pattern


@dataclass(frozen=True, slots=True)
class Naming:
    """How clip names become sequence and shot names."""

    pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(DEFAULT_NAME_PATTERN))
    #: The sequence of clips whose name gives none (``sh0100``).
    sequence: str | None = None

    def names(self, clip: CutClip) -> tuple[str, str] | None:
        """(sequence, shot) from the clip's name, else from its first marker that matches; None if none does."""
        for text in (clip.name, *clip.markers):
            found = self.pattern.search(text.strip())
            if found is None or not found.group("shot"):
                continue
            sequence = found.groupdict().get("sequence") or self.sequence
            if sequence:
                return sequence, found.group("shot")
        return None


@dataclass(frozen=True, slots=True)
class CutShot:
    """A shot the cut asks for: its reference (checked against the keys) and its cut range."""

    uri: str
    sequence_uri: str
    clip: str
    frames: FrameRange


@dataclass(frozen=True, slots=True)
class Refusal:
    """A clip whose name gives no shot, or a shot its keys refuse (the message names the key's rule)."""

    clip: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"clip": self.clip, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class KnownShot:
    """What the studio holds for a shot: its sidecar's frame range and its rendered frames by sequence."""

    uri: str
    sequence_uri: str
    frames: FrameRange | None = None
    #: Frame sequence pattern -> the frames catalogued as present.
    rendered: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stranded:
    """Rendered frames of one sequence that fall outside a shot's new range (handles included)."""

    sequence: str
    frames: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "frames": format_ranges(runs(self.frames)), "count": len(self.frames)}


@dataclass(frozen=True, slots=True)
class ShotChange:
    """One shot of the cut: ``new``, ``changed`` (its range) or ``same``; stranded frames when it shrinks."""

    uri: str
    sequence_uri: str
    clip: str
    action: str
    frames: FrameRange
    old: FrameRange | None = None
    stranded: tuple[Stranded, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "sequence": self.sequence_uri, "clip": self.clip, "action": self.action,
                "frames": self.frames.to_json(), "old": None if self.old is None else self.old.to_json(),
                "stranded": [s.to_json() for s in self.stranded]}


@dataclass(frozen=True, slots=True)
class EditPlan:
    """What importing the cut would do. ``changes`` are the shots to create or update; ``removed`` the known
    shots of the cut's sequences that it no longer has (reported, never deleted)."""

    shots: tuple[ShotChange, ...]
    new_sequences: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()

    @property
    def changes(self) -> tuple[ShotChange, ...]:
        return tuple(s for s in self.shots if s.action != "same")

    @property
    def stranding(self) -> tuple[ShotChange, ...]:
        """The changes that leave rendered frames outside their new range: applying them needs force."""
        return tuple(s for s in self.changes if s.stranded)

    def to_json(self) -> dict[str, Any]:
        return {"shots": [s.to_json() for s in self.shots], "new_sequences": list(self.new_sequences),
                "removed": list(self.removed), "refused": [r.to_json() for r in self.refused],
                "counts": {"new": self._count("new"), "changed": self._count("changed"),
                           "same": self._count("same"), "removed": len(self.removed),
                           "refused": len(self.refused), "stranding": len(self.stranding)}}

    def _count(self, action: str) -> int:
        return sum(1 for s in self.shots if s.action == action)


def name_clips(clips: Iterable[CutClip], naming: Naming, check: Callable[[str, str], tuple[str, str]], *,
               start: int = 1001) -> tuple[list[CutShot], list[Refusal]]:
    """The shots the clips name, each with its cut range from ``start``; and the clips refused.

    ``check(sequence, shot)`` returns the (sequence, shot) references, or
    raises ValueError with the refusing key's rule. A shot named twice is
    refused the second time (a shot has one cut range).
    """
    shots: list[CutShot] = []
    refused: list[Refusal] = []
    seen: set[str] = set()
    for clip in clips:
        names = naming.names(clip)
        if names is None:
            refused.append(Refusal(clip.name, f"the name matches no pattern ({naming.pattern.pattern}) "
                                              "with a sequence; give --name-pattern or --sequence"))
            continue
        try:
            sequence_uri, uri = check(*names)
        except ValueError as error:
            refused.append(Refusal(clip.name, str(error)))
            continue
        if uri in seen:
            refused.append(Refusal(clip.name, f"{uri} is in the cut twice; a shot has one cut range"))
            continue
        seen.add(uri)
        shots.append(CutShot(uri, sequence_uri, clip.name, FrameRange(start, start + max(clip.duration, 1) - 1)))
    return shots, refused


def plan_edit(shots: Iterable[CutShot], known: Mapping[str, KnownShot], sequences: Iterable[str], *,
              refused: Iterable[Refusal] = (), handles: tuple[int, int] | None = None) -> EditPlan:
    """The plan for ``shots`` given the ``known`` shots (by reference) and the known sequence references.

    ``known`` holds every shot the studio has in the cut's sequences (the
    ones missing from the cut are ``removed``).
    """
    cut = list(shots)
    changes = tuple(_change(shot, known.get(shot.uri), handles) for shot in cut)
    existing = set(sequences)
    new_sequences = tuple(dict.fromkeys(s.sequence_uri for s in cut if s.sequence_uri not in existing))
    in_cut, cut_sequences = {s.uri for s in cut}, {s.sequence_uri for s in cut}
    removed = tuple(sorted(k.uri for k in known.values() if k.uri not in in_cut and k.sequence_uri in cut_sequences))
    return EditPlan(changes, new_sequences, removed, tuple(refused))


def _change(shot: CutShot, known: KnownShot | None, handles: tuple[int, int] | None) -> ShotChange:
    old = known.frames if known is not None else None
    handle_in, handle_out = handles if handles is not None else ((old.handle_in, old.handle_out) if old else (0, 0))
    frames = FrameRange(shot.frames.cut_in, shot.frames.cut_out, handle_in, handle_out)
    if known is None:
        return ShotChange(shot.uri, shot.sequence_uri, shot.clip, "new", frames)
    if frames == old:
        return ShotChange(shot.uri, shot.sequence_uri, shot.clip, "same", frames, old)
    stranded = tuple(_stranded(known.rendered, frames, old))
    return ShotChange(shot.uri, shot.sequence_uri, shot.clip, "changed", frames, old, stranded)


def _stranded(rendered: Mapping[str, tuple[int, ...]], new: FrameRange, old: FrameRange | None) -> Iterable[Stranded]:
    """Per sequence, the rendered frames outside ``new`` that were not already outside ``old``."""
    for sequence, frames in sorted(rendered.items()):
        out = tuple(f for f in frames if not within(f, new) and (old is None or within(f, old)))
        if out:
            yield Stranded(sequence, out)


def within(frame: int, frames: FrameRange) -> bool:
    """Whether ``frame`` is inside the cut range widened by its handles."""
    return frames.cut_in - frames.handle_in <= frame <= frames.cut_out + frames.handle_out
