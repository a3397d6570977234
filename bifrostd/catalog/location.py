"""Where the catalog may live: a local filesystem, never a network one.

SQLite's locking and WAL need every process on one host with working POSIX
locks; over NFS, SMB and friends a catalog can corrupt silently. So the
catalog refuses to open there. The filesystem type of the catalog's folder is
read from the mount table (``bifrostd.observe.mounts``); the table is a
parameter, so tests hand in a fake one instead of needing a real NFS mount.
Where no mount table exists (macOS, Windows) the check is skipped.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CatalogLocationError
from ..observe.mounts import MountTable, filesystem_of, is_network, system_mounts

__all__ = ["MountTable", "check_local", "system_mounts"]


def check_local(catalog_path: Path, *, mounts: MountTable = system_mounts) -> None:
    """Raise CatalogLocationError if the catalog's folder is on a network filesystem."""
    folder = catalog_path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    mount = filesystem_of(folder, mounts())
    if mount is not None and is_network(mount.fstype):
        raise CatalogLocationError(path=str(catalog_path), fstype=mount.fstype)
