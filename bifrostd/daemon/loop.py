"""``bifrostd``: the long-running daemon that keeps the catalog in step with storage.

Lifecycle: take the state folder's lock, open the catalog as its one
writer, start watching, reconcile every root in full (crash recovery: what
changed while we were down), tell systemd we are ready, then loop:

- dirty paths from the watcher, once settled, are re-observed and applied
  in batches (``bifrostd.reconcile.dirty``);
- roots the watcher lost events for (queue overflow) are walked again once
  quiet; polled roots (network filesystems, or too few inotify watches)
  get fast pruned rescans; every root gets a full reconcile every
  ``full_every``;
- the template files are looked at every second; a changed set is checked
  in a child process and, once proven valid, used at once, the catalog's
  records being re-derived with it a step at a time (``bifrostd.daemon.live_templates``);
- the control socket answers status, reload, stop and ping; a catalog write
  asked for over it (``forget``) is queued and run by the loop.

Responsiveness: no unit of work holds the loop for long. Settled paths and
records to re-derive are taken on in steps sized to last about
``STEP_BUDGET`` (``schedule.StepSizer``); before each unit the loop takes a
pending reload or checked template change; a long walk looks between
batches and, for a stop, a reload or a template change, is interrupted
there (which the catalog allows) and put back to be walked again (the walk
is the truth: interrupted work is never dropped). Only the startup
reconcile is finished before a reload is taken, since it is what makes the
daemon ready.

Mirror runs happen on their own thread (``bifrostd.daemon.mirror_worker``), so a long
first run never holds up indexing or the watchdog heartbeat.

Threads: the main thread runs the loop and is the only one that touches the
catalog through ``self.catalog``; the mirror worker has its own connection
(a sibling of the writer's); watchdog's threads only mark paths dirty; the
control server's threads read status and set flags; signal handlers set flags. Everyone
wakes the loop through one pipe; the template checker's answers arrive on their own
(``live_templates.CheckWorker``, a child process). SIGTERM and SIGINT finish the current batch
(a long walk is interrupted between batches, which the catalog allows) and
exit 0; SIGHUP reloads the config and templates.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, TypeVar

from .. import __version__ as VERSION
from .control import ControlServer, socket_place
from .requests import ControlRequests
from .reloading import Reloading
from .control_limits import raise_nofile_limit
from ..studio_config.daemon_settings import DaemonSettings
from .rolling import RollingPasses
from ..errors import BifrostError, CatalogCorrupt, ConfigError, DaemonError, DaemonStopping
from ..catalog.state_lock import StateLock
from ..model import FindingKind
from .retry import Retries
from .timers import Rescan, StepSizer
from .sdnotify import Heartbeat, Notifier, WatchdogPinger, watchdog_interval
from ..observe.settle import Dirty, Settler

if TYPE_CHECKING:  # loaded by start(), after the daemon has parsed its arguments
    from ..catalog import Catalog
    from ..config import Config
    from ..observe.mounts import MountTable
    from ..observe.watch import Watcher
    from ..reconcile.dirty import BatchReport
    from ..reconcile.plan import Classifier
    from ..templates import TemplateSet
    from .live_templates import LiveTemplates, TemplateStatus
    from .status import DaemonSnapshot
    from .timers import DaemonTimers

T = TypeVar("T")

log = logging.getLogger("bifrostd")
STATUS_SCHEMA = "bifrost.daemon-status.1"
MIRROR_STOP_WAIT = 60.0  # seconds close() waits for an upload in flight; well under TimeoutStopSec=2min
ROOT_CHECK_EVERY = 2.0  # seconds between checks that each root path still names the folder watched
REQUEST_WAIT = 60.0  # seconds a control request waits for the loop to run its catalog write
TRIM_QUIET = 5.0  # seconds without big batches or rescans before their memory is handed back (_maybe_trim)
TRIM_AFTER_ACTIONS = 1000  # a batch this big (a burst) leaves memory worth handing back; one save does not
STEP_BUDGET = 0.3  # seconds one step of a big job (a burst's paths, a migration's records) should last
BATCH_LEAST = 100  # settled paths a step may always take (a step's fixed cost would otherwise shrink it for ever)


class Interrupted(Exception):
    """Raised from a progress callback to stop a long walk at a batch boundary; the message says why."""


class Daemon:
    """One daemon on one state folder. ``clock`` is monotonic seconds; ``environ`` is read only here."""

    # Set by start(), which runs before anything else uses them; code that may run on a daemon that never
    # started (close, the status document) reads them with getattr(..., None).
    catalog: Catalog
    template_set: TemplateSet
    classifier: Classifier
    schedule: DaemonTimers

    def __init__(self, config_path: Path, *, environ: Mapping[str, str],
                 clock: Callable[[], float] = time.monotonic, mounts: MountTable | None = None) -> None:
        self.config_path = config_path
        self.config, self.settings = load_checked(config_path)
        self.environ = environ
        self.clock = clock
        self.mounts = mounts
        self.started_wall = time.time()
        self.started = clock()
        self.phase = "starting"
        self.stopping = False
        self.reload_requested = False
        self.heartbeat = Heartbeat(clock)
        self.notifier = Notifier.from_environ(environ)
        self.settler = Settler(self.settings.settle)
        self.counts = {"batches": 0, "actions": 0, "rescans": 0, "full_reconciles": 0, "errors": 0,
                       "young_requeued": 0}
        self.errors: list[dict[str, Any]] = []
        self.last_batch: dict[str, Any] | None = None
        self.last_full: dict[str, Any] | None = None
        self.last_rescan: dict[str, dict[str, Any]] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.lock: StateLock | None = None
        self.watcher: Watcher | None = None
        self.control: ControlServer | None = None
        self.pinger: WatchdogPinger | None = None
        self.templates: TemplateStatus | None = None
        self.live: LiveTemplates | None = None  # the template files followed
        self.batch_sizer = StepSizer(budget=STEP_BUDGET, least=BATCH_LEAST, most=self.settings.batch_max)
        self.retries = Retries()  # work that failed (a full state disk), tried again with backoff, never dropped
        self.unreconciled: set[str] = set()  # roots not yet walked in full since start: not ready until empty
        self._requests: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._requests_lock = threading.Lock()
        self._closed = False
        self.abandoned = False  # close() left a mirror transfer running: the process must exit at once
        self._roots_checked = 0.0
        self.reloading = Reloading(self)  # the config, the template files and the roots, as they change
        self._worked: float | None = None  # when the last big batch or rescan ended, until its memory is trimmed
        from .mirror_worker import MirrorWorker

        self.mirror = MirrorWorker(lambda: self.catalog.sibling())
        self.rolling = RollingPasses(self.settings)  # the sweep of polled roots, the scrub

    # -- waking the loop (any thread, signal handlers included) ----------------------------
    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:  # the pipe is full: the loop is awake anyway
            pass
        except OSError:  # closed: the daemon has stopped, there is no loop to wake
            pass

    def _sleep(self, timeout: float) -> None:
        if timeout > 0:
            checker = self.live.fileno() if self.live is not None else None
            select.select([self._wake_r] if checker is None else [self._wake_r, checker], [], [], timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def on_dirty(self, dirty: Dirty) -> None:
        if self.settler.touch(dirty, self.clock()):
            self.wake()

    def on_rescan(self, root: str, reason: str) -> None:
        self.schedule.request(root, reason, self.clock())
        self.wake()

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        from ..catalog import Catalog
        from .live_templates import LiveTemplates
        from ..reconcile.plan import Classifier
        from .timers import DaemonTimers

        raise_nofile_limit()  # before anything is opened; the control socket keeps a reserve of the rest
        self.lock = StateLock(self.config.state_dir).acquire()
        self.template_set = self.config.load_templates()
        self.live = LiveTemplates(self.config, self.template_set, budget=STEP_BUDGET)
        self.templates = self.live.status
        self.classifier = Classifier(self.template_set)
        self._check_root_modes()
        self.catalog = Catalog.open(self.config.catalog_path, write=True)
        now = self.clock()
        self.schedule = DaemonTimers(full_every=self.settings.full_every, poll_every=self.settings.poll_every,
                                 settle=self.settings.settle, now=now)
        self.control = ControlServer(socket_place(self.config.state_dir, self.environ.get("RUNTIME_DIRECTORY")),
                                     ControlRequests(self).handlers()).start()
        self._start_pinger()
        self.start_watching()
        self.live.check(self.config, "startup")  # proves the set in use: checking an edit re-proves only its change
        log.info("bifrostd %s started (pid %d) on %s; control socket %s", VERSION, os.getpid(),
                 self.config.state_dir, self.control.place.link)

    def _check_root_modes(self) -> None:
        unknown = sorted(set(self.settings.modes) - set(self.template_set.roots))
        if unknown:
            raise ConfigError(f"daemon.roots names unknown root(s) {', '.join(unknown)} "
                              f"(roots: {', '.join(self.template_set.roots)})")

    def _start_pinger(self) -> None:
        interval = watchdog_interval(self.environ, pid=os.getpid())
        if interval and self.notifier.enabled:
            self.pinger = WatchdogPinger(self.notifier, self.heartbeat, interval).start()

    def start_watching(self) -> None:
        from ..observe.watch import Watcher, plan_roots

        paths = {name: self.template_set.root_path(name) for name in self.template_set.roots}
        kwargs = {"mounts": self.mounts} if self.mounts else {}
        plans = plan_roots(paths, self.settings.modes, **kwargs)
        self.watcher = Watcher(plans, on_dirty=self.on_dirty, on_rescan=self.on_rescan).start()
        self.reloading.watched = self.reloading.root_signature()
        for plan in plans:
            state = self.watcher.roots[plan.name].state
            log.info("root %s (%s): %s, %s", plan.name, plan.path, state.mode.value, state.reason)
        self._update_polled()

    def _update_polled(self) -> None:
        if self.watcher is not None:  # always, once start_watching has run (it calls this)
            self.schedule.poll({n for n, w in self.watcher.roots.items() if w.polled}, self.clock())

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.phase = "reconciling"
        self.notifier.status("reconciling every root")
        self.unreconciled = set(self.template_set.roots)
        self.full_reconcile("startup")
        while not self.stopping:
            self.heartbeat.beat()
            self._maybe_ready()
            self.step()
            self._sleep(self.next_wake() - self.clock())
        return 0

    def _maybe_ready(self) -> None:
        """Ready means every root was reconciled since start: a root whose walk failed or was cut short is
        walked again by the loop (with backoff) until it succeeds, and only then is systemd told."""
        if self.phase != "reconciling" or self.unreconciled or self.stopping:
            return
        self.mirror.configure(self.config, self.template_set)
        self.mirror.start()
        self.phase = "watching"
        self.notifier.ready(self.status_line())
        log.info("ready: %s", self.status_line())

    def step(self) -> None:
        """Do whatever is due, most urgent first; one failure never stops the loop.

        A reload or a checked template change goes before each unit of work,
        so it waits for one unit at most (each is short, or interruptible).
        """
        for work in (self._maybe_requests, self._maybe_roots, self._maybe_migrate, self._maybe_full,
                     self._maybe_rescans, self._maybe_batch, self._maybe_rolling, self._maybe_trim):
            if self.stopping:
                return
            self.guarded(self.reloading.maybe_reload)
            self.guarded(self.reloading.take_checked)
            if self.stopping:
                return
            self.guarded(work)

    def guarded(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except Interrupted as exc:
            log.info("interrupted at a batch boundary: %s", exc)
        except CatalogCorrupt:
            self._damaged()
            raise  # nothing the loop does mends it, and writing on could spread it: stop (exit 17)
        except BifrostError as exc:
            self.error(str(exc))
        except Exception as exc:  # a bug or an I/O error (disk full): log, count, keep serving
            from ..catalog.integrity import translated

            damage = translated(exc, self.config.catalog_path)  # met outside the catalog's methods
            if isinstance(damage, CatalogCorrupt):
                self._damaged()
                raise damage from exc
            log.exception("unexpected error in %s", getattr(work, "__name__", work))
            self.error(f"{type(exc).__name__}: {exc}")
            self._sleep(1.0)

    def _damaged(self) -> None:
        """The catalog is damaged: its close must not vouch for it (``catalog.integrity.vouch_sound``)."""
        catalog: Catalog | None = getattr(self, "catalog", None)
        if catalog is not None:
            catalog.damaged = True

    def error(self, message: str) -> None:
        self.counts["errors"] += 1
        self.errors = [*self.errors[-19:], {"at": time.time(), "message": message}]
        log.error("%s", message)

    def next_wake(self) -> float:
        now = self.clock()
        times = [self.schedule.next_wake(now), self._roots_checked + ROOT_CHECK_EVERY]
        deadline = self.settler.next_deadline()
        if deadline is not None:
            times.append(deadline)
        trim = self._trim_due()
        if trim is not None:
            times.append(trim)
        retry = self.retries.next_wake()
        if retry is not None:
            times.append(retry)
        rolling = self.rolling.next_wake(now) if self.phase == "watching" else None
        if rolling is not None:
            times.append(rolling)
        if self.reload_requested or self.stopping or (self.live is not None and self.live.has_work):
            times.append(now)
        return min(times)

    # -- units of work ------------------------------------------------------------------------
    def _maybe_roots(self) -> None:
        """A fresh inotify instance for each root that overflowed; every few seconds, is each watched root
        path still the folder being watched? (one stat per root)"""
        if self.watcher is not None and self.watcher.renew_overflowed():
            self._update_polled()
        now = self.clock()
        if now - self._roots_checked < ROOT_CHECK_EVERY:
            return
        self._roots_checked = now
        if self.watcher is not None and self.watcher.check_roots():
            self._update_polled()

    def _maybe_requests(self) -> None:
        """Catalog writes asked for over the control socket, run here: the loop is the catalog's one writer."""
        while self._requests:
            work, future = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # the asker gave up waiting
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def on_loop(self, work: Callable[[], T], *, timeout: float = REQUEST_WAIT) -> T:
        """Run ``work`` on the loop's thread and return its result (called from a control thread).

        Raises DaemonError when the loop does not get to it within ``timeout``
        seconds (a long reconcile): the work is then withdrawn, never run later.
        """
        future: Future[T] = Future()
        with self._requests_lock:
            if self._closed:
                raise DaemonStopping()
            self._requests.append((work, future))
        self.wake()
        try:
            return future.result(timeout=timeout)
        except FuturesTimeout:
            if not future.cancel():
                return future.result()  # it started meanwhile: let it finish
            raise DaemonError(f"the daemon is busy ({self.phase}) and did not get to the request within "
                              f"{timeout:g} s; nothing was done, try again") from None

    def _maybe_batch(self) -> None:
        from collections import defaultdict

        now = self.clock()
        due = self.settler.take(now, limit=self.batch_sizer.size)  # the rest stay due: the next step takes them
        if not due:
            return
        by_root: dict[str, list[Dirty]] = defaultdict(list)
        for dirty in due:
            by_root[dirty.root].append(dirty)
        started = time.perf_counter()
        for root, paths in by_root.items():
            if root not in self.template_set.roots:
                continue
            key = ("batch", root)
            if self.retries.waiting(key, now):  # its last batch failed: these wait out the backoff too
                self.settler.defer(paths, self.retries.next_at(key) or now)
                continue
            try:
                self.apply_paths(root, paths)
            except (Interrupted, CatalogCorrupt):
                self.settler.defer(paths, now)
                raise
            except Exception as exc:  # the state disk full, an I/O error: the paths go back, tried again later
                until = self.retries.failed(key, f"catalog update of {len(paths):,} paths in root {root}",
                                            _reason(exc), self.clock())
                self.settler.defer(paths, until)
                self.error(f"root {root}: {len(paths):,} changed paths not recorded ({_reason(exc)}); "
                           f"tried again in {until - self.clock():.0f} s")
                continue
            if self.retries.succeeded(key):
                log.info("root %s: changed paths are recorded again", root, extra={"root": root})
        self.batch_sizer.done(len(due), time.perf_counter() - started)

    def apply_paths(self, root: str, paths: list[Dirty], *, rehash: bool = False) -> BatchReport:
        """Bring the catalog up to date for these paths of one root (``rehash``: read every file again); raises
        when the catalog can't be written, having recorded nothing."""
        from ..reconcile.dirty import apply_dirty

        started = time.perf_counter()
        report = apply_dirty(self.catalog, self.template_set, root, paths, settle_ns=int(self.settings.settle * 1e9),
                             classifier=self.classifier, hash_files=self.config.scan.hash,
                             workers=self.config.scan.workers, rehash=rehash)
        self._after_batch(report, time.perf_counter() - started)
        return report

    def _maybe_rolling(self) -> None:
        """A slice of the sweep of polled roots and of the scrub, when due (once ready: the startup reconcile
        has looked at everything already)."""
        if self.phase == "watching" and self.watcher is not None:
            self.rolling.step(self, polled={n for n, w in self.watcher.roots.items() if w.polled},
                              roots=set(self.template_set.roots))

    def _maybe_trim(self) -> None:
        """Once big batches and rescans have been quiet for ``TRIM_QUIET`` s, hand their memory back.

        A burst fills SQLite's page cache (up to its ``cache_size``, 64 MiB)
        and leaves freed heap behind; without this an idle daemon would keep
        both until the next full reconcile. Waiting for quiet makes it once
        per burst, not once per batch.
        """
        due = self._trim_due()
        if due is None or self.clock() < due:
            return
        self._worked = None
        self.catalog.release_memory()
        release_memory()

    def _trim_due(self) -> float | None:
        """When memory is next handed back; None while there is none to hand back or paths wait (their
        deadline wakes the loop, and the trim waits for them)."""
        if self._worked is None or len(self.settler):
            return None
        return self._worked + TRIM_QUIET

    def _after_batch(self, report: BatchReport, duration: float) -> None:
        if report.actions >= TRIM_AFTER_ACTIONS:
            self._worked = self.clock()
        if report.young:
            self.settler.touch_all(report.young, self.clock())
            self.counts["young_requeued"] += len(report.young)
        self.counts["batches"] += 1
        self.counts["actions"] += report.actions
        self.last_batch = {"at": time.time(), "root": report.root, "paths": report.paths,
                           "actions": report.actions, "counts": report.counts, "duration_s": round(duration, 4)}
        if report.actions:
            changes = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
            log.info("root %s: %d dirty paths -> %s (%.3f s)", report.root, report.paths, changes, duration,
                     extra={"root": report.root, "count": report.actions, "duration_s": round(duration, 4)})

    def _maybe_rescans(self) -> None:
        now = self.clock()
        quiet = {name: self.settler.quiet_since(name) for name in self.template_set.roots}
        due = self.schedule.due_rescans(now, quiet)
        for index, rescan in enumerate(due):
            if self.stopping:
                return
            if self._must_yield():  # taken before the next walk; the rest wait their turn again
                self.schedule.put_back(due[index:])
                return
            try:
                walked = self.rescan(rescan.root, full=rescan.full, reason=rescan.reason, since=rescan.since)
            except (Interrupted, CatalogCorrupt):
                self.schedule.put_back(due[index:])
                raise
            except Exception as exc:  # not dropped: walked again after a backoff; the other roots go on
                self._rescan_failed(rescan, exc)
                continue
            if walked:
                self.schedule.polled(rescan.root, self.clock())
                if rescan.full:
                    release_memory()

    def _maybe_full(self) -> None:
        if self.schedule.full_due(self.clock()):
            self.full_reconcile("periodic")

    def full_reconcile(self, reason: str) -> None:
        """Walk every root in full; cut short by a reload or template change, the roots left are requested."""
        started, since = time.perf_counter(), self.clock()
        roots = list(self.template_set.roots)
        for index, root in enumerate(roots):
            if self.stopping:
                return
            cut = self._must_yield()
            if cut is not None:
                self._full_cut_short(reason, cut, roots[index:], since)
                return
            try:
                walked = self.rescan(root, full=True, reason=reason, since=since)
            except (Interrupted, CatalogCorrupt):
                raise
            except Exception as exc:
                self._rescan_failed(Rescan(root, True, reason, since), exc)
                continue
            if not walked:  # interrupted mid-walk (it asked to be walked again): not a whole reconcile
                self._full_cut_short(reason, self._must_yield() or "a reload", roots[index:], since)
                return
        duration = time.perf_counter() - started
        self.counts["full_reconciles"] += 1
        self.last_full = {"at": time.time(), "reason": reason, "duration_s": round(duration, 3)}
        self.schedule.full_done(self.clock())
        self.catalog.release_memory()
        release_memory()
        log.info("full reconcile (%s) of %d roots in %.2f s", reason, len(self.template_set.roots), duration,
                 extra={"reason": reason, "duration_s": round(duration, 3)})

    def _full_cut_short(self, reason: str, cut: str, roots: list[str], since: float) -> None:
        """The roots a full reconcile did not get to are requested as full walks; it is not counted as done."""
        for root in roots:
            self.schedule.request(root, reason, since)
        self.schedule.full_done(self.clock())
        log.info("full reconcile (%s) cut short for %s: %s walked once the loop gets to them", reason, cut,
                 ", ".join(roots))

    def rescan(self, root: str, *, full: bool, reason: str, since: float | None = None) -> bool:
        """Walk one root (pruned, or full) and apply; checks its watch coverage afterwards.

        Returns False when the walk was interrupted between batches: a full
        walk is then requested again (as asked for ``since``), a fast one
        stays due; either way it runs again, with whatever set is then in use.
        """
        from ..reconcile.scan import ScanOptions, scan
        from ..observe.walk import walk

        options = ScanOptions(roots=(root,), full=full, hash_files=self.config.scan.hash,
                              workers=self.config.scan.workers)
        walker = partial(walk, scandir=self._beating_scandir)
        try:
            report = scan(self.catalog, self.template_set, options, walker=walker, progress=self._progress)
        except Interrupted as exc:
            self.catalog.mark_scans_interrupted()  # the scan's record, left running
            if self.stopping:
                raise
            if full:
                self.schedule.request(root, reason, self.clock() if since is None else since)
            log.info("root %s: %s walk (%s) interrupted at a batch boundary for %s; it runs again next",
                     root, "full" if full else "fast", reason, exc, extra={"root": root, "reason": reason})
            return False
        self.counts["rescans"] += 1
        if self.retries.succeeded(("rescan", root)):
            log.info("root %s: walked again after failing", root, extra={"root": root})
        if full:
            self.unreconciled.discard(root)
        if full or len(report.plan.actions) >= TRIM_AFTER_ACTIONS:
            self._worked = self.clock()
        self.last_rescan[root] = {"at": time.time(), "full": full, "reason": reason,
                                  "duration_s": round(report.duration_s, 3), "counts": report.counts}
        changes = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v and k not in ("files_seen",))
        log.info("root %s: %s walk (%s) in %.2f s: %s", root, "full" if full else "fast", reason,
                 report.duration_s, changes or "no changes",
                 extra={"root": root, "reason": reason, "duration_s": round(report.duration_s, 3)})
        empty = [f for f in report.plan.findings if f.kind is FindingKind.ROOT_EMPTY]
        for finding in empty:
            log.warning("root %s: %s", root, finding.message, extra={"root": root})
        if not empty:  # an empty mount point has one folder to watch, not the ones the catalog remembers
            self._check_coverage(root)
        return True

    def _rescan_failed(self, rescan: Rescan, exc: BaseException) -> None:
        """Count and show a failed walk, and ask for it again after its backoff (a full one as a full one)."""
        until = self.retries.failed(("rescan", rescan.root), f"{'full' if rescan.full else 'fast'} walk of root "
                                    f"{rescan.root} ({rescan.reason})", _reason(exc), self.clock())
        self.schedule.retry(rescan, until)
        if not isinstance(exc, (BifrostError, OSError)):
            log.error("walk of root %s failed", rescan.root, exc_info=exc)
        self.error(f"root {rescan.root}: {rescan.reason} walk failed ({_reason(exc)}); "
                   f"tried again in {until - self.clock():.0f} s")
        if self.phase == "reconciling":  # systemctl status says what readiness waits for
            self.notifier.status(self.status_line())

    def _check_coverage(self, root: str) -> None:
        watcher = self.watcher.roots.get(root) if self.watcher else None
        if watcher is None or not watcher.state.watching:
            return
        folders = self.catalog.dir_count(root)
        if not watcher.check_coverage(folders):
            self._update_polled()

    def _beating_scandir(self, fd: int) -> Iterator[os.DirEntry[str]]:
        """``os.scandir`` that proves the loop alive during long walks and lets a stop or reload interrupt them."""
        self._between_batches()
        return os.scandir(fd)

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self._between_batches()

    def _between_batches(self) -> None:
        self.heartbeat.beat()
        reason = self._must_yield()
        if reason is not None:
            raise Interrupted(reason)

    def _must_yield(self) -> str | None:
        """Why long work should stop at its next batch boundary, if it should.

        A stop, always; once the daemon is ready, also a reload or a checked
        template set waiting to be used (the startup reconcile is finished
        first: it is what makes the daemon ready).
        """
        if self.stopping:
            return "stopping"
        if self.phase != "watching":
            return None
        if self.reload_requested:
            return "a reload"
        return "a template change" if self.reloading.pending else None

    def _maybe_migrate(self) -> None:
        """A step of re-deriving the catalog's records with a new template set (``Reloading.migrate_step``)."""
        if self.reloading.migrate_step() >= TRIM_AFTER_ACTIONS:
            self._worked = self.clock()

    # -- control ---------------------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        if not self.stopping:
            self.stopping = True
            log.info("stopping (%s): finishing the current batch", why)
        self.mirror.stop(timeout=0)  # a mirror run stops between files
        self.wake()

    def snapshot(self, *, detailed: bool = True) -> DaemonSnapshot:
        """What this daemon shows of itself now; ``detailed`` adds each root's watch state (it reads /proc)."""
        from .status import DaemonSnapshot

        now = self.clock()
        watchers = list(self.watcher.roots.values()) if self.watcher else []
        timers = getattr(self, "schedule", None)  # set by start()
        templates = self.templates
        mirror = getattr(self, "mirror", None)
        return DaemonSnapshot(
            phase=self.phase, started=self.started_wall, uptime_s=now - self.started, config=str(self.config_path),
            state_dir=str(self.config.state_dir), settle_s=self.settings.settle,
            modes=tuple((w.plan.name, w.state.mode.value) for w in watchers),
            pending=len(self.settler), events=self.settler.touched,
            templates_valid=templates is None or templates.valid,
            failing=self.retries.to_json(now), unreconciled=tuple(self.unreconciled),
            **({} if not detailed else dict(
                roots=self.watcher.status() if self.watcher else [],
                rescans_waiting=timers.requested() if timers else {}, last_rescan=dict(self.last_rescan),
                last_batch=self.last_batch, last_full=self.last_full, counts=dict(self.counts),
                errors=tuple(self.errors), templates=templates.to_json() if templates else None,
                mirror=mirror.status() if mirror else None, passes=self.rolling.to_json(now))))

    def status(self) -> dict[str, Any]:
        from .status import status_document

        return status_document(self.snapshot())

    def status_line(self) -> str:
        from .status import status_line

        return status_line(self.snapshot(detailed=False))

    # -- stop ------------------------------------------------------------------------------------
    def close(self) -> None:
        self.notifier.stopping()
        with self._requests_lock:  # asked for while stopping: refused, never half done
            self._closed = True
            pending, self._requests = list(self._requests), deque()
        for _, future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(DaemonStopping())
        if not self.mirror.stop(timeout=MIRROR_STOP_WAIT):
            log.warning("the mirror worker is still finishing a transfer; exiting without it (the file goes again "
                        "next run)")
            self.abandoned = True
        for part in (self.watcher, self.control, self.pinger, self.live):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("while stopping %s", type(part).__name__)
        if self.abandoned:
            # The worker's thread can't be killed, and the process would wait for it. Leave the catalog and the
            # lock to the exit (see main): they are released only once nothing of this process can write.
            log.info("stopped")
            return
        catalog: Catalog | None = getattr(self, "catalog", None)  # None when start() failed before opening it
        if catalog is not None:
            catalog.close()
        if self.lock is not None:
            self.lock.release()
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("stopped")


