"""Holding entities to their folder skeleton: which skeleton folders are missing, and making them.

Only entities with a sidecar are held to it: those ``create`` made (or that
someone authored something about). A tree that predates Bifrost was never
laid out by its skeleton, and every shot without a ``color`` folder is not
news. ``bifrostctl skeleton check`` and ``drift`` list the missing folders;
``skeleton fix`` makes them as ``create`` does (modes, groups, no symlink
followed), leaving sidecars as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .create import CreatePlan, as_now, execute_create, plan_create

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates.templateset import TemplateSet

__all__ = ["MissingFolder", "fix_skeletons", "missing_skeleton_folders"]


@dataclass(frozen=True, slots=True)
class MissingFolder:
    """A skeleton folder of ``entity`` that is not on disk."""

    entity: str
    root: str
    relative: str
    path: str

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "root": self.root, "folder": self.relative, "path": self.path}


def held_entities(catalog: Catalog, template_set: TemplateSet, under: str | None = None) -> list[str]:
    """The references of the entities with a sidecar (at or below ``under``, a canonical reference)."""
    found: dict[str, None] = {}
    for root, folder in catalog.authored_folders():
        match = template_set.match_relative(root, folder) if folder else None
        entity = match.entity if match is not None and not match.ambiguous else None
        if entity is None:
            continue
        if under is None or any(e.uri(template_set.entities) == under for e in entity.ancestry()):
            found[entity.uri(template_set.entities)] = None
    return list(found)


def skeleton_plans(template_set: TemplateSet, references: Iterable[str],
                   exists: Callable[[str], bool] = os.path.isdir) -> list[CreatePlan]:
    """Each entity's create plan: its skeleton, and the parents it needs."""
    return [plan_create(template_set, uri, exists=exists) for uri in references]


def missing_skeleton_folders(template_set: TemplateSet, plans: Iterable[CreatePlan]) -> list[MissingFolder]:
    """The entities' own skeleton folders that are missing, by entity then path (a missing parent is
    reported by the parent entity, if it is held to its skeleton)."""
    return [MissingFolder(plan.uri, folder.root, folder.relative, folder.path)
            for plan in plans for folder in plan.to_make if folder.own]


def fix_skeletons(template_set: TemplateSet, plans: Iterable[CreatePlan]) -> list[str]:
    """Make the missing folders of ``plans``, parents included (sidecars left as they are); the paths made."""
    made: list[str] = []
    for plan in plans:
        if plan.to_make:
            made += execute_create(template_set, replace(plan, folders=as_now(plan))).made
    return made

