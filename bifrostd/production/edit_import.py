"""``shots import``: read an edit, gather what the studio holds, plan (:mod:`.edit_plan`), then apply.

Applying creates what is new exactly as ``create`` does (folders and
sidecar, through :func:`~bifrostd.production.create.create_entities`, all
or nothing) and writes each changed cut range into the shot's sidecar
(:func:`~bifrostd.authored.update_sidecar`, read-modify-write under its
lock, so the rest of the sidecar is kept). Nothing is ever deleted: shots
the cut no longer has are reported. The plan is refused whole, before
anything is written, when a clip's name is refused or a change would leave
rendered frames outside a shot's new range without ``force``.

The studio's state comes from the catalog (the shots of the cut's
sequences, and their rendered frames: the present frames of the frame
sequences at or below each shot) and from each shot's sidecar, which is the
truth for its frame range. Without a catalog yet, only sidecars on disk are
known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..authored import SIDECAR_NAME, Authored, FrameRange, read_sidecar, update_sidecar
from ..errors import EditRefused, FieldValueError, ResolveError, SidecarBroken
from ..templates.references import resolve_reference
from .create import CreateReport, Values, create_entities, plan_create, record_created
from .edit_plan import CutShot, EditPlan, KnownShot, Naming, compile_pattern, name_clips, plan_edit
from .edit_read import parse_rate, read_edit
from .ranges import frames_by_sequence
from .rows import frame_range, request_of

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates.templateset import TemplateSet

__all__ = ["EditImport", "EditOptions", "apply_edit", "edit_options", "import_edit", "prepare_edit"]


@dataclass(frozen=True, slots=True)
class EditOptions:
    """How to read and name the cut: ``shots import``'s options."""

    project: str
    naming: Naming = field(default_factory=Naming)
    rate: Fraction | None = None
    start: int = 1001
    handles: tuple[int, int] | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class EditImport:
    """A plan, and what applying it did (nothing in a dry run or a refused plan)."""

    edit: str
    plan: EditPlan
    dry_run: bool = True
    created: CreateReport | None = None
    updated: tuple[str, ...] = ()
    recorded: str = ""

    def to_json(self) -> dict[str, Any]:
        made = [] if self.created is None else [r.plan.uri for r in self.created.results]
        return {"edit": self.edit, "dry_run": self.dry_run, **self.plan.to_json(), "created": made,
                "updated": list(self.updated), "recorded": self.recorded or None}


def edit_options(project: str, *, rate: str | None = None, sequence: str | None = None,
                 name_pattern: str | None = None, start: int = 1001, handles: str | None = None,
                 force: bool = False) -> EditOptions:
    """The options from their text forms (as a command line gives them); FieldValueError for a bad one."""
    try:
        naming = Naming(compile_pattern(name_pattern), sequence) if name_pattern else Naming(sequence=sequence)
    except ValueError as error:
        raise FieldValueError(str(error)) from None
    range_ = frame_range(f"{start}-{start}", handles) if handles is not None else None
    return EditOptions(project, naming, parse_rate(rate) if rate else None, start,
                       None if range_ is None else (range_.handle_in, range_.handle_out), force)


def prepare_edit(template_set: TemplateSet, catalog_path: Path, path: Path, options: EditOptions) -> EditPlan:
    """Read the edit at ``path`` and plan its import against the catalog and the shots' sidecars."""
    clips = read_edit(path, options.rate)
    shots, refused = name_clips(clips, options.naming, _checker(template_set, options.project), start=options.start)
    known, sequences = gather(template_set, catalog_path, shots)
    return plan_edit(shots, known, sequences, refused=refused, handles=options.handles)


def _checker(template_set: TemplateSet, project: str) -> Callable[[str, str], tuple[str, str]]:
    """Names to (sequence, shot) references, or ValueError with the rule of the key that refuses one."""

    def check(sequence: str, shot: str) -> tuple[str, str]:
        where = f"{sequence}/{shot}"
        try:
            sequence_uri = request_of(template_set, where, {"kind": "sequence", "project": project,
                                                            "sequence": sequence})[0]
            uri = request_of(template_set, where, {"kind": "shot", "project": project, "sequence": sequence,
                                                   "shot": shot})[0]
            plan_create(template_set, uri, exists=lambda _: False)  # every key's rule, and a folder to make
        except (FieldValueError, ResolveError) as error:
            raise ValueError(str(error)) from None
        return sequence_uri, uri
    return check