def _reason(exc: BaseException) -> str:
    """One line saying why some work failed, for the log and ``daemon status``."""
    return str(exc) if isinstance(exc, BifrostError) else f"{type(exc).__name__}: {exc}"


def load_checked(config_path: Path) -> tuple[Config, DaemonSettings]:
    """The config and its daemon settings, its mirror targets parsed: what a start or a reload accepts.

    Every problem of every section (top, ``daemon``, ``mirror``) is reported
    in one error, in file order, each with file, line, column and key. The
    rule for its exit code: 15 (MirrorTargetError) when every problem is in
    the ``mirror`` section, as a bad target alone always was; 3 (ConfigError)
    as soon as any is elsewhere. A reload refused passes that code on.
    Root overrides naming no template's root are not among them: they are
    found with the template files, which a reload checks off the loop
    without refusing (``daemon status`` shows them, the old set stays).
    """
    from ..studio_config import load_studio_config

    studio = load_studio_config(config_path)
    return studio.config, studio.daemon


def release_memory() -> None:
    """Give the memory of a big walk back to the system, so an idle daemon stays small.

    CPython frees the walk's objects, but glibc keeps the freed arenas;
    ``malloc_trim`` returns them. Elsewhere this is a no-op.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def install_signals(daemon: Daemon) -> None:
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: daemon.request_stop("SIGINT"))
    signal.signal(signal.SIGHUP, lambda *_: _hup(daemon))


def _hup(daemon: Daemon) -> None:
    daemon.reload_requested = True
    daemon.wake()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bifrostd", description=(
        "Keep the Bifrost catalog in step with studio storage: reconcile every root, then watch. "
        "Runs in the foreground (systemd: Type=notify). SIGHUP reloads, SIGTERM stops."))
    parser.add_argument("--config", metavar="FILE", help="studio config (default: $BIFROST_CONFIG, "
                        "./bifrost.yaml, /etc/bifrost/bifrost.yaml)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines instead of text")
    parser.add_argument("--version", action="version", version=f"bifrostd {VERSION}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run the daemon until stopped; the one error boundary maps BifrostError to its exit code."""
    from ..config import find_config
    from .log import setup_logging

    args = parse_args(argv)
    environ = os.environ if environ is None else environ
    setup_logging(json_lines=args.log_json)
    daemon = None
    try:
        daemon = Daemon(find_config(args.config, environ=environ), environ=environ)
        install_signals(daemon)
        daemon.start()
        code = daemon.run()
    except BifrostError as exc:
        log.error("Error: %s", exc)
        code = exc.exit_code
    finally:
        if daemon is not None:
            daemon.close()
    if daemon is not None and daemon.abandoned:
        logging.shutdown()
        os._exit(code)  # without waiting for the abandoned transfer; the kernel drops the lock with the process
    if argv is None:
        sys.exit(code)
    return code
