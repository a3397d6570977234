"""Rebuilding the catalog: the damaged file is moved aside (kept, never deleted), the roots scanned into a new one.

The tree is the truth for files, entities and frame sequences, so a scan
brings them back. What is only in the catalog does not come back: the
activity log and the scan history start again, and the mirror's record of
what each bucket holds is empty, so each target's next run sends every file
again, to the same keys. The old file stays beside the new one, named
``catalog-damaged-<UTC time>.db`` with its ``-wal`` and ``-shm`` under the
same name, so SQLite can still open it to salvage what is readable.

Plan, then execute: :func:`plan_rebuild` decides the moves (what
``--dry-run`` prints); :func:`move_aside` makes them. While it runs, the
rebuild holds the state folder as a daemon would (``bifrostd.pid``), so no
daemon starts on a half-built catalog, and the catalog's writer lock, so no
scan writes meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.connection import WriterLock
from ..catalog.integrity import CheckReport
from ..errors import BifrostError, CatalogBusy, DaemonRunning
from ..catalog.state_lock import StateLock, holder_pid

SCHEMA = "bifrost.catalog-rebuild.1"
#: SQLite's companions of a database file, moved with it (the WAL holds committed changes not yet in the file).
COMPANIONS = ("", "-wal", "-shm")


@dataclass(frozen=True, slots=True)
class Move:
    source: Path
    target: Path


@dataclass(frozen=True, slots=True)
class RebuildPlan:
    catalog: Path
    check: CheckReport | None  # None when there is no catalog to move
    moves: tuple[Move, ...]
    roots: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"catalog": str(self.catalog), "check": self.check.to_json() if self.check else None,
                "moved": [{"from": str(m.source), "to": str(m.target)} for m in self.moves],
                "roots": list(self.roots)}


def aside_path(catalog: Path, stamp: str, exists=os.path.lexists) -> Path:
    """``catalog-damaged-<stamp>.db`` beside the catalog, with a counter should that name be taken."""
    for n in range(1000):
        name = f"{catalog.stem}-damaged-{stamp}{f'-{n}' if n else ''}{catalog.suffix}"
        target = catalog.with_name(name)
        if not any(exists(target.with_name(target.name + c)) for c in COMPANIONS):
            return target
    raise BifrostError(f"too many damaged catalogs named {catalog.stem}-damaged-{stamp}* in {catalog.parent}")


def plan_rebuild(catalog: Path, check: CheckReport | None, roots: tuple[str, ...], *, stamp: str,
                 force: bool, exists=os.path.lexists) -> RebuildPlan:
    """The moves that put the catalog and its companions aside; a sound catalog is kept unless ``force``."""
    if check is not None and check.ok and not force:
        raise BifrostError(f"the catalog {catalog} passed its quick check; a rebuild would lose its activity log and "
                           "the mirror's record of each bucket (each target's next run would send every file "
                           "again); to rebuild it all the same, add --force")
    aside = aside_path(catalog, stamp, exists)
    moves = tuple(Move(catalog.with_name(catalog.name + c), aside.with_name(aside.name + c))
                  for c in COMPANIONS if exists(catalog.with_name(catalog.name + c)))
    return RebuildPlan(catalog, check, moves if check is not None else (), roots)


def move_aside(plan: RebuildPlan) -> None:
    """Rename the catalog's files to their new names (same folder: nothing is copied), then sync the folder."""
    for move in plan.moves:
        os.rename(move.source, move.target)
    if plan.moves:
        fd = os.open(plan.catalog.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def refuse_if_held(state_dir: Path) -> None:
    """What a rebuild's dry run says when a daemon holds the state folder (the rebuild itself would refuse)."""
    pid = holder_pid(state_dir)
    if pid is not None:
        raise _held(pid, state_dir)


@contextmanager
def holding(state_dir: Path, catalog: Path) -> Iterator[WriterLock]:
    """The state folder (as a daemon holds it) and the catalog's writer lock, for the rebuild's duration."""
    try:
        state = StateLock(state_dir).acquire()
    except DaemonRunning as running:
        raise _held(running.fields["pid"], state_dir) from None
    writer = WriterLock(catalog)
    try:
        writer.acquire()
        yield writer
    finally:
        writer.release()
        state.release()


def _held(pid: Any, state_dir: Path) -> CatalogBusy:
    return CatalogBusy(f"bifrostd (pid {pid}) holds the state folder {state_dir}; stop it first ('bifrostctl "
                       "daemon stop', or 'systemctl stop bifrostd' under systemd), then run the rebuild again")
