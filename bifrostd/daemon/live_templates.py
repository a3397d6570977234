"""Live templates: notice edits to the template files, check the new set, migrate the catalog to it.

An admin's edit is either valid, and the catalog is re-derived with it
(records whose template, fields or entity change are rematched and logged),
or invalid, and the daemon keeps matching with the set it has, logging each
problem with file:line:column and showing them in status until fixed.

"Invalid" is what ``bifrostctl templates check`` calls an error: syntax,
semantics, unsafe patterns and overlaps; ``unused-key`` is only a warning.

Checking happens off the daemon's loop, in a child process
(:class:`CheckWorker`): the overlap proof is pure Python and takes seconds
on a set it has not seen; on a thread it would hold the GIL against the
loop's I/O for all that time. The child keeps its proofs between checks
(``templates.check.ProofCache``), and the daemon asks it to check the set in
use as soon as it starts, so an edit is proven in a fraction of a second:
only the pairs of templates it changed are new. The child answers with a
:class:`Verdict` (the fingerprint of what it read); the daemon reads the
files again and uses them only if they still have that fingerprint
(:func:`vouched_set`), so nothing is used that was not checked.

Re-deriving the records is done a step at a time (:func:`migrate_step`),
between the loop's other work: the new set is used for everything the loop
does from the moment it is accepted.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Sequence

from ..reconcile.dirty import template_migration
from ..reconcile.plan import Classifier, summary

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import Config
    from ..templates import SourceProblem, TemplateSet
    from ..templates.check import ProofCache

log = logging.getLogger("bifrostd.templates")

WARNING_CODES = frozenset({"unused-key"})
MIGRATION_LEAST = 500  # records re-derived in one step at least
MIGRATION_MOST = 20000
STOP_WAIT = 2.0  # seconds the worker gets to exit once told to, before it is killed
CHECK_LIMIT = 300.0  # seconds a check may take (the default set's first check: about 5); then it is stopped

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
    checking: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "fingerprint": self.fingerprint, "valid": self.valid,
                "problems": self.problems, "checking": self.checking, "last_change": self.last_change}


# -- checking ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check of the files found: the fingerprint of the set read (None if unusable) and its errors."""

    fingerprint: str | None
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.fingerprint is not None and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "problems": list(self.problems)}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Verdict:
        return cls(document["fingerprint"], tuple(document["problems"]))


def check_files(location: Path, proofs: ProofCache | None = None) -> Verdict:
    """Check the template files at ``location`` in full (warnings dropped); ``proofs`` carry over between calls."""
    from ..templates.check import check_template_set

    template_set, problems = check_template_set(location, proofs=proofs)
    errors = [p for p in problems if getattr(p, "code", "invalid") not in WARNING_CODES]
    if template_set is None or errors:
        return Verdict(None, tuple(str(p) for p in errors or problems))
    return Verdict(template_set.fingerprint)


def vouched_set(verdict: Verdict, config: Config) -> tuple[TemplateSet | None, Sequence[SourceProblem | str]]:
    """The set ``verdict`` found valid, read again for use, with the config's root overrides.

    (None, problems) when it is not usable; (None, []) when the files no
    longer have the fingerprint that was checked (they changed meanwhile:
    check them again).
    """
    from ..templates import build_template_set

    if not verdict.valid:
        return None, list(verdict.problems)
    template_set, _ = build_template_set(config.templates)
    if template_set is None or template_set.fingerprint != verdict.fingerprint:
        return None, []
    template_set, wrong = config.with_root_overrides(template_set)
    return (None, wrong) if wrong else (template_set, [])


