"""The daemon's answers to control requests: one handler per op of the control protocol.

Handlers run on the control server's threads: they check the request,
answer what needs no catalog (ping, status), set the loop's flags (reload,
stop), and hand work that touches the catalog (forget) to the loop with
``Daemon.on_loop``. What each op takes and answers is documented in
docs/control-protocol.md.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .. import __version__ as VERSION
from ..errors import BifrostError, MirrorTargetError, error_class
from .control import usage_error

if TYPE_CHECKING:
    from .loop import Daemon

log = logging.getLogger("bifrostd")

REPLY_FILES = 1000  # files listed in a forget reply (the count is always whole); keeps the line well under 1 MiB


class ControlRequests:
    """The ops the daemon answers on its control socket."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]]:
        return {"ping": lambda r: {"pid": os.getpid(), "version": VERSION},
                "status": lambda r: {"status": self.daemon.status()},
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
        from ..studio_config import load_studio_config

        try:
            load_studio_config(self.daemon.config_path)  # as Daemon.reload will, with every problem listed
        except BifrostError as exc:
            self.daemon.error(f"reload refused, keeping the running config: {exc}")  # for daemon status and the log too
            # with the config's own code: 3 for an invalid bifrost.yaml, 15 for a bad mirror target
            raise error_class(exc.exit_code)(f"reload refused, keeping the running config: {exc}") from exc
        self.daemon.reload_requested = True
        self.daemon.wake()
        return {"reloading": True}

    def _request_forget(self, request: Mapping[str, Any]) -> dict[str, Any]:
        from ..reconcile.forget import ForgetReport, execute_forget, plan_forget
        from ..templates import is_reference

        targets = request.get("targets", [])
        everything, dry_run = request.get("all", False), request.get("dry_run", False)
        if not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)
                and isinstance(everything, bool) and isinstance(dry_run, bool)):
            raise usage_error('forget takes "targets" (a list of strings), "all" and "dry_run" (booleans)')
        relative = [t for t in targets if not is_reference(t) and not os.path.isabs(t) and not _windows_absolute(t)]
        if relative:
            raise usage_error(f"forget takes absolute paths (the daemon's folder is not yours): {relative[0]!r}")
        if not targets and not everything:
            raise usage_error('forget takes "targets", or "all": true')

        def work() -> dict[str, Any]:
            plan = plan_forget(self.daemon.catalog, self.daemon.template_set, targets, everything=everything)
            if dry_run:
                return ForgetReport(plan, dry_run=True).to_json(limit=REPLY_FILES)
            report = execute_forget(self.daemon.catalog, self.daemon.template_set, plan)
            if report.forgotten:
                log.info("forgot %d missing records (%s)", len(report.forgotten), ", ".join(plan.targets))
            return report.to_json(limit=REPLY_FILES)

        return {"forget": self.daemon.on_loop(work)}

    def _request_mirror_run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Ask the mirror worker to run targets now (all configured ones when none are named)."""
        from ..mirror import parse_targets

        names = request.get("targets", [])
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise usage_error('mirror-run takes "targets", a list of target names')
        allow_deletions = request.get("allow_deletions", False)
        if not isinstance(allow_deletions, bool):
            raise usage_error('mirror-run takes "allow_deletions", true or false')
        configured = list(parse_targets(self.daemon.config.mirror)) if self.daemon.config.mirror else []
        unknown = [n for n in names if n not in configured]
        if unknown or not configured:
            what = f"no mirror target {unknown[0]!r}" if unknown else "no mirror targets"
            raise MirrorTargetError(f"{what} in the running config (targets: {', '.join(configured) or 'none'}); "
                                    "after editing bifrost.yaml, 'bifrostctl daemon reload'")
        chosen = names or configured
        self.daemon.mirror.request_run(chosen, allow_deletions=allow_deletions)
        return {"requested": chosen, "allow_deletions": allow_deletions}

    def _request_stop(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.daemon.request_stop("control socket")
        return {"stopping": True, "pid": os.getpid()}


def _windows_absolute(target: str) -> bool:
    """A drive or UNC path: absolute on its own OS, placed under a root by ``templates.placing``."""
    from ..templates.placing import syntax_of

    return syntax_of(target, "linux") == "windows"
