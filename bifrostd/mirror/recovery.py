"""Restoring from a target: which objects come back, to where, and re-registering them.

What is restored is what the *bucket* holds (one listing), so a restore works
when the catalog is lost too; the catalog, when present, adds the expected
hash of each key and says which keys belong to files deleted since (skipped
unless asked for). Each object is downloaded by ``Transfer.download``: temp
file, xxh3-128 check, atomic rename, and a local file newer than the mirrored
version is left alone unless forced. Destinations are ``RootedPath`` values
(the root's folder, or ``--to DIR``, and the names below it): nothing is
written through a symlink below the base (see :mod:`bifrostd.mirror.restore`).

Filters narrow the restore to keys under a prefix, given as a rootless path
(``projects:demo/seq``), a path under a root, a ``bifrost:///`` reference
(its folder), or a key prefix (``projects/demo/seq``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bifrostd.catalog.mirror_state import RecordedObject
from bifrostd.progress import InFlight, Progress, Reporter
from bifrostd.observe.safe_paths import RootedPath

from .backends import RemoteObject, is_temp_key
from .plan import key_problem, split_key
from .outcomes import Outcome
from .transfer import FileResult, Transfer

if TYPE_CHECKING:
    from bifrostd.templates import TemplateSet

    from .targets import Target

__all__ = ["RestoreItem", "RestoreReport", "key_prefix", "restore", "select"]


@dataclass(frozen=True, slots=True)
class RestoreItem:
    key: str
    dest: RootedPath
    size: int
    expected: str | None  # the catalog's hash; None: the object's own bifrost-xxh3 is trusted
    listed: RemoteObject | None = None  # as the listing reported it (spares a HEAD per object)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "dest": os.fsdecode(self.dest), "size": self.size, "hash": self.expected}


@dataclass(frozen=True, slots=True)
class RestoreReport:
    target: str
    items: tuple[RestoreItem, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (key, why) left out by selection
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    problems: tuple[FileResult, ...] = ()  # refused and failed downloads
    dry_run: bool = False
    verdicts: Mapping[str, FileResult] = field(default_factory=dict)  # a dry run's result per key

    @property
    def would_download(self) -> list[RestoreItem]:
        """A dry run's items that the real run would download."""
        return [i for i in self.items if self._outcome(i) == Outcome.DOWNLOADED.value]

    def _outcome(self, item: RestoreItem) -> str | None:
        result = self.verdicts.get(item.key)
        return result.outcome.value if result is not None else None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "target": self.target, "dry_run": self.dry_run, "selected": len(self.items),
            "selected_bytes": sum(i.size for i in self.items), "counts": self.counts, "bytes": self.bytes,
            "seconds": round(self.seconds, 3), "problems": [p.to_json() for p in self.problems],
            "skipped": [{"key": k, "reason": r} for k, r in self.skipped]}
        if self.dry_run:
            document["items"] = [{**i.to_json(), "outcome": self._outcome(i),
                                  "reason": (r.error if (r := self.verdicts.get(i.key)) is not None else None)}
                                 for i in self.items]
        return document


def key_prefix(text: str, template_set: TemplateSet) -> str:
    """The key prefix a restore filter stands for (see the module docstring)."""
    from bifrostd.errors import ResolveError
    from bifrostd.templates import is_reference

    if is_reference(text):
        from bifrostd.templates.references import resolve_reference

        text = resolve_reference(template_set, text).path
    root, sep, rest = text.partition(":")
    if sep and root in template_set.roots and not rest.startswith("//"):
        return f"{root}/{rest.strip('/')}".rstrip("/")
    from bifrostd.templates.placing import place, syntax_of

    if os.path.isabs(text) or os.path.exists(text) or syntax_of(text, template_set.os_name) == "windows":
        placed = place(template_set, text)
        if placed.root is None:
            raise ResolveError(f"{text!r} is under no root (roots: {', '.join(template_set.roots)})")
        return f"{placed.root}/{placed.relative}".rstrip("/")
    return text.strip("/")


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(not p or key == p or key.startswith(p + "/") for p in prefixes)


