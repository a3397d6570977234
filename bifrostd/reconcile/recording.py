"""Recording what a command wrote in the tree (a publish, a deprecation, a tag, a created entity) in the
catalog, as a scan of those paths would.

Without a daemon, the command is the catalog's one writer for a moment: it
runs the watcher's reconcile (``reconcile.dirty.apply_dirty``) on the paths
it wrote, so ``versions`` and ``version=latest`` see the change at once.
With a daemon holding the catalog, the command leaves it to the daemon,
whose watcher sees the new folder or sidecar (and whose walks are the
truth should the watcher miss it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..catalog import Catalog
from ..catalog.state_lock import holder_pid
from ..errors import CatalogBusy
from ..observe.settle import Dirty
from ..templates.templateset import TemplateSet
from .dirty import apply_dirty

__all__ = ["Recorded", "record_paths"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """How the catalog learnt of the change: ``catalog`` (written now), ``daemon`` (its watcher sees it), or
    ``pending`` (another command held the catalog too long: the next scan records it)."""

    by: str
    actions: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "actions": self.actions}


def record_paths(catalog_path: Path, template_set: TemplateSet, root: str, paths: list[tuple[str, bool]], *,
                 wait_s: float = 10.0, sleep: Callable[[float], None] = time.sleep, source: str = "watch") -> Recorded:
    """Reconcile ``paths`` ((root-relative path, is a folder)) of ``root`` into the catalog, unless a daemon
    writes it. Another one-shot writer (a racing publish, a scan) is waited for, up to ``wait_s``.
    ``source`` names who saw the change in the activity log."""
    catalog = None
    for _ in range(max(1, int(wait_s / 0.05))):
        try:
            catalog = Catalog.open(catalog_path, write=True)
            break
        except CatalogBusy:
            if holder_pid(catalog_path.parent) is not None:
                return Recorded("daemon")
            sleep(0.05)
    if catalog is None:
        return Recorded("pending")
    with catalog:
        dirty = [Dirty(root, relative, is_dir) for relative, is_dir in paths]
        report = apply_dirty(catalog, template_set, root, dirty, settle_ns=0, source=source)
    return Recorded("catalog", report.actions)
