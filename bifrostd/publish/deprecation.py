"""Deprecating a version: a flag in its sidecar that ``version=latest`` skips; nothing is deleted.

``deprecated: true`` and who, when and why (``deprecation:``) are written
to the version folder's sidecar by read-modify-write under its lock
(``authored.update_sidecar``), so a deprecation never loses a concurrent
change to the same sidecar, and undeprecating keeps the publish record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from ..authored import Authored, Deprecation, update_sidecar
from ..errors import PublishError
from ..templates import is_reference
from ..templates.references import resolve_reference
from ..templates.resolution import resolve_path
from ..templates.templateset import TemplateSet

__all__ = ["DeprecationResult", "VersionFolder", "set_deprecated", "version_folder"]


@dataclass(frozen=True, slots=True)
class VersionFolder:
    """A version's reference and its folder (root, root-relative and absolute)."""

    uri: str
    root: str
    relative: str
    path: str

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "root": self.root, "folder": self.relative, "path": self.path}


@dataclass(frozen=True, slots=True)
class DeprecationResult:
    """A version's flag as written (or, for a dry run, as it would be), and how the catalog learnt of it."""

    version: VersionFolder
    deprecated: bool
    deprecation: Deprecation
    dry_run: bool = False
    recorded: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version.to_json(), "deprecated": self.deprecated,
                "deprecation": self.deprecation.to_json(), "dry_run": self.dry_run, "recorded": self.recorded}


def version_folder(template_set: TemplateSet, target: str) -> VersionFolder:
    """The version a reference or a path (one of its files, or its folder) names, and its folder."""
    uri = target if is_reference(target) else _uri_of_path(template_set, target)
    resolved = resolve_reference(template_set, uri.partition("?")[0])
    if resolved.entity.kind != "version":
        raise PublishError(f"{target}: names a {resolved.entity.kind}, not a version")
    template = resolved.template
    if not os.path.isdir(resolved.path):
        raise PublishError(f"{target}: the version has no folder {resolved.path} (only a published version, "
                           "with its own folder, can be deprecated)")
    return VersionFolder(resolved.entity.uri(template_set.entities), template.root, template.format(resolved.fields),
                         resolved.path)


def _uri_of_path(template_set: TemplateSet, path: str) -> str:
    answer = resolve_path(template_set, path)
    found = answer.match
    if answer.reason is not None or found is None or found.entity is None:
        raise PublishError(f"{path}: {answer.reason or 'names no entity'}")
    return found.entity.uri(template_set.entities)


def set_deprecated(folder: VersionFolder, deprecated: bool, *, user: str, time_text: str, comment: str = "",
                   dry_run: bool = False) -> DeprecationResult:
    """Write the flag and who/when/why to the version's sidecar (unless ``dry_run``)."""
    record = Deprecation(user, time_text, comment)
    if not dry_run:
        update_sidecar(folder.path, lambda data: _flagged(data, deprecated, record))
    return DeprecationResult(folder, deprecated, record, dry_run)


def _flagged(data: Authored, deprecated: bool, record: Deprecation) -> Authored:
    return replace(data, deprecated=deprecated, deprecation=record)
