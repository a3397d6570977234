"""What an import carried, renamed and approximated: the report ``templates import`` prints.

A foreign construct that Bifrost expresses exactly needs no note. One that it expresses differently
(a looser or stricter pattern, a key renamed, a template left out) gets a :class:`Note` naming where it
was in the source (file and line), what it was, and what was done instead. A note with ``approximated``
set makes the import exit 1, so a script can tell "same answers" from "close".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImportResult", "Note", "Renamed"]


@dataclass(frozen=True, slots=True)
class Note:
    """One construct of the source that was not carried as it was."""

    file: str
    line: int  # 1-based; 0 when the construct has no single line (a whole file)
    construct: str  # the source's spelling, e.g. "filter_by: alphanumeric" or "template 'maya_shot_work'"
    done: str  # what the imported set does instead
    approximated: bool = True  # False: carried with the same meaning, noted for the reader (a rename)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        kind = "approximated" if self.approximated else "note"
        return f"{self.where}: {kind}: {self.construct}: {self.done}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "construct": self.construct, "done": self.done,
                "approximated": self.approximated}


@dataclass(frozen=True, slots=True)
class Renamed:
    """A key or field name the source spells differently (``Asset.sg_asset_type``, ``folder[name]``)."""

    source: str
    bifrost: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "bifrost": self.bifrost}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A translated template set and its report.

    ``document`` is the Bifrost template set as loaded from YAML (``schema``, ``roots``, ``keys``,
    ``entities``, ``templates``), in the order it should be written.
    """

    system: str  # "tk" or "ayon"
    source: str  # the file or folder read
    document: dict[str, Any]
    notes: tuple[Note, ...] = ()
    renamed: tuple[Renamed, ...] = ()
    header: str = ""  # a comment block written above the document: where it came from
    skipped: tuple[str, ...] = field(default=())  # source template names with no Bifrost counterpart

    @property
    def approximated(self) -> bool:
        return any(note.approximated for note in self.notes)

    def to_json(self) -> dict[str, Any]:
        templates = self.document.get("templates") or {}
        return {"system": self.system, "source": self.source, "templates": len(templates),
                "keys": len(self.document.get("keys") or {}), "approximated": self.approximated,
                "notes": [n.to_json() for n in self.notes], "renamed": [r.to_json() for r in self.renamed],
                "skipped": list(self.skipped)}
