"""``bifrostd``: the long-running daemon that keeps the catalog in step with storage.

Lifecycle: take the state folder's lock, open the catalog as its one
writer, start watching, reconcile every root in full (crash recovery: what
changed while we were down), tell systemd we are ready, then loop:

- dirty paths from the watcher, once settled, are re-observed and applied
  in batches (``bifrostd.dirty``);
- roots the watcher lost events for (queue overflow) are walked again once
  quiet; polled roots (network filesystems, or too few inotify watches)
  get fast pruned rescans; every root gets a full reconcile every
  ``full_every``;
- the template files are checked every second and, when changed and
  valid, the catalog is migrated to the new set (``bifrostd.live_templates``);
- the control socket answers status, reload, stop and ping; a catalog write
  asked for over it (``forget``) is queued and run by the loop.

Mirror runs happen on their own thread (``bifrostd.daemon_mirror``), so a long
first run never holds up indexing or the watchdog heartbeat.

Threads: the main thread runs the loop and is the only one that touches the
catalog through ``self.catalog``; the mirror worker has its own connection
(a sibling of the writer's); watchdog's threads only mark paths dirty; the
control server's threads read status and set flags; signal handlers set flags. Everyone
wakes the loop through one pipe. SIGTERM and SIGINT finish the current batch
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
from typing import Any, Callable, Mapping, Sequence

from . import __version__ as VERSION
from .control import ControlServer, socket_place, usage_error
from .daemon_config import DaemonSettings, daemon_settings
from .errors import BifrostError, CatalogCorrupt, DaemonError, MirrorTargetError
from .lock import StateLock
from .model import FindingKind
from .sdnotify import Heartbeat, Notifier, WatchdogPinger, watchdog_interval
from .settle import Dirty, Settler

log = logging.getLogger("bifrostd")
STATUS_SCHEMA = "bifrost.daemon-status.1"
MIRROR_STOP_WAIT = 60.0  # seconds close() waits for an upload in flight; well under TimeoutStopSec=2min
ROOT_CHECK_EVERY = 2.0  # seconds between checks that each root path still names the folder watched
REQUEST_WAIT = 60.0  # seconds a control request waits for the loop to run its catalog write
from .control_limits import raise_nofile_limit
REPLY_FILES = 1000  # files listed in a forget reply (the count is always whole); keeps the line well under 1 MiB
TRIM_QUIET = 5.0  # seconds without big batches or rescans before their memory is handed back (_maybe_trim)
TRIM_AFTER_ACTIONS = 1000  # a batch this big (a burst) leaves memory worth handing back; one save does not


class Interrupted(Exception):
    """Raised from a progress callback to stop a long walk at a batch boundary."""


class Daemon:
    """One daemon on one state folder. ``clock`` is monotonic seconds; ``environ`` is read only here."""

    def __init__(self, config_path: Path, *, environ: Mapping[str, str],
                 clock: Callable[[], float] = time.monotonic, mounts: Callable[[], Any] | None = None) -> None:
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
        self.catalog: Any = None
        self.watcher: Any = None
        self.control: ControlServer | None = None
        self.pinger: WatchdogPinger | None = None
        self.template_set: Any = None
        self.templates: Any = None
        self.classifier: Any = None
        self.schedule: Any = None
        self._template_signature: Any = None
        self._requests: deque[tuple[Callable[[], Any], Future]] = deque()
        self._requests_lock = threading.Lock()
        self._closed = False
        self.abandoned = False  # close() left a mirror transfer running: the process must exit at once
        self._roots_checked = 0.0
        self._watched_signature: tuple = ()  # the roots (paths, modes) the watcher was started with
        self._worked: float | None = None  # when the last big batch or rescan ended, until its memory is trimmed
        from .daemon_mirror import MirrorWorker

        self.mirror = MirrorWorker(lambda: self.catalog.sibling())

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
            select.select([self._wake_r], [], [], timeout)
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
        from .catalog import Catalog
        from .live_templates import TemplateStatus, files_signature
        from .reconcile import Classifier
        from .schedule import Schedule

        self.lock = StateLock(self.config.state_dir).acquire()
        self.template_set = self.config.load_templates()
        self.templates = TemplateStatus(str(self.config.templates), self.template_set.fingerprint)
        self._template_signature = files_signature(self.config.templates)
        self.classifier = Classifier(self.template_set)
        self._check_root_modes()
        self.catalog = Catalog.open(self.config.catalog_path, write=True)
        now = self.clock()
        self.schedule = Schedule(full_every=self.settings.full_every, poll_every=self.settings.poll_every,
                                 settle=self.settings.settle, now=now)
        self.control = ControlServer(socket_place(self.config.state_dir, self.environ.get("RUNTIME_DIRECTORY")),
                                     self.handlers()).start()
        self._start_pinger()
        self.start_watching()
        log.info("bifrostd %s started (pid %d) on %s; control socket %s", VERSION, os.getpid(),
                 self.config.state_dir, self.control.place.link)

        raise_nofile_limit()  # before anything is opened; the control socket keeps a reserve of the rest
    def _check_root_modes(self) -> None:
        unknown = sorted(set(self.settings.modes) - set(self.template_set.roots))
        if unknown:
            raise DaemonError(f"daemon.roots names unknown root(s) {', '.join(unknown)} "
                              f"(roots: {', '.join(self.template_set.roots)})")

    def _start_pinger(self) -> None:
        interval = watchdog_interval(self.environ, pid=os.getpid())
        if interval and self.notifier.enabled:
            self.pinger = WatchdogPinger(self.notifier, self.heartbeat, interval).start()

    def start_watching(self) -> None:
        from .watch import Watcher, plan_roots

        paths = {name: self.template_set.root_path(name) for name in self.template_set.roots}
        kwargs = {"mounts": self.mounts} if self.mounts else {}
        plans = plan_roots(paths, self.settings.modes, **kwargs)
        self.watcher = Watcher(plans, on_dirty=self.on_dirty, on_rescan=self.on_rescan).start()
        self._watched_signature = self._root_signature()
        for plan in plans:
            state = self.watcher.roots[plan.name].state
            log.info("root %s (%s): %s, %s", plan.name, plan.path, state.mode.value, state.reason)
        self._update_polled()

    def _update_polled(self) -> None:
        self.schedule.poll({n for n, w in self.watcher.roots.items() if w.polled}, self.clock())

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.phase = "reconciling"
        self.notifier.status("reconciling every root")
        self.full_reconcile("startup")
        if not self.stopping:
            self.mirror.configure(self.config, self.template_set)
            self.mirror.start()
            self.phase = "watching"
            self.notifier.ready(self.status_line())
            log.info("ready: %s", self.status_line())
        while not self.stopping:
            self.heartbeat.beat()
            self.step()
            self._sleep(self.next_wake() - self.clock())
        return 0

    def step(self) -> None:
        """Do whatever is due, most urgent first; one failure never stops the loop."""
        for work in (self._maybe_reload, self._maybe_requests, self._maybe_roots, self._maybe_templates,
                     self._maybe_full, self._maybe_rescans, self._maybe_batch, self._maybe_trim):
            if self.stopping:
                return
            self.guarded(work)

    def guarded(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except Interrupted:
            log.info("interrupted at a batch boundary: stopping")
        except CatalogCorrupt:
            raise  # nothing the loop does mends it, and writing on could spread it: stop (exit 17)
        except BifrostError as exc:
            self.error(str(exc))
        except Exception as exc:  # a bug or an I/O error (disk full): log, count, keep serving
            from .catalog.integrity import translated

            damage = translated(exc, self.config.catalog_path)  # met outside the catalog's methods
            if isinstance(damage, CatalogCorrupt):
                raise damage from exc
            log.exception("unexpected error in %s", getattr(work, "__name__", work))
            self.error(f"{type(exc).__name__}: {exc}")
            self._sleep(1.0)

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
        if self.reload_requested or self.stopping:
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

    def on_loop(self, work: Callable[[], Any], *, timeout: float = REQUEST_WAIT) -> Any:
        """Run ``work`` on the loop's thread and return its result (called from a control thread).

        Raises DaemonError when the loop does not get to it within ``timeout``
        seconds (a long reconcile): the work is then withdrawn, never run later.
        """
        future: Future = Future()
        with self._requests_lock:
            if self._closed:
                raise DaemonError("the daemon is stopping; nothing was done")
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

        from .dirty import apply_dirty

        now = self.clock()
        due = self.settler.take(now, limit=self.settings.batch_max)
        if not due:
            return
        by_root: dict[str, list[Dirty]] = defaultdict(list)
        for dirty in due:
            by_root[dirty.root].append(dirty)
        started = time.perf_counter()
        for root, paths in by_root.items():
            if root not in self.template_set.roots:
                continue
            report = apply_dirty(self.catalog, self.template_set, root, paths,
                                 settle_ns=int(self.settings.settle * 1e9), classifier=self.classifier,
                                 hash_files=self.config.scan.hash, workers=self.config.scan.workers)
            self._after_batch(report, time.perf_counter() - started)

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

    def _after_batch(self, report: Any, duration: float) -> None:
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
        for rescan in self.schedule.due_rescans(now, quiet):
            if self.stopping:
                return
            self.rescan(rescan.root, full=rescan.full, reason=rescan.reason)
            self.schedule.polled(rescan.root, self.clock())
            if rescan.full:
                release_memory()

    def _maybe_full(self) -> None:
        if self.schedule.full_due(self.clock()):
            self.full_reconcile("periodic")

    def full_reconcile(self, reason: str) -> None:
        started = time.perf_counter()
        for root in self.template_set.roots:
            if self.stopping:
                return
            self.guarded(partial(self.rescan, root, full=True, reason=reason))
        duration = time.perf_counter() - started
        self.counts["full_reconciles"] += 1
        self.last_full = {"at": time.time(), "reason": reason, "duration_s": round(duration, 3)}
        self.schedule.full_done(self.clock())
        self.catalog.release_memory()
        release_memory()
        log.info("full reconcile (%s) of %d roots in %.2f s", reason, len(self.template_set.roots), duration,
                 extra={"reason": reason, "duration_s": round(duration, 3)})

    def rescan(self, root: str, *, full: bool, reason: str) -> None:
        """Walk one root (pruned, or full) and apply; checks its watch coverage afterwards."""
        from .indexer import ScanOptions, scan
        from .scan import walk

        options = ScanOptions(roots=(root,), full=full, hash_files=self.config.scan.hash,
                              workers=self.config.scan.workers)
        walker = partial(walk, scandir=self._beating_scandir)
        report = scan(self.catalog, self.template_set, options, walker=walker, progress=self._progress)
        self.counts["rescans"] += 1
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

    def _check_coverage(self, root: str) -> None:
        watcher = self.watcher.roots.get(root) if self.watcher else None
        if watcher is None or not watcher.state.watching:
            return
        folders = self.catalog.dir_count(root)
        if not watcher.check_coverage(folders):
            self._update_polled()

    def _beating_scandir(self, path: Any) -> Any:
        """``os.scandir`` that proves the loop alive during long walks and lets a stop interrupt them."""
        self.heartbeat.beat()
        if self.stopping:
            raise Interrupted()
        return os.scandir(path)

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self.heartbeat.beat()
        if self.stopping:
            raise Interrupted()

    # -- templates and reload --------------------------------------------------------------------
    def _maybe_templates(self) -> None:
        from .live_templates import files_signature

        if not self.schedule.templates_due(self.clock()):
            return
        signature = files_signature(self.config.templates)
        if signature != self._template_signature:
            self._template_signature = signature
            self.apply_templates("the template files changed")

    def apply_templates(self, why: str) -> bool:
        """Check the set on disk; switch to it and migrate the catalog if valid, else keep the old one."""
        from .live_templates import check, migrate
        from .reconcile import Classifier

        new_set, problems = check(self.config)
        if new_set is None:
            self.templates.valid = False
            self.templates.problems = [str(p) for p in problems]
            for problem in problems:
                log.error("template problem: %s", problem)
            log.warning("%s but the new set is invalid (%d problems): still using %s", why, len(problems),
                        self.templates.fingerprint)
            return False
        self.templates.valid, self.templates.problems = True, []
        if new_set.fingerprint == self.template_set.fingerprint:
            if _root_locations(new_set) != _root_locations(self.template_set):  # bifrost.yaml moved a root
                self.template_set, self.classifier = new_set, Classifier(new_set)
                self.mirror.configure(self.config, new_set)
                self._rewatch(why)
            return True
        old = self.template_set.fingerprint
        self.template_set, self.classifier = new_set, Classifier(new_set)
        self.mirror.configure(self.config, new_set)
        totals = migrate(self.catalog, new_set)
        self.templates.fingerprint = new_set.fingerprint
        self.templates.last_change = {"at": time.time(), "from": old, "to": new_set.fingerprint, **totals}
        log.info("%s: template set %s -> %s; %d records re-derived, %d changed template or entity", why, old,
                 new_set.fingerprint, totals["records"], totals["rematched"])
        self._rewatch(why)
        return True

    def _rewatch(self, why: str) -> None:
        """Watch and walk again when the roots (paths or modes) differ from those being watched."""
        if self.watcher is None or self._root_signature() == self._watched_signature:
            return
        self.watcher.stop()
        self.start_watching()
        for root in self.template_set.roots:
            self.schedule.request(root, why, self.clock())

    def _maybe_reload(self) -> None:
        if self.reload_requested:
            self.reload_requested = False
            self.reload()

    def reload(self) -> dict[str, Any]:
        """Re-read the config and the templates; a bad config keeps the running one."""
        self.notifier.reloading(int(time.monotonic() * 1e6))
        try:
            config, settings = load_checked(self.config_path)
        except BifrostError as exc:
            self.error(f"reload refused, keeping the running config: {exc}")
            self.notifier.ready(self.status_line())
            return {"reloaded": False, "error": str(exc)}
        self.config, self.settings = config, settings
        self.settler.settle = settings.settle
        self.schedule.settle = settings.settle
        self.schedule.full_every, self.schedule.poll_every = settings.full_every, settings.poll_every
        valid = self.apply_templates("reload")
        self.mirror.configure(self.config, self.template_set)  # mirror.targets changes apply from its next wake-up
        self._rewatch("reload")
        log.info("reloaded %s (templates %s)", self.config_path, "valid" if valid else "invalid: kept the old set")
        self.notifier.ready(self.status_line())
        return {"reloaded": True, "templates_valid": valid}

    def _root_signature(self) -> tuple:
        """The roots as watched: their paths on this machine, and the configured watch modes."""
        return (_root_locations(self.template_set), tuple(sorted(self.settings.modes.items())))

    # -- control ---------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]]:
        return {"ping": lambda r: {"pid": os.getpid(), "version": VERSION},
                "status": lambda r: {"status": self.status()},
                "reload": self._request_reload,
                "stop": self._request_stop,
                "forget": self._request_forget,
                "mirror-run": self._request_mirror_run}

    def _request_reload(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Have the loop reload; a config it would refuse is refused here and now, so the asker hears why.

        Reading the file touches nothing of the running daemon, so it is done
        on this (control) thread; the loop's reload checks the file again, as
        it may change in between.
        """
        try:
            load_checked(self.config_path)
        except BifrostError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            refusal = DaemonError(f"reload refused, keeping the running config: {exc}")
            refusal.exit_code = exc.exit_code  # the config's own code: 3 for an invalid bifrost.yaml
            raise refusal from exc
        self.reload_requested = True
        self.wake()
        return {"reloading": True}

    def _request_forget(self, request: Mapping[str, Any]) -> dict[str, Any]:
        from .forget import ForgetReport, execute_forget, plan_forget
        from .templates import is_reference

        targets = request.get("targets", [])
        everything, dry_run = request.get("all", False), request.get("dry_run", False)
        if not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)
                and isinstance(everything, bool) and isinstance(dry_run, bool)):
            raise usage_error('forget takes "targets" (a list of strings), "all" and "dry_run" (booleans)')
        relative = [t for t in targets if not is_reference(t) and not os.path.isabs(t)]
        if relative:
            raise usage_error(f"forget takes absolute paths (the daemon's folder is not yours): {relative[0]!r}")
        if not targets and not everything:
            raise usage_error('forget takes "targets", or "all": true')

        def work() -> dict[str, Any]:
            plan = plan_forget(self.catalog, self.template_set, targets, everything=everything)
            if dry_run:
                return ForgetReport(plan, dry_run=True).to_json(limit=REPLY_FILES)
            report = execute_forget(self.catalog, self.template_set, plan)
            if report.forgotten:
                log.info("forgot %d missing records (%s)", len(report.forgotten), ", ".join(plan.targets))
            return report.to_json(limit=REPLY_FILES)

        return {"forget": self.on_loop(work)}

    def _request_mirror_run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Ask the mirror worker to run targets now (all configured ones when none are named)."""
        from .mirror import parse_targets

        names = request.get("targets", [])
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise usage_error('mirror-run takes "targets", a list of target names')
        allow_deletions = request.get("allow_deletions", False)
        if not isinstance(allow_deletions, bool):
            raise usage_error('mirror-run takes "allow_deletions", true or false')
        configured = list(parse_targets(self.config.mirror)) if self.config.mirror else []
        unknown = [n for n in names if n not in configured]
        if unknown or not configured:
            what = f"no mirror target {unknown[0]!r}" if unknown else "no mirror targets"
            raise MirrorTargetError(f"{what} in the running config (targets: {', '.join(configured) or 'none'}); "
                                    "after editing bifrost.yaml, 'bifrostctl daemon reload'")
        chosen = names or configured
        self.mirror.request_run(chosen, allow_deletions=allow_deletions)
        return {"requested": chosen, "allow_deletions": allow_deletions}

    def _request_stop(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.request_stop("control socket")
        return {"stopping": True, "pid": os.getpid()}

    def request_stop(self, why: str) -> None:
        if not self.stopping:
            self.stopping = True
            log.info("stopping (%s): finishing the current batch", why)
        self.mirror.stop(timeout=0)  # a mirror run stops between files
        self.wake()

    def status(self) -> dict[str, Any]:
        from .daemon_status import status_document

        return status_document(self)

    def status_line(self) -> str:
        from .daemon_status import status_line

        return status_line(self)

    # -- stop ------------------------------------------------------------------------------------
    def close(self) -> None:
        self.notifier.stopping()
        with self._requests_lock:  # asked for while stopping: refused, never half done
            self._closed = True
            pending, self._requests = list(self._requests), deque()
        for _, future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(DaemonError("the daemon is stopping; nothing was done"))
        if not self.mirror.stop(timeout=MIRROR_STOP_WAIT):
            log.warning("the mirror worker is still finishing a transfer; exiting without it (the file goes again "
                        "next run)")
            self.abandoned = True
        for part in (self.watcher, self.control, self.pinger):
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
        if self.catalog is not None:
            self.catalog.close()
        if self.lock is not None:
            self.lock.release()
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("stopped")


def _root_locations(template_set: Any) -> tuple[tuple[str, str], ...]:
    """(root name, path on this machine) of every root, in name order."""
    if template_set is None:
        return ()
    return tuple(sorted((name, template_set.root_path(name)) for name in template_set.roots))


def load_checked(config_path: Path) -> tuple[Any, DaemonSettings]:
    """The config and its daemon settings, its mirror targets parsed: what a start or a reload accepts."""
    from .config import load_config

    config = load_config(config_path)
    settings = daemon_settings(config)
    check_mirror_targets(config)
    return config, settings


def check_mirror_targets(config: Any) -> None:
    """Parse ``mirror.targets`` now, so a bad target refuses the start or the reload, not each run."""
    if config.mirror:
        from .mirror import parse_targets

        parse_targets(config.mirror)


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
    from .config import find_config
    from .daemon_log import setup_logging

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
