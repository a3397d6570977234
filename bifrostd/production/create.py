"""Creating entities: their folder skeleton and their sidecar, planned first, then made.

``bifrostctl create REF`` (and :meth:`bifrostd.api.Studio.create`) plans the
folders the templates fix for the entity (:mod:`bifrostd.templates.skeleton`):
its own folders and the parents they need, each marked as existing or to be
made. Making them goes through ``observe.safe_paths``, one name at a time
below the root's folder, so a symlink planted in the tree is refused, never
followed; a folder made gets its template's mode (``chmod`` after ``mkdir``,
so the umask does not strip a setgid bit) and group. Existing folders are
left as they are. The entity's sidecar is written last (with the authored
values given, if any), which is what makes the entity known to the catalog
before it has files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from ..authored import Authored, FrameRange, update_sidecar
from ..errors import CreateRefused, ResolveError
from ..templates.references import resolve_reference
from ..templates.skeleton import SkeletonFolder, skeleton_folders
from ..templates.templateset import TemplateSet, join_root

__all__ = ["CreatePlan", "CreateReport", "CreateResult", "Folder", "Values", "create_entities", "execute_create",
           "plan_create", "record_created", "undo_create"]


@dataclass(frozen=True, slots=True)
class Values:
    """Authored values given on creation; None or empty: leave the sidecar's as they are."""

    description: str | None = None
    frames: FrameRange | None = None
    tags: tuple[str, ...] = ()

    def apply(self, data: Authored) -> Authored:
        changed = data
        if self.description is not None:
            changed = replace(changed, description=self.description)
        if self.frames is not None:
            changed = replace(changed, frames=self.frames)
        if self.tags:
            changed = replace(changed, tags=tuple(dict.fromkeys((*changed.tags, *self.tags))))
        return changed


@dataclass(frozen=True, slots=True)
class Folder:
    """One folder of the plan: where, whose, and whether it is there already."""

    root: str
    relative: str
    path: str
    own: bool
    exists: bool
    mode: int | None = None
    group: str | None = None
    templates: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "relative": self.relative, "path": self.path, "own": self.own,
                "exists": self.exists, "mode": None if self.mode is None else f"{self.mode:04o}",
                "group": self.group, "templates": list(self.templates)}


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """What ``create`` would do for one entity."""

    uri: str
    kind: str
    #: The entity's folder, where its sidecar goes.
    folder: str
    root: str
    relative: str
    folders: tuple[Folder, ...]
    values: Values = field(default_factory=Values)

    @property
    def to_make(self) -> tuple[Folder, ...]:
        return tuple(f for f in self.folders if not f.exists)

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "kind": self.kind, "folder": self.folder,
                "folders": [f.to_json() for f in self.folders], "to_make": len(self.to_make)}


@dataclass(frozen=True, slots=True)
class CreateResult:
    plan: CreatePlan
    made: tuple[str, ...]
    authored: Authored

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "made": list(self.made), "authored": self.authored.to_json()}


def plan_create(template_set: TemplateSet, uri: str, values: Values = Values(), *,
                exists: Callable[[str], bool] = os.path.isdir) -> CreatePlan:
    """The folders to make for the entity ``uri`` names (a ``bifrost:///`` reference), and which exist.

    Raises FieldValueError (naming the key and its rule) for a value a key
    refuses, and ResolveError for a reference that names no whole entity or
    whose kind has no folder template.
    """
    resolved = resolve_reference(template_set, uri)
    entity = resolved.entity
    kind = template_set.entities[entity.kind]
    fields = dict(resolved.fields)
    skeleton = skeleton_folders(template_set.templates, frozenset(kind.keys), fields)
    template = resolved.template
    relative = template.format(resolved.fields)
    if not any(f.root == template.root and f.relative == relative for f in skeleton):
        raise ResolveError(f"{uri}: the templates give a {entity.kind} no folder of its own "
                           f"({template.name!r} names {relative!r}); a template with entity: {entity.kind} "
                           "and a folder path makes one")
    folders = tuple(_folder(template_set, f, exists) for f in skeleton)
    return CreatePlan(entity.uri(template_set.entities), entity.kind, resolved.path, template.root, relative,
                      folders, values)


def _folder(template_set: TemplateSet, folder: SkeletonFolder, exists: Callable[[str], bool]) -> Folder:
    path = join_root(template_set.root_path(folder.root), folder.relative, template_set.os_name)
    return Folder(folder.root, folder.relative, path, folder.own, exists(path), folder.mode, folder.group,
                  folder.templates)


def execute_create(template_set: TemplateSet, plan: CreatePlan) -> CreateResult:
    """Make the plan's missing folders (parents first), then write the entity's sidecar.

    Raises CreateRefused before making anything when a group the templates
    name is unknown on this machine or a root's folder is missing; and for a
    symlink or a file found where a folder goes (nothing is made through it).
    """
    from ..observe.safe_paths import UnsafePath

    groups = _group_ids(f.group for f in plan.to_make)
    bases = {root: Path(template_set.root_path(root)) for root in {f.root for f in plan.folders}}
    missing = sorted(str(base) for base in bases.values() if not base.is_dir())
    if missing:
        raise CreateRefused(f"the root folder {missing[0]} does not exist; nothing was made")
    made: list[str] = []
    try:
        for folder in plan.to_make:
            if _make(bases[folder.root], folder, groups.get(folder.group or "")):
                made.append(folder.path)
    except UnsafePath as unsafe:
        raise CreateRefused(f"{unsafe}; made before it: {len(made)} folder(s)") from None
    except OSError as error:
        raise CreateRefused(f"could not make {error.filename or 'a folder'}: {error.strerror}; "
                            f"made before it: {len(made)} folder(s)") from None
    authored = update_sidecar(plan.folder, plan.values.apply, ensure=True)
    return CreateResult(plan, tuple(made), authored)


