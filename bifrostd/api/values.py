"""The values the Python API answers: typed fields, entities, matches, files, versions, listings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..authored import Deprecation, Publish

if TYPE_CHECKING:
    pass


class Fields(Mapping[str, Any]):
    """Typed field values by name, read-only: ``{**fields, "version": 4}`` makes a new set to format.

    Hashable and picklable (a farm script may pass a :class:`Match` between processes).
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Fields({self._values!r})"

    def __getstate__(self) -> dict[str, Any]:
        return self._values

    def __setstate__(self, values: dict[str, Any]) -> None:
        self._values = values


@dataclass(frozen=True, slots=True)
class Entity:
    """A production entity: ``kind`` (project, sequence, shot, asset, task, version...), its ``bifrost:///``
    reference, its own ``name``, the fields that identify it from the top (project, sequence, shot...), and
    ``own``: those it adds to its parent's (a shot's ``shot``).

    An entity read from the catalog also says what it holds: ``files`` and
    ``bytes`` of its own present files, and how many ``children`` it has.
    They are None for an entity derived from a path or a reference alone.
    """

    kind: str
    uri: str
    name: str
    fields: Fields
    own: Fields
    files: int | None = None
    bytes: int | None = None
    children: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """What a path is, or which path a reference names.

    ``path`` is absolute on the OS asked for (this machine's by default);
    ``root`` and ``relative`` are the rootless form the catalog stores, the
    same on every OS. ``fields`` are typed: a version or a frame is an int.
    """

    path: str
    root: str
    relative: str
    template: str
    fields: Fields
    entity: Entity | None
    #: For a ``?version=latest`` reference, the catalogued version chosen (with what it holds); else None.
    latest: Entity | None = None
    #: For a ``?version=latest`` reference whose version was published: its publish record (user, comment...).
    publish: Publish | None = None


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Why a path is not one managed thing, from :meth:`Studio.explain`.

    ``reason`` says it in words; ``root`` names the root the path is under
    (None when it is under none). For a path that several templates match,
    ``candidates`` names them and ``relative`` and ``fields`` hold the first
    one's reading; for a path one template reads two ways, ``candidates``
    names that template and ``readings`` holds both readings; otherwise
    ``relative`` is None and ``fields`` empty.
    """

    input: str
    reason: str
    root: str | None
    relative: str | None = None
    fields: Fields = Fields()
    candidates: tuple[str, ...] = ()
    readings: tuple[Fields, ...] = ()


@dataclass(frozen=True, slots=True)
class File:
    """A catalogued file. ``state`` is ``present``, or ``missing`` when the catalog expects it and the
    disk no longer has it; ``template`` is None for an unmanaged file."""

    path: str
    root: str
    relative: str
    size: int
    state: str
    template: str | None
    hash: str | None
    frame: int | None


@dataclass(frozen=True, slots=True)
class FrameSequence:
    """The frames of one version as one unit: ``path`` holds ``####`` for the frame; ``missing`` lists the
    frames absent between ``first`` and ``last`` as ranges (``"1003,1010-1012"``, empty when none)."""

    path: str
    root: str
    relative: str
    first: int | None
    last: int | None
    count: int
    missing: str
    #: How many frames ``missing`` stands for, and the bytes of the present ones.
    missing_count: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Version:
    """A catalogued version: its entity, its number (the version field's value), its single files and its
    frame sequences; for a published version, its ``publish`` record (source, user, comment, time, files)
    and whether it is ``deprecated`` (``version=latest`` skips it), with who, when and why."""

    entity: Entity
    number: int | str
    files: tuple[File, ...]
    sequences: tuple[FrameSequence, ...]
    publish: Publish | None = None
    deprecated: bool = False
    deprecation: Deprecation | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """What is under an entity, under the top, or in a folder (:meth:`Studio.listing`).

    For an entity (``entity`` None at the top): its ``children``, its own
    single files, and its frame files as ``sequences``; ``tags``: each
    tagged child's tags, by its URI. For a folder path: ``root`` and
    ``folder`` (relative to the root) say which, and ``files`` holds every
    catalogued file at or below it, frames included.
    """

    entity: Entity | None
    children: tuple[Entity, ...]
    files: tuple[File, ...]
    sequences: tuple[FrameSequence, ...]
    root: str | None = None
    folder: str | None = None
    tags: Fields = Fields()