def select(
    objects: Iterable[RemoteObject],
    recorded: Mapping[str, RecordedObject],
    *,
    prefixes: tuple[str, ...] = (),
    dest_for: Callable[[str], RootedPath | Path | None],
    include_deleted: bool = False,
    target: Target | None = None,
) -> tuple[list[RestoreItem], list[tuple[str, str]]]:
    """The objects to restore and where, and those left out with the reason.

    ``dest_for`` answers a ``RootedPath`` (or a plain path, taken as its
    parent folder and name), or None for a key with no place on this host.
    """
    items: list[RestoreItem] = []
    skipped: list[tuple[str, str]] = []
    for obj in sorted(objects, key=lambda o: o.key):
        if is_temp_key(obj.key) or (prefixes and not _under(obj.key, prefixes)):
            continue
        row = recorded.get(obj.key)
        problem = key_problem(obj.key, target) if target is not None else None
        dest = None if problem else dest_for(obj.key)
        if problem or dest is None:
            skipped.append((obj.key, problem or f"no root {split_key(obj.key)[0]!r} on this host"))
        elif row is not None and row.gone_ns is not None and not include_deleted:
            skipped.append((obj.key, "its file was deleted since it was mirrored (use --include-deleted)"))
        else:
            items.append(RestoreItem(obj.key, RootedPath.of(dest), obj.size, row.hash if row is not None else None,
                                     obj))
    return items, skipped


def restore(
    transfer: Transfer,
    items: list[RestoreItem],
    *,
    force: bool = False,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    dry_run: bool = False,
    on_result: Callable[[RestoreItem, FileResult], None] | None = None,
) -> tuple[dict[str, int], int, list[FileResult], float]:
    """Download every item with the target's concurrency: (counts, bytes, problems, seconds).

    With ``dry_run``, nothing is downloaded or written: each item gets the
    verdict its download would reach first (``Transfer.would_download``: the
    same checks, so a local file that already has the content is counted
    skipped, a newer one refused), and the counts, bytes (those it would
    receive) and problems are those the real run would report, with
    ``downloaded`` meaning "would be downloaded". ``on_result`` is told each
    item's result on the calling thread.
    """
    counts: dict[str, int] = {}
    problems: list[FileResult] = []
    received = 0
    started = time.monotonic()
    report = Reporter(progress)
    stage = "checking" if dry_run else "restoring"
    total_bytes = sum(i.size for i in items) if report.wants_bytes else None
    flight = InFlight() if report.wants_bytes else None

    def tally(item: RestoreItem, result: FileResult) -> None:
        nonlocal received
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        received += result.bytes
        if result.outcome in (Outcome.FAILED, Outcome.REFUSED):
            problems.append(result)
        if flight is not None:
            flight.finish(item.key, item.size)
        report.count(stage, sum(counts.values()), len(items), flight.done if flight else None, total_bytes)
        if on_result is not None:
            on_result(item, result)

    def work(item: RestoreItem) -> FileResult:
        if dry_run:
            return transfer.would_download(item.key, item.dest, expected_xxh3=item.expected, force=force,
                                           listed=item.listed)
        chunks = {"progress": flight.meter(item.key, item.size)} if flight is not None else {}
        return transfer.download(item.key, item.dest, expected_xxh3=item.expected, force=force, listed=item.listed,
                                 **chunks)

    def tick() -> None:
        assert flight is not None
        report.between(stage, sum(counts.values()), len(items), flight.done, total_bytes)

    report.between(stage, 0, len(items), 0 if flight else None, total_bytes)
    transfer.run_many(items, work, on_result=tally, should_stop=should_stop,
                      tick=tick if flight is not None and not dry_run else None)
    return counts, received, problems, time.monotonic() - started