class CheckWorker:
    """Checks template files in a child process, one check at a time; the newest request wins.

    Used from the daemon's loop only. ``fileno`` is readable when an answer
    arrived (the loop selects on it); :meth:`verdict` reads without
    blocking. A request made while a check runs is sent when that check
    ends, and the older answer, stale by then, is dropped. A child that
    dies, or checks for longer than ``limit`` seconds (a set built to make
    the proof explode), answers as an invalid set (the set in use is kept)
    and is started again on the next request.
    """

    def __init__(self, command: Sequence[str] | None = None, *, limit: float = CHECK_LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command = list(command) if command is not None else [sys.executable, "-P", "-m", __name__]
        self.limit = limit
        self.clock = clock
        self._process: subprocess.Popen | None = None
        self._buffer = b""
        self._sent: str | None = None  # the location being checked
        self._since = 0.0  # when it was sent
        self._next: str | None = None  # asked for while that check runs

    @property
    def busy(self) -> bool:
        return self._sent is not None or self._next is not None

    def fileno(self) -> int | None:
        """The child's answers, while a check is under way (None otherwise: nothing to wait for)."""
        if self._process is None or self._process.stdout is None or self._sent is None:
            return None
        return self._process.stdout.fileno()

    def request(self, location: Path) -> None:
        if self._sent is not None:
            self._next = str(location)
            return
        self._send(str(location))

    def _send(self, location: str) -> None:
        if self._process is None:
            self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             close_fds=True)
            assert self._process.stdout is not None  # stdout=PIPE
            os.set_blocking(self._process.stdout.fileno(), False)
            self._buffer = b""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"location": location}).encode() + b"\n")
            self._process.stdin.flush()
        except BrokenPipeError:  # it died: reading its end says so
            pass
        self._sent, self._since = location, self.clock()

    def verdict(self) -> Verdict | None:
        """The answer to the newest request, once it arrived; None until then."""
        if self._process is None or self._sent is None:
            return None
        lines, ended = self._read()
        found = None
        for line in lines:
            found = Verdict.from_json(json.loads(line))
        if ended:
            code = self._reap()
            found = Verdict(None, (f"the template check stopped unexpectedly (exit code {code}); "
                                   "the set in use is kept",))
        elif found is None and self.clock() - self._since > self.limit:
            self._process.kill()
            self._reap()
            found = Verdict(None, (f"the template check took longer than {self.limit:g} s and was stopped "
                                   "(simplify the key patterns); the set in use is kept",))
        if found is None:
            return None
        self._sent = None
        if self._next is not None:  # asked again meanwhile: this answer is stale
            location, self._next = self._next, None
            self._send(location)
            return None
        return found

    def _read(self) -> tuple[list[bytes], bool]:
        assert self._process is not None and self._process.stdout is not None
        ended = False
        while True:
            try:
                chunk = os.read(self._process.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                ended = True
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line for line in lines if line.strip()], ended

    def _reap(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            return process.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop(self) -> None:
        """End the child: at once if it is checking (its work is of no use any more)."""
        if self._process is not None and self._sent is not None:
            self._process.kill()
        self._reap()
        self._sent = self._next = None


def serve(requests: IO[str], answers: IO[str]) -> None:
    """The child's side: one JSON request per line in, one verdict per line out, proofs kept throughout."""
    from ..templates.check import ProofCache

    proofs = ProofCache()
    for line in requests:
        if not line.strip():
            continue
        location = Path(json.loads(line)["location"])
        try:
            verdict = check_files(location, proofs)
        except Exception as exc:  # a bug in the check must not look like a valid set
            verdict = Verdict(None, (f"the template check failed: {type(exc).__name__}: {exc}",))
        answers.write(json.dumps(verdict.to_json()) + "\n")
        answers.flush()


# -- following ------------------------------------------------------------------------------
class LiveTemplates:
    """The loop's side of following the template files; used from the loop's thread only.

    :meth:`look` never writes the catalog, so the loop may call it between
    any two batches of a long walk; a valid set that differs from the one in
    use waits in ``pending`` until the loop switches to it (``switched``)
    and re-derives the records (``migrate``, a step at a time).
    ``status`` is what ``daemon status`` shows (read from other threads).
    """

    def __init__(self, config: Config, template_set: TemplateSet, *, worker: CheckWorker | None = None,
                 budget: float = 0.5) -> None:
        from .timers import StepSizer

        self.status = TemplateStatus(str(config.templates), template_set.fingerprint)
        self.signature = files_signature(config.templates)
        self.worker = worker or CheckWorker()
        self.why = "startup"  # what asked for the check under way (for its log lines)
        self.pending: TemplateSet | None = None
        self.sizer = StepSizer(budget=budget, least=MIGRATION_LEAST, most=MIGRATION_MOST)

    def fileno(self) -> int | None:
        return self.worker.fileno()

    def check(self, config: Config, why: str) -> None:
        """Have the files as they are now checked in full, off the loop."""
        self.why = why
        self.worker.request(config.templates)
        self.status.checking = True

    def reloaded(self, config: Config) -> None:
        """The config was read again (its ``templates`` may name another place): check the files there."""
        self.status.location = str(config.templates)
        self.signature = files_signature(config.templates)
        self.check(config, "reload")

    def look(self, config: Config, in_use: TemplateSet, *, files: bool) -> None:
        """Take a check's answer; with ``files`` (once a second), first have changed files checked."""
        if files:
            signature = files_signature(config.templates)
            if signature != self.signature:
                self.signature = signature
                self.check(config, "the template files changed")
        verdict = self.worker.verdict()
        if verdict is None:
            return
        self.status.checking = self.worker.busy
        new_set, problems = vouched_set(verdict, config)
        if new_set is None and not problems:  # changed again since they were checked
            self.check(config, self.why)
        elif new_set is None:
            self.invalid(problems, self.why)
        else:
            self.status.valid, self.status.problems = True, []
            self.pending = None if same_set(new_set, in_use) else new_set

    def invalid(self, problems: Sequence[Any], why: str) -> None:
        self.status.valid = False
        self.status.problems = [str(p) for p in problems]
        for problem in problems:
            log.error("template problem: %s", problem)
        log.warning("%s: the template files form an invalid set (%d problems); still using %s", why,
                    len(problems), self.status.fingerprint)

    def switched(self, old: TemplateSet, new: TemplateSet, why: str) -> None:
        """The loop now matches with ``new``: the records made with another set are to be re-derived."""
        if new.fingerprint == old.fingerprint:
            return
        log.info("%s: template set %s -> %s; re-deriving the records", why, old.fingerprint, new.fingerprint)
        self.status.last_change = {"at": time.time(), "from": old.fingerprint, "to": new.fingerprint,
                                   "records": 0, "rematched": 0, "done": False}
        self.status.fingerprint = new.fingerprint

    @property
    def has_work(self) -> bool:
        """A set waiting to be switched to, or records still to re-derive: the loop has no time to sleep."""
        return self.pending is not None or self.migrating

    @property
    def migrating(self) -> bool:
        change = self.status.last_change
        return change is not None and not change["done"]

    def migrate(self, catalog: Catalog, template_set: TemplateSet, classifier: Classifier) -> int:
        """Re-derive one step's worth of records (sized to last about ``budget``); returns how many."""
        change = self.status.last_change
        if change is None or change["done"]:  # not migrating
            return 0
        started, limit = time.perf_counter(), self.sizer.size
        try:
            records, rematched = migrate_step(catalog, template_set, classifier, limit=limit)
        except Exception:  # never retried step after step: the next full walk re-derives what is left
            self.status.last_change = {**change, "done": True}
            log.error("re-deriving the records for template set %s stopped; the next full reconcile does the rest",
                      change["to"])
            raise
        self.sizer.done(records, time.perf_counter() - started)
        change = {**change, "records": change["records"] + records, "rematched": change["rematched"] + rematched,
                  "done": records < limit}
        self.status.last_change = change  # replaced whole: status reads it from other threads
        if change["done"]:
            log.info("template set %s: %d records re-derived, %d changed template or entity", change["to"],
                     change["records"], change["rematched"])
        return records

    def stop(self) -> None:
        self.worker.stop()


def root_locations(template_set: TemplateSet | None) -> tuple[tuple[str, str], ...]:
    """(root name, path on this machine) of every root, in name order."""
    if template_set is None:
        return ()
    return tuple(sorted((name, template_set.root_path(name)) for name in template_set.roots))


def same_set(a: TemplateSet, b: TemplateSet) -> bool:
    """The same templates with the same roots where they are on this machine."""
    return a.fingerprint == b.fingerprint and root_locations(a) == root_locations(b)


# -- migrating ------------------------------------------------------------------------------
def migrate_step(catalog: Catalog, template_set: TemplateSet, classifier: Classifier, *, limit: int) -> tuple[int, int]:
    """Rematch up to ``limit`` present records made with another set; (records, rematched), (0, 0) when done."""
    pending = catalog.present_records(other_than=template_set.fingerprint)
    try:  # read a chunk, then finish the statement before writing
        records = list(islice(pending, limit))
    finally:
        pending.close()
    if not records:
        return 0, 0
    the_plan = template_migration(records, template_set, classifier)
    catalog.apply(the_plan, source="watch")
    return len(records), summary(the_plan)["rematched"]


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
