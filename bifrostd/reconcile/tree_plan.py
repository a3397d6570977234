"""Planning a migration of the tree: which files move where when the templates change. Pure.

Two sources of moves, one plan:

- :func:`plan_migration` (``bifrostctl templates migrate``): each catalog
  record names the template it was derived with and its typed fields; its
  new path is the current set's template of the same name (or the one
  ``renames`` pairs it with) formatted with the same fields.
- :func:`plan_conform` (``bifrostctl templates conform OLD_SET``): each path
  of a walk is parsed with another template set (``old``); its new path is the
  current set's paired template formatted with the fields parsed.

Then :func:`settle` keeps only moves that are safe to make, and
:func:`sidecar_moves` takes the sidecars (``.bifrost-entity.yaml``, and the
``.bifrost-entity.lock`` their writers lock) with
the folders their files move out of.

Invariants a reader could break:

- **No two sources share a target**, and no target is a path that exists
  (``occupied``) or a source of the same plan: a move never overwrites,
  and the order of moves never matters.
- **Every target reads back.** A target is kept only if the current set
  matches it to the paired template: a moved file is never left unmanaged,
  nor catalogued under other fields than those it was moved for.
- **Nothing leaves its root.** A target under another root than its source,
  or one that would escape the root, is refused, not moved.

Nothing here reads a file or the catalog: the callable ``occupied`` is the
only question asked of the world, so ``--dry-run`` prints exactly this plan.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Iterable, Mapping

from ..authored import LOCK_NAME, SIDECAR_NAME
from ..errors import FieldValueError
from ..model import FileRecord
from ..templates.templateset import TemplateSet
from .plan import canonical_json

__all__ = ["Refusal", "Refused", "TreeMove", "TreePlan", "plan_conform", "plan_migration", "settle", "sidecar_moves"]

#: Whether a (root, relative) path exists on disk: the planner's only view of the tree.
Occupied = Callable[[str, str], bool]


class Refusal(str, Enum):
    """Why a move is not made. Each is a finding of the plan, never an exception that stops it."""

    TARGET_EXISTS = "target-exists"
    SHARED_TARGET = "shared-target"
    OTHER_ROOT = "other-root"
    NO_TEMPLATE = "no-template"
    CANNOT_FORMAT = "cannot-format"
    READS_BACK_OTHERWISE = "reads-back-otherwise"
    SIDECAR_SPLIT = "sidecar-split"
    OPEN_FOR_WRITING = "open-for-writing"
    OTHER_FILESYSTEM = "other-filesystem"
    SOURCE_GONE = "source-gone"
    RENAME_FAILED = "rename-failed"


@dataclass(frozen=True, slots=True)
class TreeMove:
    """One file to rename within ``root``: ``source`` to ``target`` (root-relative POSIX paths)."""

    root: str
    source: str
    target: str
    template: str | None = None  # the template the source was read with (None: a sidecar)
    new_template: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "from": self.source, "to": self.target,
                "template": [self.template, self.new_template]}


@dataclass(frozen=True, slots=True)
class Refused:
    """A move that is not made, and why (``target`` None when no target could be computed)."""

    root: str
    source: str
    target: str | None
    reason: Refusal
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "from": self.source, "to": self.target, "reason": self.reason.value,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class TreePlan:
    """The moves to make, in order, and those refused."""

    moves: tuple[TreeMove, ...] = ()
    refused: tuple[Refused, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"counts": {"moves": len(self.moves), "refused": len(self.refused)},
                "moves": [m.to_json() for m in self.moves], "refused": [r.to_json() for r in self.refused]}


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A path read with a template, and the template of the current set it is to be written with."""

    root: str
    relative: str
    template: str
    fields: Mapping[str, Any]
    new_template: str


