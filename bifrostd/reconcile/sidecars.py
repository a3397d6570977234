"""Indexing the sidecar files a walk or a dirty batch observed, after its plan is applied.

Sidecars are files like any other: the walk and the watcher find them, the
catalog records them. This step reads each one observed as new or changed
(``authored.read_sidecar``) and hands the read to ``Catalog.index_sidecar``,
which keeps the last good values of a broken one. A sidecar is read here,
at the edge, never by the pure planner. Because a walk of an empty catalog
observes every file, ``rm catalog.db && bifrostctl scan`` rebuilds the
authored data with the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ..authored import SIDECAR_NAME, read_sidecar
from ..model import FileState

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..templates import TemplateSet

__all__ = ["index_sidecars", "sidecar_folders"]


def sidecar_folders(files: Iterable[FileState]) -> list[tuple[str, str]]:
    """(root, folder) of every observed sidecar, in order, each once."""
    found = {(f.root, f.relative.rpartition("/")[0]): None
             for f in files if f.relative.rpartition("/")[2] == SIDECAR_NAME}
    return list(found)


def index_sidecars(catalog: Catalog, template_set: TemplateSet, files: Iterable[FileState]) -> int:
    """Read and index every observed sidecar, with the entity whose folder holds it; returns how many."""
    from .plan import Classifier

    folders = sidecar_folders(files)
    classifier = Classifier(template_set) if folders else None
    for root, folder in folders:
        base = template_set.root_path(root).rstrip("/")
        found = template_set.match_relative(root, folder) if folder else None
        entity = found.entity if found is not None and not found.ambiguous else None
        rows = classifier.entity_rows(entity) if classifier is not None and entity is not None else ()
        catalog.index_sidecar(root, folder, read_sidecar(f"{base}/{folder}" if folder else base), rows)
    return len(folders)
