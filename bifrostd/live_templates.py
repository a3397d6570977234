"""Live templates: notice edits to the template files, check the new set, migrate the catalog to it.

An admin's edit is either valid, and the catalog is re-derived with it
(records whose template, fields or entity change are rematched and logged),
or invalid, and the daemon keeps matching with the set it has, logging each
problem with file:line:column and showing them in status until fixed.

"Invalid" is what ``bifrostctl templates check`` calls an error: syntax,
semantics, unsafe patterns and overlaps; ``unused-key`` is only a warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dirty import template_migration
from .reconcile import Classifier, summary

log = logging.getLogger("bifrostd.templates")

WARNING_CODES = frozenset({"unused-key"})
MIGRATION_CHUNK = 20000

Signature = tuple[tuple[str, int, int], ...]


def files_signature(location: Path) -> Signature:
    """(path, size, mtime_ns) of every YAML file of the set: cheap to take every second."""
    location = Path(location)
    paths = [location] if location.is_file() else sorted(
        p for pattern in ("*.yaml", "*.yml") for p in location.rglob(pattern)) if location.is_dir() else []
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(slots=True)
class TemplateStatus:
    """The set in use and the verdict on the files as they are now (mutable, for status)."""

    location: str
    fingerprint: str
    valid: bool = True
    problems: list[str] = field(default_factory=list)
    last_change: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "fingerprint": self.fingerprint, "valid": self.valid,
                "problems": self.problems, "last_change": self.last_change}


def check(config: Any) -> tuple[Any | None, list[Any]]:
    """The checked set with the config's root overrides, and its errors (warnings dropped)."""
    from .templates.check import check_template_set

    template_set, problems = check_template_set(config.templates)
    errors = [p for p in problems if getattr(p, "code", "invalid") not in WARNING_CODES]
    if template_set is None or errors:
        return None, errors or problems
    template_set, wrong = config.with_root_overrides(template_set)
    return (None, wrong) if wrong else (template_set, [])


def migrate(catalog: Any, template_set: Any, *, chunk: int = MIGRATION_CHUNK) -> dict[str, int]:
    """Rematch every present record made with another set, ``chunk`` records per plan."""
    from itertools import islice

    from .catalog import queries

    classifier = Classifier(template_set)
    totals: dict[str, int] = {"records": 0, "rematched": 0}
    while True:
        pending = queries.present_records(catalog.conn, other_than=template_set.fingerprint)
        try:  # read a chunk, then finish the statement before writing
            records = list(islice(pending, chunk))
        finally:
            pending.close()
        if not records:
            break
        the_plan = template_migration(records, template_set, classifier)
        catalog.apply(the_plan, source="watch")
        totals["records"] += len(records)
        totals["rematched"] += summary(the_plan)["rematched"]
    return totals