# -- where each file goes --------------------------------------------------------------
def plan_migration(records: Iterable[FileRecord], current: TemplateSet, *, renames: Mapping[str, str] | None = None,
                   occupied: Occupied) -> TreePlan:
    """Moves that bring catalogued files from the path their recorded template and fields had to the one the
    current set's template of the same name (or its pair in ``renames``) gives those fields."""
    renames = renames or {}
    candidates = []
    sidecars = []
    for record in records:
        template = record.classification.template
        if _is_sidecar(record.relative):
            sidecars.append((record.root, record.relative))
        elif template is not None and not _in_place(current, record.root, record.relative,
                                                    renames.get(template, template), record.classification.fields_json):
            fields = json.loads(record.classification.fields_json)
            candidates.append(_Candidate(record.root, record.relative, template, fields, renames.get(template, template)))
    return sidecar_moves(settle(candidates, current, occupied=occupied), sidecars, occupied=occupied)


def plan_conform(paths: Iterable[tuple[str, str]], old: TemplateSet, current: TemplateSet, *,
                 renames: Mapping[str, str] | None = None, occupied: Occupied) -> TreePlan:
    """Moves that bring files laid out by the ``old`` set into the current set's layout. A path ``old`` does
    not match is left where it is, and so is one the current set already matches (it is in the current
    layout, whatever ``old`` reads it as); sidecars follow their folders (:func:`sidecar_moves`)."""
    renames = renames or {}
    candidates = []
    sidecars = []
    for root, relative in paths:
        if _is_sidecar(relative):
            sidecars.append((root, relative))
            continue
        found = old.match_relative(root, relative)
        if found is not None and found.template is not None and not _managed(current, root, relative):
            name = found.template.name
            candidates.append(_Candidate(root, relative, name, found.fields, renames.get(name, name)))
    return sidecar_moves(settle(candidates, current, occupied=occupied), sidecars, occupied=occupied)


def _in_place(current: TemplateSet, root: str, relative: str, name: str, fields_json: str) -> bool:
    """Whether the current set already reads the path as template ``name`` with these fields: then
    formatting them gives the path back (the set refuses to write paths that do not read back), so the
    file stays, for the cost of a match rather than a format."""
    found = current.match_relative(root, relative)
    return (found is not None and found.template is not None and found.template.name == name
            and canonical_json(found.fields) == fields_json)


#: Bifrost's own files in an entity's folder: the sidecar and its writers' lock. They follow the folder.
OWN_FILES = frozenset({SIDECAR_NAME, LOCK_NAME})


def _managed(current: TemplateSet, root: str, relative: str) -> bool:
    found = current.match_relative(root, relative)
    return found is not None and found.template is not None


def _is_sidecar(relative: str) -> bool:
    return relative.rpartition("/")[2] in OWN_FILES


def settle(candidates: Iterable[_Candidate], current: TemplateSet, *, occupied: Occupied) -> TreePlan:
    """The moves of ``candidates`` whose target is new, distinct, under the same root and reads back."""
    targets: list[tuple[_Candidate, str]] = []
    refused: list[Refused] = []
    for candidate in candidates:
        target = _target(candidate, current)
        if isinstance(target, Refused):
            refused.append(target)
        elif target != candidate.relative:
            targets.append((candidate, target))
    return _without_collisions(targets, refused, occupied)


def _target(candidate: _Candidate, current: TemplateSet) -> str | Refused:
    """The candidate's new root-relative path, or why it has none."""
    root, source, name = candidate.root, candidate.relative, candidate.new_template
    template = current.templates.get(name)
    if template is None:
        return Refused(root, source, None, Refusal.NO_TEMPLATE,
                       f"the current set has no template {name!r}; pair {candidate.template!r} with one (--map)")
    if template.root != root:
        return Refused(root, source, None, Refusal.OTHER_ROOT, f"{name!r} lives under root {template.root!r}")
    try:
        target = template.format(dict(candidate.fields), use_defaults=False)
    except FieldValueError as exc:  # a field the new template needs and the old did not have, or escapes
        return Refused(root, source, None, Refusal.CANNOT_FORMAT, str(exc))
    found = current.match_relative(root, target)
    if found is None or found.template is not template:
        reading = "nothing" if found is None or found.template is None else repr(found.template.name)
        return Refused(root, source, target, Refusal.READS_BACK_OTHERWISE, f"the current set reads it as {reading}")
    return target