def _group_ids(names: Iterable[str | None]) -> dict[str, int]:
    import grp

    ids: dict[str, int] = {}
    for name in sorted({n for n in names if n}):
        try:
            ids[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            raise CreateRefused(f"the group {name!r} the templates give a folder does not exist on this machine; "
                                "nothing was made") from None
    return ids


def _make(base: Path, folder: Folder, gid: int | None) -> bool:
    """Make one folder whose parent exists, without following a symlink below ``base``; True if made."""
    from ..observe.safe_paths import open_child, open_folder

    names = folder.relative.split("/")
    parent = open_folder(base, names[:-1], create=False)
    if parent is None:
        raise CreateRefused(f"the parent of {folder.path} vanished while it was being made")
    try:
        try:
            os.mkdir(names[-1], 0o777, dir_fd=parent)
        except FileExistsError:
            return False
        made = open_child(parent, names[-1], Path(folder.path))  # through the parent just checked
    finally:
        os.close(parent)
    try:
        if gid is not None:
            os.fchown(made, -1, gid)  # before the mode: changing the group may clear a setgid bit
        if folder.mode is not None:
            os.fchmod(made, folder.mode)
    finally:
        os.close(made)
    return True


def undo_create(results: Iterable[CreateResult]) -> None:
    """Take back what ``execute_create`` made for ``results`` (a batch that failed part way): each new
    entity's sidecar and lock, then its folders deepest first, each only if it is empty."""
    from ..authored import LOCK_NAME, SIDECAR_NAME

    for result in reversed(list(results)):
        if result.plan.folder in result.made:  # the entity's folder is new: so are its sidecar and lock
            for name in (SIDECAR_NAME, LOCK_NAME):
                try:
                    os.unlink(Path(result.plan.folder) / name)
                except FileNotFoundError:
                    pass
        for path in reversed(result.made):
            try:
                os.rmdir(path)
            except OSError:
                pass  # not empty (someone saved there meanwhile): left in place


def record_created(catalog_path: Path, template_set: TemplateSet, plans: Iterable[CreatePlan]) -> str:
    """Catalog what ``create`` made, as the watcher would (``reconcile.recording``); says how: ``catalog``
    (written here), ``daemon`` (a running daemon holds the catalog: its watcher records it), ``pending``
    (another command held the catalog too long: the next scan records it), or ``none`` (no catalog yet:
    the first scan records it)."""
    from ..reconcile.recording import record_paths

    if not catalog_path.exists():
        return "none"
    by_root: dict[str, list[tuple[str, bool]]] = {}
    for plan in plans:
        by_root.setdefault(plan.root, []).append((plan.relative, True))
    recorded = "catalog"
    for root, paths in by_root.items():
        recorded = record_paths(catalog_path, template_set, root, paths, source="command").by
        if recorded != "catalog":
            break  # a daemon's watcher, or the next scan, records the rest as well
    return recorded


@dataclass(frozen=True, slots=True)
class CreateReport:
    """What one ``create`` did (or, with ``dry_run``, would do) for every entity asked for."""

    plans: tuple[CreatePlan, ...]
    results: tuple[CreateResult, ...] = ()
    dry_run: bool = False
    #: How the catalog learnt of it: ``catalog``, ``daemon``, ``none`` (see record_created); "" in a dry run.
    recorded: str = ""

    def to_json(self) -> dict[str, Any]:
        items = [r.to_json() for r in self.results] if self.results else [p.to_json() for p in self.plans]
        return {"dry_run": self.dry_run, "entities": items, "recorded": self.recorded or None,
                "folders_to_make": sum(len(p.to_make) for p in self.plans),
                "folders_made": sum(len(r.made) for r in self.results)}


def create_entities(template_set: TemplateSet, catalog_path: Path, requests: Iterable[tuple[str, Values]], *,
                    dry_run: bool = False) -> CreateReport:
    """Plan every entity first (a value a key refuses stops it all before anything is made), then make
    them one by one; if one fails, what the others made is taken back (all or nothing)."""
    plans = tuple(plan_create(template_set, uri, values) for uri, values in requests)
    _refuse_twice(plans)
    if dry_run:
        return CreateReport(plans, dry_run=True)
    results: list[CreateResult] = []
    try:
        for plan in plans:
            results.append(execute_create(template_set, replace(plan, folders=as_now(plan))))
    except BaseException:
        undo_create(results)
        raise
    return CreateReport(plans, tuple(results), recorded=record_created(catalog_path, template_set, plans))


def _refuse_twice(plans: tuple[CreatePlan, ...]) -> None:
    seen: set[str] = set()
    for plan in plans:
        if plan.uri in seen:
            raise CreateRefused(f"{plan.uri} is asked for twice; nothing was made")
        seen.add(plan.uri)


def as_now(plan: CreatePlan) -> tuple[Folder, ...]:
    """The plan's folders as they are now: an earlier entity of the batch may have made shared parents."""
    return tuple(replace(f, exists=os.path.isdir(f.path)) for f in plan.folders)
