"""Forgetting missing files: the catalog stops expecting files that were deleted on purpose.

A file that vanishes from disk keeps its record, marked missing: ``drift``
reports it, a file that reappears with the same content elsewhere is seen as
a move, and its history stays in the log. When the deletion was meant (an
old version cleared, a shot omitted), ``bifrostctl forget`` removes those
records, logging a ``forgotten`` event for each, so that ``drift`` is clean
again. Only missing records are ever forgotten: a file on disk under a
target is left alone. Mirrored copies are untouched; the mirror already
treats a missing file's objects as those of a deleted file.

Plan, then execute: :func:`plan_forget` only reads, so ``--dry-run`` needs no
writer; :func:`execute_forget` deletes, in one transaction, the planned
records that are still missing at that moment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ResolveError
from ..model import FileRecord
from .targets import find_entity, split_folder

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates import TemplateSet

SCHEMA = "bifrost.forget.1"


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    """The missing records the targets select, in path order, without duplicates."""

    targets: tuple[str, ...]
    records: tuple[FileRecord, ...]


@dataclass(frozen=True, slots=True)
class ForgetReport:
    plan: ForgetPlan
    dry_run: bool
    forgotten: tuple[int, ...] = ()

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        """The report; ``files`` lists the first ``limit`` records (all by default), ``omitted`` counts the rest."""
        done = set(self.forgotten)
        records = [r for r in self.plan.records if self.dry_run or r.id in done]
        shown = records if limit is None else records[:limit]
        return {"targets": list(self.plan.targets), "dry_run": self.dry_run, "count": len(records),
                "kept": 0 if self.dry_run else len(self.plan.records) - len(records),
                "files": [{"root": r.root, "path": r.relative, "template": r.classification.template,
                           "entity": r.classification.entity_uri, "size": r.size} for r in shown],
                "omitted": len(records) - len(shown)}


def plan_forget(catalog: Catalog, template_set: TemplateSet, targets: Sequence[str], *, everything: bool = False) -> ForgetPlan:
    """The missing records under each target (a path under a root, or a ``bifrost:///`` reference).

    ``everything`` selects every missing record; a target that names no root
    or no catalogued entity raises ResolveError before anything is selected.
    """
    from ..templates import is_reference

    if not targets and not everything:
        raise ResolveError("name what to forget (a path or a bifrost:/// reference), or use --all")
    selections: list[dict[str, Any]] = [{}] if everything else []
    for target in targets:
        if is_reference(target):
            selections.append({"entity_id": find_entity(catalog, template_set, target).id})
        else:
            root, relative = split_folder(template_set, target)
            selections.append({"root": root, "folder": relative})
    chosen: dict[int, FileRecord] = {}
    for selection in selections:
        for record in catalog.missing(**selection):
            chosen.setdefault(record.id, record)
    ordered = sorted(chosen.values(), key=lambda r: (r.root, r.relative))
    return ForgetPlan(tuple(targets) or ("--all",), tuple(ordered))


def execute_forget(catalog: Catalog, template_set: TemplateSet, plan: ForgetPlan, *, source: str = "command") -> ForgetReport:
    """Forget the planned records that are still missing; a record whose file is back is kept.

    "Back" is checked twice: on disk (one ``lstat`` each, for a file restored
    that no scan has seen yet) and in the catalog, inside the deleting
    transaction (for one a scan or the watcher has registered meanwhile).
    """
    gone = [r.id for r in plan.records if not os.path.lexists(_absolute(template_set, r))]
    forgotten = catalog.forget(gone, source=source) if gone else []
    return ForgetReport(plan, dry_run=False, forgotten=tuple(forgotten))


def _absolute(template_set: TemplateSet, record: FileRecord) -> str:
    return os.path.join(template_set.root_path(record.root), record.relative)