def _without_collisions(targets: list[tuple[_Candidate, str]], refused: list[Refused],
                        occupied: Occupied) -> TreePlan:
    shared = Counter((c.root, t) for c, t in targets)
    sources = {(c.root, c.relative) for c, _ in targets}
    moves = []
    for candidate, target in targets:
        root, source = candidate.root, candidate.relative
        if shared[(root, target)] > 1:
            refused.append(Refused(root, source, target, Refusal.SHARED_TARGET,
                                   f"{shared[(root, target)]} files would move to it"))
        elif (root, target) in sources or occupied(root, target):
            refused.append(Refused(root, source, target, Refusal.TARGET_EXISTS, "a file is already there"))
        else:
            moves.append(TreeMove(root, source, target, candidate.template, candidate.new_template))
    return TreePlan(tuple(sorted(moves, key=lambda m: (m.root, m.source))),
                    tuple(sorted(refused, key=lambda r: (r.root, r.source))))


# -- sidecars follow their folders -------------------------------------------------------
def sidecar_moves(plan: TreePlan, sidecars: Iterable[tuple[str, str]], *, occupied: Occupied) -> TreePlan:
    """``plan`` with each sidecar (a (root, relative path) of :data:`OWN_FILES`) whose folder's files move to
    one other folder moved there too.

    A folder's destination is read from the moves below it: ``a/b/c/f`` to
    ``x/b/c/f`` takes ``a`` to ``x``, ``a/b`` to ``x/b`` and ``a/b/c`` to
    ``x/b/c``; a level inserted or dropped (``a/c/f`` to ``a/b/c/f``) moves
    ``a/c`` to ``a/b/c`` and leaves ``a`` where it is. A sidecar whose
    folder's files go to several places stays, reported: the entity it
    describes was split, and a person decides.
    """
    destinations = _folder_destinations(plan.moves)
    moves, refused = list(plan.moves), list(plan.refused)
    for root, source in sidecars:
        folder, _, name = source.rpartition("/")
        places = destinations.get((root, folder))
        if not places:
            continue
        if len(places) > 1:
            refused.append(Refused(root, source, None, Refusal.SIDECAR_SPLIT,
                                   "its folder's files move to " + ", ".join(sorted(places))))
            continue
        target = _join(next(iter(places)), name)
        if occupied(root, target):
            refused.append(Refused(root, source, target, Refusal.TARGET_EXISTS, f"a {name} is already there"))
        else:
            moves.append(TreeMove(root, source, target))
    return TreePlan(tuple(moves), tuple(refused))


def _folder_destinations(moves: Iterable[TreeMove]) -> dict[tuple[str, str], set[str]]:
    """For each folder a move leaves, the folders its files arrive in (identity excluded)."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for move in moves:
        source, target = move.source.split("/")[:-1], move.target.split("/")[:-1]
        shared = _common_tail(source, target)
        for keep in range(shared + 1):  # the parent, then each ancestor the two paths still share the tail of
            before = "/".join(source[:len(source) - keep])
            after = "/".join(target[:len(target) - keep])
            if not _nested(before, after):
                found[(move.root, before)].add(after)
    return found


def _nested(a: str, b: str) -> bool:
    """Whether one folder is the other or holds it: a level inserted or dropped above the files, which
    leaves the folder itself where it was."""
    return a == b or (a + "/").startswith(b + "/") or (b + "/").startswith(a + "/") or not a or not b


def _common_tail(a: list[str], b: list[str]) -> int:
    count = 0
    while count < min(len(a), len(b)) and a[-1 - count] == b[-1 - count]:
        count += 1
    return count


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name
