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
    """Read and index every observed sidecar; returns how many were indexed."""
    folders = sidecar_folders(files)
    for root, folder in folders:
        base = template_set.root_path(root).rstrip("/")
        catalog.index_sidecar(root, folder, read_sidecar(f"{base}/{folder}" if folder else base))
    return len(folders)
