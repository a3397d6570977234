"""Rendering reconcile plans: one line per action for people, one object per action for scripts."""

from __future__ import annotations

from typing import Any

from ..model import Action, Add, Move, Rematch, Update, Vanish
from .output import printable

#: The mark in front of each action's line, like a diff.
MARKS = {Add: "+", Update: "~", Move: ">", Vanish: "-", Rematch: "="}


def action_line(action: Action) -> str:
    mark = MARKS[type(action)]
    if isinstance(action, Add):
        cls = action.classification
        what = f"  [{cls.template}] {cls.entity_uri or ''}".rstrip() if cls.template else "  [unmanaged]"
        return f"{mark} {action.observed.root}:{printable(action.observed.relative)}{what}"
    if isinstance(action, Move):
        return (f"{mark} {action.record.root}:{printable(action.record.relative)} -> "
                f"{action.observed.root}:{printable(action.observed.relative)}")
    if isinstance(action, Rematch):
        before, after = action.record.classification, action.classification
        change = f"{before.template} -> {after.template}" if action.changed else "re-derived"
        return f"{mark} {action.record.root}:{printable(action.record.relative)}  {change}"
    record = action.record
    note = " (reappeared)" if isinstance(action, Update) and action.reappeared else ""
    return f"{mark} {record.root}:{printable(record.relative)}{note}"


def action_json(action: Action) -> dict[str, Any]:
    kind = type(action).__name__.lower()
    if isinstance(action, Add):
        return {"action": kind, **_where(action.observed.root, action.observed.relative),
                **_classification(action.classification)}
    document = {"action": kind, **_where(action.record.root, action.record.relative), "file_id": action.record.id}
    if isinstance(action, Move):
        document["to"] = _where(action.observed.root, action.observed.relative)
        document.update(_classification(action.classification))
    elif isinstance(action, Update):
        document.update(size=action.observed.size, mtime_ns=action.observed.mtime_ns, hash=action.hash,
                        reappeared=action.reappeared)
    elif isinstance(action, Rematch):
        document.update(changed=action.changed, before=_classification(action.record.classification),
                        **_classification(action.classification))
    return document


def _where(root: str, relative: str) -> dict[str, str]:
    return {"root": root, "path": relative}


def _classification(cls) -> dict[str, Any]:
    return {"template": cls.template, "entity": cls.entity_uri, "sequence": cls.sequence, "frame": cls.frame}
