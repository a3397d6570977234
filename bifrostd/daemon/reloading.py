"""Following the studio config and the template files while the daemon runs.

Three things change under a running daemon, and this room takes each into use
on the loop, between units of work:

- the config, on SIGHUP or a ``reload`` request: re-read and checked in full,
  a bad one refused with the running one kept (``reload``);
- the template files, looked at every second: a changed set is proven valid
  off the loop (``live_templates.CheckWorker``) and used once it is, the
  catalog's records then re-derived with it a step at a time (``take_checked``,
  ``migrate_step``);
- the roots: when a new config or set moves a root or changes its watch mode,
  the watcher starts again and every root is walked (``rewatch``).

The loop owns the timing (when each is tried); this room owns what is done.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import BifrostError

if TYPE_CHECKING:
    from ..templates import TemplateSet
    from .loop import Daemon

log = logging.getLogger("bifrostd")

Signature = tuple[object, ...]


def root_locations(template_set: TemplateSet) -> tuple[tuple[str, str], ...]:
    from .live_templates import root_locations as locations  # with the reconcile code: loaded by start()

    return locations(template_set)


class Reloading:
    """What a running daemon does when its config or templates change."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.watched: Signature = ()  # the roots (paths, modes) the watcher was last started with

    # -- the template files --------------------------------------------------------------------------
    def look(self) -> None:
        """Have changed template files checked (every second); take a check's answer. No catalog write."""
        daemon = self.daemon
        if daemon.live is not None:
            daemon.live.look(daemon.config, daemon.template_set, files=daemon.schedule.templates_due(daemon.clock()))

    def take_checked(self) -> None:
        """Use a template set once its check proved it valid."""
        self.look()
        live = self.daemon.live
        if live is not None and live.pending is not None:
            new_set, live.pending = live.pending, None
            self.use(new_set, live.why)

    @property
    def pending(self) -> bool:
        """A checked template set waits to be used: long work should stop at its next batch boundary."""
        self.look()
        live = self.daemon.live
        return live is not None and live.pending is not None

    def use(self, new_set: TemplateSet, why: str) -> None:
        """Match with ``new_set`` from now on; a new fingerprint starts re-deriving the catalog's records."""
        from ..reconcile.plan import Classifier

        daemon = self.daemon
        old, daemon.template_set, daemon.classifier = daemon.template_set, new_set, Classifier(new_set)
        daemon.mirror.configure(daemon.config, new_set)
        assert daemon.live is not None  # set by start(), like the template set
        daemon.live.switched(old, new_set, why)
        self.rewatch(why)

    def migrate_step(self) -> int:
        """Re-derive the next step of records with the set in use; how many were changed."""
        daemon = self.daemon
        if daemon.live is None:
            return 0
        return daemon.live.migrate(daemon.catalog, daemon.template_set, daemon.classifier)

    # -- the roots -----------------------------------------------------------------------------------
    def root_signature(self) -> Signature:
        """The roots as watched: their paths on this machine, and the configured watch modes."""
        daemon = self.daemon
        return (root_locations(daemon.template_set), tuple(sorted(daemon.settings.modes.items())))

    def rewatch(self, why: str) -> None:
        """Watch and walk again when the roots (paths or modes) differ from those being watched."""
        daemon = self.daemon
        if daemon.watcher is None or self.root_signature() == self.watched:
            return
        daemon.watcher.stop()
        daemon.start_watching()
        for root in daemon.template_set.roots:
            daemon.schedule.request(root, why, daemon.clock())

    # -- the config ----------------------------------------------------------------------------------
    def maybe_reload(self) -> None:
        if self.daemon.reload_requested:
            self.daemon.reload_requested = False
            self.reload()

    def reload(self) -> dict[str, Any]:
        """Re-read the config and the templates; a bad config keeps the running one."""
        from ..studio_config import load_studio_config

        daemon = self.daemon
        daemon.notifier.reloading(int(time.monotonic() * 1e6))
        try:
            studio = load_studio_config(daemon.config_path)
        except BifrostError as exc:
            daemon.error(f"reload refused, keeping the running config: {exc}")
            daemon.notifier.ready(daemon.status_line())
            return {"reloaded": False, "error": str(exc)}
        config, settings = studio.config, studio.daemon
        daemon.config, daemon.settings = config, settings
        daemon.settler.settle = settings.settle
        daemon.schedule.settle = settings.settle
        daemon.schedule.full_every, daemon.schedule.poll_every = settings.full_every, settings.poll_every
        daemon.batch_sizer.most = settings.batch_max
        daemon.rolling.configure(settings)
        templates = self._reload_templates()
        daemon.mirror.configure(daemon.config, daemon.template_set)  # mirror.targets apply from its next wake-up
        self.rewatch("reload")
        log.info("reloaded %s (templates %s)", daemon.config_path, templates)
        daemon.notifier.ready(daemon.status_line())
        return {"reloaded": True, "templates": templates}

    def _reload_templates(self) -> str:
        """Have the files checked again (off the loop; a valid new set is used once proven). Files that are
        those of the set in use (same fingerprint) were accepted already: the config's root paths, which may
        have moved, apply to them at once."""
        from ..templates import build_template_set

        daemon = self.daemon
        assert daemon.live is not None  # set by start()
        daemon.live.reloaded(daemon.config)
        on_disk, _ = build_template_set(daemon.config.templates)
        if on_disk is None or on_disk.fingerprint != daemon.template_set.fingerprint:
            return "changed: checking them"
        new_set, wrong = daemon.config.with_root_overrides(on_disk)
        if wrong:
            daemon.live.invalid(wrong, "reload")
            return "invalid: kept the old set"
        if root_locations(new_set) != root_locations(daemon.template_set):
            self.use(new_set, "reload")
        return "unchanged"
