"""Claiming a version folder, building it aside, and putting it in place whole; cleaning up after a killed publish.

The invariants (docs/cli.md, ``publish``):

- **One version, one publisher.** A version number is claimed by
  ``mkdir`` of its folder (``publish/v003``), which succeeds for exactly one
  process: a publish that loses the race claims the next number. Two
  publishes never share or overwrite a version.
- **Never a partial version in place.** The claimed folder stays empty
  while the files are copied into a *staging* folder beside it
  (``publish/.bifrost-publish-<id>``); the version's sidecar is written
  there last, and the staging folder is then renamed over the empty claimed
  folder (a rename onto an empty folder is atomic). A scan or the watcher
  sees either no version or the whole one; ``latest`` never sees a half.
- **A killed publish is cleaned up by the next one.** The publisher holds an
  exclusive ``flock`` on the staging folder's lock file for its whole run. A
  staging folder whose lock is free belongs to a dead publisher: the next
  publish into that parent folder removes it, and its claimed folder when
  still empty, so the number is free again.

A staging folder is made under a temp name with its lock already held and
only then renamed to ``.bifrost-publish-*``, so a cleaner never sees one
whose owner has not locked it yet.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..atomic_write import TEMP_PREFIX
from ..authored import LOCK_NAME

__all__ = ["CLAIM_NAME", "STAGING_PREFIX", "Staging", "clean_stale", "staging_folders"]

STAGING_PREFIX = ".bifrost-publish-"
#: In a staging folder: the name of the version folder it claimed (so a cleaner can free it).
CLAIM_NAME = ".bifrost-publish-claim"


def staging_folders(parent: Path) -> list[Path]:
    """The staging folders in ``parent`` (in flight, or left by a killed publish)."""
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    return [parent / n for n in sorted(names) if n.startswith(STAGING_PREFIX)]


def clean_stale(parent: Path) -> list[str]:
    """Remove the staging folders of dead publishers in ``parent`` (and their claimed folders, when empty).

    Returns the version folders freed (names). A staging folder whose lock is
    held (a publish in flight) is left alone.
    """
    freed = []
    for staging in staging_folders(parent):
        try:
            fd = os.open(staging / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue  # not a staging folder this code made; leave it to a person
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            claimed = _claimed(staging)
            shutil.rmtree(staging)
            if claimed and _remove_if_empty(parent / claimed):
                freed.append(claimed)
        finally:
            os.close(fd)
    return freed


def _claimed(staging: Path) -> str | None:
    try:
        name = (staging / CLAIM_NAME).read_text().strip()
    except FileNotFoundError:
        return None
    return name if name and "/" not in name and not name.startswith(".") else None


def _remove_if_empty(folder: Path) -> bool:
    try:
        folder.rmdir()
    except FileNotFoundError:
        return False
    except OSError:  # not empty: a whole version, or a person's files; never removed
        return False
    return True


@dataclass
class Staging:
    """One publisher's staging folder in ``parent``, locked while it lives; see the module docstring."""

    parent: Path
    path: Path
    lock_fd: int
    claimed: str | None = None

    @classmethod
    def create(cls, parent: Path) -> Staging:
        """A new staging folder, its lock held, under its final ``.bifrost-publish-*`` name."""
        parent.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        temp = parent / f"{TEMP_PREFIX}{token}"
        temp.mkdir()
        fd = os.open(temp / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = parent / f"{STAGING_PREFIX}{token}"
        os.rename(temp, path)
        return cls(parent, path, fd)

    def claim(self, name: str) -> bool:
        """Claim the version folder ``name`` in the parent: True when this publisher made it."""
        (self.path / CLAIM_NAME).write_text(name)  # before the mkdir: a cleaner can always free what was claimed
        try:
            os.mkdir(self.parent / name)
        except FileExistsError:
            return False
        self.claimed = name
        return True

    def put_in_place(self) -> None:
        """Rename the staging folder over its empty claimed folder, and make the rename durable."""
        assert self.claimed is not None
        os.unlink(self.path / CLAIM_NAME)
        os.rename(self.path, self.parent / self.claimed)
        self.path = self.parent / self.claimed
        fd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def abandon(self) -> None:
        """Undo: remove the staging folder and free the claimed number (a failed, not a killed, publish)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self.claimed is not None:
            _remove_if_empty(self.parent / self.claimed)

    def release(self) -> None:
        os.close(self.lock_fd)
