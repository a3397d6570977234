"""The journal of a tree migration: its plan, written to the state folder before the first move.

One JSON document (``bifrost.tree-migration.1``), written atomically (a
temp file, fsync, rename), so it is whole or absent. It records every move
and the roots' paths; it records no progress, because a rename is atomic
and leaves its file at exactly one of its two names: which moves are done
is read from the tree itself (:func:`move_state`). That holds through a
``kill -9`` or a power cut between any two moves, and costs no write per
move. The journal is removed once the tree and the catalog agree; while it
exists, every migration refuses to start (``MigrationPending``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Mapping

from ..atomic_write import write_atomic
from ..config import MIGRATION_JOURNAL
from ..errors import MigrationError
from .tree_plan import TreeMove

__all__ = ["JOURNAL_NAME", "SCHEMA", "Journal", "MoveState", "move_state", "read_journal", "remove_journal",
           "write_journal"]

JOURNAL_NAME = MIGRATION_JOURNAL
SCHEMA = "bifrost.tree-migration.1"


@dataclass(frozen=True, slots=True)
class Journal:
    """An unfinished migration: what ran it, the roots' paths when it started, and its moves in order."""

    path: Path
    command: str
    roots: Mapping[str, str]
    moves: tuple[TreeMove, ...]

    def check_roots(self, roots: Mapping[str, str]) -> None:
        """Refuse to resume or roll back with roots elsewhere than when the moves were planned."""
        moved = {name for name in {m.root for m in self.moves} if roots.get(name) != self.roots.get(name)}
        if moved:
            raise MigrationError(f"{self.path}: root(s) {', '.join(sorted(moved))} are not where they were when "
                                 "the migration started; put the config back as it was, then resume or roll back")


def write_journal(state_dir: Path, command: str, roots: Mapping[str, str], moves: tuple[TreeMove, ...]) -> Journal:
    """Write the journal (durably) and return it; the first move may follow."""
    path = state_dir / JOURNAL_NAME
    document = {"schema": SCHEMA, "command": command, "roots": dict(roots),
                "moves": [[m.root, m.source, m.target, m.template, m.new_template] for m in moves]}
    write_atomic(path, json.dumps(document).encode(), mode=0o640, create_folders=True)
    return Journal(path, command, dict(roots), moves)


def read_journal(state_dir: Path) -> Journal | None:
    """The unfinished migration's journal, or None when there is none."""
    path = state_dir / JOURNAL_NAME
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MigrationError(f"cannot read the migration journal {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise MigrationError(f"{path} is not a journal this version reads (schema {SCHEMA})")
    moves = tuple(TreeMove(*row) for row in document["moves"])
    return Journal(path, document["command"], document["roots"], moves)


def remove_journal(journal: Journal) -> None:
    """The migration is over: tree and catalog agree."""
    os.unlink(journal.path)


class MoveState(str, Enum):
    """Where one move stands, read from the tree."""

    TO_DO = "to-do"        # the file is at its source only
    DONE = "done"          # the file is at its target only
    CONFLICT = "conflict"  # something is at both names: someone wrote there since the plan
    GONE = "gone"          # at neither name: deleted since the plan


def move_state(source: str, target: str) -> MoveState:
    """The state of the move of ``source`` (absolute) to ``target`` (absolute), from the tree alone."""
    here, there = os.path.lexists(source), os.path.lexists(target)
    if here and there:
        return MoveState.CONFLICT
    if here:
        return MoveState.TO_DO
    return MoveState.DONE if there else MoveState.GONE
