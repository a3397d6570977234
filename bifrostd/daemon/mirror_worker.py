"""The daemon's mirror worker: scheduled mirror runs on their own thread and catalog connection.

A first run to a bucket can take hours, and one large object minutes. On the
main loop that would stall indexing of new saves and, under systemd, outlast
``WatchdogSec``. So the runs happen here, on one thread that sleeps until the
earliest target is due, while the main loop keeps watching, indexing and
beating the heartbeat.

Invariants a reader could break:
- the worker has its own connection to the catalog (``open_catalog``); the
  main loop's connection is never touched from this thread. SQLite (WAL, with a
  busy timeout) serialises the two writers' short transactions; all SQL stays
  in :mod:`bifrostd.catalog`;
- ``configure`` is the only way in for a new config or template set (from
  ``reload`` or a template change); the worker reads it at its next wake-up, so a
  run in progress finishes with the settings it started with;
- ``stop`` ends a run between files (an upload in flight completes or is
  abandoned uncommitted); what was not recorded goes again next run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..config import Config
    from ..templates import TemplateSet

log = logging.getLogger("bifrostd.mirror")
RETRY_AFTER_ERROR = 60.0  # seconds before trying again when a step failed unexpectedly


class MirrorWorker:
    """Runs due mirror targets until stopped. ``status()`` is safe from any thread."""

    def __init__(self, open_catalog: Callable[[], Catalog], *, clock: Callable[[], float] = time.time) -> None:
        self._open_catalog = open_catalog
        self._clock = clock
        self._config: Config | None = None
        self._template_set: TemplateSet | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "idle", "target": None, "stage": None, "done": None,
                                        "total": None, "next_due": None, "last": {}, "error": None}
        self._thread: threading.Thread | None = None
        self._asked: set[str] = set()  # targets asked for over the control socket (bifrostctl mirror run)
        self._allowed: set[str] = set()  # of those, targets whose next run may delete beyond max_delete

    # -- from the main thread ---------------------------------------------------------------
    def configure(self, config: Config, template_set: TemplateSet) -> None:
        """Use this config and template set from the next wake-up on (and wake up now)."""
        with self._lock:
            self._config, self._template_set = config, template_set
        self._wake.set()

    def request_run(self, names: list[str], *, allow_deletions: bool = False) -> None:
        """Run these targets at the next wake-up (now, unless a run is in progress), due or not;
        ``allow_deletions`` lifts their ``max_delete`` for that one run."""
        with self._lock:
            self._asked.update(names)
            if allow_deletions:
                self._allowed.update(names)
        self._wake.set()

    def start(self) -> MirrorWorker:
        self._thread = threading.Thread(target=self._run, name="bifrost-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Ask the worker to stop between files and wait for it; False if it is still busy after ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**self._status, "last": dict(self._status["last"])}

    # -- on the worker thread ---------------------------------------------------------------
    def _run(self) -> None:
        catalog = None
        try:
            while not self._stop.is_set():
                delay, catalog = self._step(catalog)
                self._wake.wait(delay)
                self._wake.clear()
        finally:
            if catalog is not None:
                catalog.close()
            self._set(state="stopped", target=None, stage=None)

    def _step(self, catalog: Catalog | None) -> tuple[float | None, Catalog | None]:
        """Run what is due; returns seconds until the next due target (None: until configured) and the catalog."""
        with self._lock:
            config, template_set = self._config, self._template_set
        if config is None or not config.mirror:
            self._set(next_due=None)
            return None, catalog
        try:
            catalog = catalog or self._open_catalog()
            return self._run_due(config, template_set, catalog), catalog
        except Exception as error:  # a bug or an unreachable catalog: log, show, retry later
            log.exception("mirror worker: unexpected error")
            self._set(state="idle", error=f"{type(error).__name__}: {error}")
            return RETRY_AFTER_ERROR, catalog

    def _run_due(self, config: Config, template_set: TemplateSet | None, catalog: Catalog) -> float | None:
        from ..catalog.mirror_state import MirrorState
        from ..mirror import parse_targets
        from ..mirror.runner import next_due, run_due_targets

        with self._lock:
            asked, self._asked = sorted(self._asked), set()
            allowed, self._allowed = sorted(self._allowed), set()
        reports = run_due_targets(config, catalog, self._clock(), template_set=template_set,
                                  should_stop=self._stop.is_set, progress=self._progress, also=asked,
                                  allow_deletions=allowed,
                                  on_target=lambda target: self._set(state="running", target=target.name,
                                                                     stage=None, done=None, total=None))
        for report in reports:
            log.info("mirror %s: %s %s", report.target, report.status, report.counts or "")
            if report.plan.held_reason:
                log.warning("mirror %s: %s", report.target, report.plan.held_reason)
            with self._lock:
                self._status["last"][report.target] = {"at": self._clock(), "status": report.status,
                                                       "counts": dict(report.counts), "bytes": report.bytes,
                                                       "seconds": round(report.seconds, 3), "error": report.error}
        due = next_due(parse_targets(config.mirror).values(), MirrorState.of(catalog), self._clock())
        self._set(state="idle", target=None, stage=None, done=None, total=None, next_due=due, error=None)
        return None if due is None else max(1.0, due - self._clock())

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self._set(stage=stage, done=done, total=total)

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)