def gather(template_set: TemplateSet, catalog_path: Path,
           shots: Iterable[CutShot]) -> tuple[dict[str, KnownShot], set[str]]:
    """The known shots of the cut's sequences (and the cut's shots known on disk only), and the known sequences."""
    from ..catalog import Catalog

    cut = list(shots)
    known: dict[str, KnownShot] = {}
    sequences: set[str] = set()
    if catalog_path.exists():
        with Catalog.open(catalog_path) as catalog:
            for sequence_uri in dict.fromkeys(s.sequence_uri for s in cut):
                sequences |= _catalogued(catalog, template_set, sequence_uri, known)
    for shot in cut:
        if shot.uri not in known and os.path.isdir(resolve_reference(template_set, shot.uri).path):
            known[shot.uri] = KnownShot(shot.uri, shot.sequence_uri, _frames_of(template_set, shot.uri))
        if shot.sequence_uri not in sequences and os.path.isdir(resolve_reference(template_set,
                                                                                  shot.sequence_uri).path):
            sequences.add(shot.sequence_uri)
    return known, sequences


def _catalogued(catalog: Catalog, template_set: TemplateSet, sequence_uri: str,
                known: dict[str, KnownShot]) -> set[str]:
    entity = catalog.entity_by_uri(sequence_uri)
    if entity is None:
        return set()
    for shot in catalog.children(entity.id):
        if shot.kind == "shot":
            known[shot.uri] = KnownShot(shot.uri, sequence_uri, _frames_of(template_set, shot.uri),
                                        rendered_frames(catalog, shot.id))
    return {sequence_uri}


def rendered_frames(catalog: Catalog, entity_id: int) -> dict[str, tuple[int, ...]]:
    """The present frames of the frame sequences at or below an entity, by ``ROOT:PATTERN``."""
    return {pattern: tuple(f for f, _ in items) for pattern, items in frames_by_sequence(catalog, entity_id).items()}


def _frames_of(template_set: TemplateSet, uri: str) -> FrameRange | None:
    read = read_sidecar(resolve_reference(template_set, uri).path)
    return read.data.frames if read.data is not None else None


def apply_edit(template_set: TemplateSet, catalog_path: Path, edit: str, plan: EditPlan, *,
               force: bool = False) -> EditImport:
    """Create the new sequences and shots, write the changed ranges; EditRefused (nothing written) when the
    plan has refused names, or strands rendered frames without ``force``."""
    refuse(plan, force=force)
    changed = [s for s in plan.changes if s.action == "changed"]
    _readable([resolve_reference(template_set, s.uri).path for s in changed])
    new = [(uri, Values()) for uri in plan.new_sequences]
    new += [(s.uri, Values(frames=s.frames)) for s in plan.changes if s.action == "new"]
    created = create_entities(template_set, catalog_path, new) if new else None
    for shot in changed:
        update_sidecar(resolve_reference(template_set, shot.uri).path, _set_frames(shot.frames), ensure=True)
    recorded = created.recorded if created is not None else ""
    if changed:
        recorded = record_created(catalog_path, template_set, [plan_create(template_set, s.uri) for s in changed])
    return EditImport(edit, plan, False, created, tuple(s.uri for s in changed), recorded)


def _readable(folders: list[str]) -> None:
    """SidecarBroken for the first broken sidecar among ``folders``, before anything is written."""
    for folder in folders:
        read = read_sidecar(folder)
        if read.data is None:
            raise SidecarBroken(str(Path(folder) / SIDECAR_NAME), list(read.problems))


def _set_frames(frames: FrameRange) -> Callable[[Authored], Authored]:
    return lambda data: replace(data, frames=frames)


def refuse(plan: EditPlan, *, force: bool) -> None:
    """Raise EditRefused when the plan may not be applied as it stands."""
    if plan.refused:
        listing = "\n".join(f"  {r.clip}: {r.reason}" for r in plan.refused)
        raise EditRefused(f"{len(plan.refused)} clip(s) name no shot the templates accept; nothing was changed:\n"
                          f"{listing}")
    if plan.stranding and not force:
        listing = "\n".join(f"  {s.uri}: {t.sequence} frames {t.to_json()['frames']}"
                            for s in plan.stranding for t in s.stranded)
        raise EditRefused(f"{len(plan.stranding)} shot(s) would leave rendered frames outside their new range; "
                          f"nothing was changed (--force applies it anyway):\n{listing}")


def import_edit(template_set: TemplateSet, catalog_path: Path, path: Path, options: EditOptions, *,
                dry_run: bool = False) -> EditImport:
    """Plan the import of the edit at ``path``; unless ``dry_run``, apply it."""
    plan = prepare_edit(template_set, catalog_path, path, options)
    if dry_run:
        return EditImport(str(path), plan)
    return apply_edit(template_set, catalog_path, str(path), plan, force=options.force)
