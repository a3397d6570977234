"""Auditing a target against the catalog's bookkeeping, and repairing what the audit found.

The audit is :func:`bifrostd.mirror.verify.verify` fed with what the catalog
says the target holds; keys whose content the catalog does not know (a
transfer was in flight) are expected neither present nor absent.

Repair (only when asked) makes the next run fix the findings:
- missing, wrong-size, wrong-hash, no-hash: the catalog forgets the key, so
  the run plans it from scratch and uploads the file (never trusting the
  object as a copy source or a skip);
- leftovers of interrupted writes (temp files, S3 multipart uploads): all
  removed, whatever their age. Repair holds the catalog's writer lock, so no
  run of this catalog is uploading (see :mod:`.leftovers`);
- extra objects: deleted only under ``delete: mirror`` (the bucket should equal
  the catalog), and left alone under ``keep`` and ``retain``, where the
  bucket is an archive that may hold more than the catalog knows. More of
  them than the target's ``max_delete`` are all left alone unless deletions
  are allowed: a catalog rebuilt from scratch knows no object, and would
  otherwise empty the bucket;
- then one mirror run of the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from bifrostd.catalog.mirror_state import MirrorState

from . import leftovers
from .plan import over_limit, split_key
from .runner import RunReport, run_target
from .targets import DeletePolicy, Target
from bifrostd.redaction import redact_credentials
from .transfer import Transfer
from .verify import Expected, ObjectProblem, VerifyReport, verify

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
    return replace(report, problems=problems)


@dataclass(frozen=True, slots=True)
class RepairReport:
    forgotten: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    left: tuple[ObjectProblem, ...] = ()  # findings repair does not touch (extras of an archive)
    run: RunReport | None = None
    failures: tuple[str, ...] = field(default_factory=tuple)
    held_reason: str | None = None  # why extra objects were left although the policy deletes them
    leftovers_removed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"forgotten": list(self.forgotten), "deleted": list(self.deleted),
                "leftovers_removed": list(self.leftovers_removed),
                "left": [p.to_json() for p in self.left], "failures": list(self.failures),
                "held_reason": self.held_reason, "run": self.run.to_json() if self.run else None}


def repair(transfer: Transfer, state: MirrorState, target: Target, report: VerifyReport,
           locate: Callable[[str, str], Any], *, allow_deletions: bool = False) -> RepairReport:
    """Fix the audit's findings (see the module docstring); needs the catalog's writer."""
    forget = [p.key for p in report.problems if p.kind in REUPLOAD]
    state.forget(target.name, [split_key(key) for key in forget])
    removed, failures = _remove_leftovers(transfer, target, report.leftovers)
    extras = [p for p in report.problems if p.kind == "extra"]
    doomed = [p for p in extras if target.delete is DeletePolicy.MIRROR]
    held = None if allow_deletions else over_limit(target, len(doomed), report.checked + len(extras),
                                                   command="mirror verify {name} --repair")
    deleted: list[str] = []
    left = [p for p in extras if p not in doomed or held]
    for problem in ([] if held else doomed):
        result = transfer.delete(problem.key)
        (deleted if result.ok else failures).append(problem.key if result.ok else f"{problem.key}: {result.error}")
    run = run_target(state, target, locate, source="repair", transfer=transfer, allow_deletions=allow_deletions)
    return RepairReport(tuple(forget), tuple(deleted), tuple(left), run, tuple(failures), held, tuple(removed))


def _remove_leftovers(transfer: Transfer, target: Target,
                      found: tuple[leftovers.Leftover, ...]) -> tuple[list[str], list[str]]:
    """Remove every leftover the audit found: (keys removed, failures as text)."""
    removed, failures = [], []
    for leftover in found:
        try:
            leftovers.remove(transfer.fs, target, leftover)
        except Exception as error:  # noqa: BLE001 - one that can't go is a finding, not the end of the repair
            failures.append(f"{leftover.key}: " + redact_credentials(f"{type(error).__name__}: {error}"))
        else:
            removed.append(leftover.key)
    return removed, failures
