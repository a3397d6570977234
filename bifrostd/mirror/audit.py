"""Auditing a target against the catalog's bookkeeping, and repairing what the audit found.

The audit is :func:`bifrostd.mirror.verify.verify` fed with what the catalog
says the target holds; keys whose content the catalog does not know (a
transfer was in flight) are expected neither present nor absent.

Repair (only when asked) makes the next run fix the findings:
- missing, wrong-size, wrong-hash, no-hash: the catalog forgets the key, so
  the run plans it from scratch and uploads the file (never trusting the
  object as a copy source or a skip);
- extra objects: temp leftovers of interrupted writes are deleted; other
  extras are deleted only under ``delete: mirror`` (the bucket should equal
  the catalog), and left alone under ``keep`` and ``retain``, where the
  bucket is an archive that may hold more than the catalog knows. More of
  them than the target's ``max_delete`` are all left alone unless deletions
  are allowed: a catalog rebuilt from scratch knows no object, and would
  otherwise empty the bucket;
- then one mirror run of the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bifrostd.catalog.mirror_state import MirrorState

from .backends import is_temp_key, remove
from .plan import over_limit, split_key
from .runner import RunReport, run_target
from .targets import DeletePolicy, Target
from .transfer import Transfer
from .verify import Expected, Problem, VerifyReport, verify

__all__ = ["RepairReport", "audit", "repair"]

REUPLOAD = ("missing", "wrong-size", "wrong-hash", "no-hash")


def audit(transfer: Transfer, state: MirrorState, target: Target, *, deep: bool = False) -> VerifyReport:
    expected: dict[str, Expected] = {}
    unknown: set[str] = set()
    for row in state.objects(target.name):
        if row.hash is None:
            unknown.add(row.key)
        else:
            expected[row.key] = Expected(row.size, row.hash)
    report = verify(transfer.fs, target, expected, deep=deep, transfer=transfer)
    problems = tuple(p for p in report.problems if not (p.kind == "extra" and p.key in unknown))
    return VerifyReport(report.target, report.checked, problems, report.deep)


@dataclass(frozen=True, slots=True)
class RepairReport:
    forgotten: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    left: tuple[Problem, ...] = ()  # findings repair does not touch (extras of an archive)
    run: RunReport | None = None
    failures: tuple[str, ...] = field(default_factory=tuple)
    held_reason: str | None = None  # why extra objects were left although the policy deletes them

    def to_json(self) -> dict[str, Any]:
        return {"forgotten": list(self.forgotten), "deleted": list(self.deleted),
                "left": [p.to_json() for p in self.left], "failures": list(self.failures),
                "held_reason": self.held_reason, "run": self.run.to_json() if self.run else None}


def repair(transfer: Transfer, state: MirrorState, target: Target, report: VerifyReport,
           locate: Callable[[str, str], Any], *, allow_deletions: bool = False) -> RepairReport:
    """Fix the audit's findings (see the module docstring); needs the catalog's writer."""
    forget = [p.key for p in report.problems if p.kind in REUPLOAD]
    state.forget(target.name, [split_key(key) for key in forget])
    extras = [p for p in report.problems if p.kind == "extra"]
    doomed = [p for p in extras if is_temp_key(p.key) or target.delete is DeletePolicy.MIRROR]
    ours = sum(1 for p in doomed if not is_temp_key(p.key))
    held = None if allow_deletions else over_limit(target, ours, report.checked + len(extras),
                                                   command="mirror verify {name} --repair")
    deleted, left, failures = [], [p for p in extras if p not in doomed], []
    for problem in doomed:
        leftover = is_temp_key(problem.key)
        if held and not leftover:
            left.append(problem)
            continue
        error = _delete(transfer, target, problem.key, leftover=leftover)
        (failures if error else deleted).append(f"{problem.key}: {error}" if error else problem.key)
    run = run_target(state, target, locate, source="repair", transfer=transfer, allow_deletions=allow_deletions)
    return RepairReport(tuple(forget), tuple(deleted), tuple(left), run, tuple(failures), held)


def _delete(transfer: Transfer, target: Target, key: str, *, leftover: bool) -> str | None:
    """Delete one extra object; the error text, or None. Temp names are not valid keys, hence the bypass."""
    if not leftover:
        result = transfer.delete(key)
        return None if result.ok else result.error
    try:
        remove(transfer.fs, target, key)
    except Exception as error:  # one undeletable leftover is a finding, not the end of the repair
        return f"{type(error).__name__}: {error}"
    return None
