"""The daemon's live state as one JSON document (``bifrost.daemon-status.1``) and one line for systemd.

The document is what ``bifrostctl daemon status --json`` prints and what
``bifrostctl status`` embeds under ``daemon``; its fields are documented in
docs/control-protocol.md. It is built from the daemon's counters without
touching the catalog, so status never waits for a batch. Both are rendered
from a :class:`DaemonSnapshot`, the value the daemon gives of itself; nothing
here reads the daemon.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

SCHEMA = "bifrost.daemon-status.1"


@dataclass(frozen=True)
class DaemonSnapshot:
    """What a daemon shows of itself at one moment (``Daemon.snapshot``): all the status document and line say.

    ``roots`` are the watchers' full states (reading them costs a look at
    /proc), filled for the document only; ``modes`` is the cheap
    (root, mode) list the status line shows.
    """

    phase: str
    started: float  # wall-clock time of the start
    uptime_s: float
    config: str
    state_dir: str
    settle_s: float
    modes: tuple[tuple[str, str], ...]
    pending: int
    events: int
    templates_valid: bool
    failing: list[dict[str, Any]] = field(default_factory=list)
    unreconciled: tuple[str, ...] = ()
    roots: list[dict[str, Any]] = field(default_factory=list)
    rescans_waiting: Mapping[str, Any] = field(default_factory=dict)
    last_rescan: Mapping[str, Any] = field(default_factory=dict)
    last_batch: dict[str, Any] | None = None
    last_full: dict[str, Any] | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[dict[str, Any], ...] = ()
    templates: dict[str, Any] | None = None
    mirror: dict[str, Any] | None = None
    passes: Mapping[str, Any] = field(default_factory=dict)  # "sweep" and "scrub"


def status_document(snapshot: DaemonSnapshot) -> dict[str, Any]:
    from .. import __version__

    roots = [{**root, "last_rescan": snapshot.last_rescan.get(root["name"])} for root in snapshot.roots]
    events = [r["last_event"] for r in roots if r.get("last_event")]
    return {
        "schema": SCHEMA,
        "pid": os.getpid(),
        "version": __version__,
        "phase": snapshot.phase,
        "started": snapshot.started,
        "uptime_s": round(snapshot.uptime_s, 3),
        "config": snapshot.config,
        "state_dir": snapshot.state_dir,
        "settle_s": snapshot.settle_s,
        "roots": roots,
        "queue": {"pending": snapshot.pending, "events": snapshot.events,
                  "rescans_waiting": dict(snapshot.rescans_waiting)},
        "last_event": max(events) if events else None,
        "last_batch": snapshot.last_batch,
        "last_full_reconcile": snapshot.last_full,
        "overflows": sum(r["overflows"] for r in roots),
        "counts": dict(snapshot.counts),
        "failing": snapshot.failing,
        "unreconciled": sorted(snapshot.unreconciled),
        "errors": list(snapshot.errors),
        "templates": snapshot.templates,
        "mirror": snapshot.mirror,
        **snapshot.passes,
    }


def status_line(snapshot: DaemonSnapshot) -> str:
    """A short line for systemd's STATUS= (shown by ``systemctl status``)."""
    modes = ", ".join(f"{name}:{mode}" for name, mode in snapshot.modes)
    templates = "" if snapshot.templates_valid else "; TEMPLATES INVALID"
    waiting = f"; not yet reconciled: {', '.join(sorted(snapshot.unreconciled))}" if snapshot.unreconciled else ""
    failing = f"; {len(snapshot.failing)} failing" if snapshot.failing else ""
    return f"{snapshot.phase}: {modes}; {snapshot.pending} pending{templates}{waiting}{failing}"


def _mirror_text(mirror: dict[str, Any]) -> str:
    if mirror["state"] == "running" and mirror["stage"]:
        total = f"/{mirror['total']:,}" if mirror["total"] is not None else ""
        text = f"running {mirror['target']}: {mirror['stage']} {mirror['done'] or 0:,}{total}"
    else:
        text = mirror["state"] + (f", next run {_when(mirror['next_due'])}" if mirror["next_due"] else "")
    last = "; ".join(f"{name} {run['status']} {_when(run['at'])}" for name, run in sorted(mirror["last"].items()))
    return text + (f"; last: {last}" if last else "") + (f"; error: {mirror['error']}" if mirror["error"] else "")


def describe(document: dict[str, Any]) -> str:
    """The human rendering used by ``bifrostctl daemon status`` and ``bifrostctl status``."""
    lines = [f"daemon     pid {document['pid']}, {document['phase']}, up {_duration(document['uptime_s'])}"]
    for root in document["roots"]:
        watches = f"{root['watches']:,} watches" if root["inotify"] else "no inotify"
        lines.append(f"  root {root['name']:<10} {root['mode']:<5} {watches}, {root['overflows']} overflows"
                     f" ({root['reason']})")
    queue = document["queue"]
    lines.append(f"  queue      {queue['pending']:,} pending, {queue['events']:,} events seen")
    lines.append(f"  last event {_when(document['last_event'])}")
    full = document["last_full_reconcile"]
    lines.append(f"  last full  {_when(full['at']) + ' (' + str(full['duration_s']) + ' s)' if full else 'not yet'}")
    counts = document["counts"]
    lines.append(f"  counts     {counts['batches']:,} batches, {counts['actions']:,} changes, "
                 f"{document['overflows']} overflows, {counts['errors']} errors")
    templates = document["templates"]
    if templates:
        verdict = "valid" if templates["valid"] else f"INVALID ({len(templates['problems'])} problems, old set kept)"
        lines.append(f"  templates  {templates['fingerprint']} {verdict}")
        lines.extend(f"    {p}" for p in templates["problems"][:10])
    mirror = document.get("mirror")
    if mirror and (mirror["last"] or mirror["state"] == "running" or mirror["next_due"]):
        lines.append(f"  mirror     {_mirror_text(mirror)}")
        lines.extend(f"    {name}: {run['error']}" for name, run in sorted(mirror["last"].items())
                     if run["status"] == "failed" and run.get("error"))
    lines.extend(_passes_text(document))
    if document.get("unreconciled"):
        lines.append(f"  not ready  still to reconcile: {', '.join(document['unreconciled'])}")
    for failing in document.get("failing", []):
        lines.append(f"  FAILING    {failing['what']}: {failing['error']} ({failing['attempts']} attempts over "
                     f"{failing['failing_for_s']:.0f} s; next in {failing['retry_in_s']:.0f} s)")
    for error in document["errors"][-3:]:
        lines.append(f"  error      {_when(error['at'])}: {error['message']}")
    return "\n".join(lines)


def _passes_text(document: dict[str, Any]) -> list[str]:
    """A line per root of the sweep and the scrub: the pass under way, or the last one and the next."""
    lines = []
    for kind in ("sweep", "scrub"):
        passes = document.get(kind)
        if not passes:
            continue
        for root, state in passes["roots"].items():
            lines.append(f"  {kind:<10} {root}: {_pass_text(state, passes['unit'])}")
        if kind == "scrub":
            lines.extend(f"    changed under the same mtime: {f['root']}/{f['path']} ({_when(f['at'])})"
                         for f in passes["found"][-5:])
    return lines


def _pass_text(state: dict[str, Any], unit: str) -> str:
    def amount(value: int) -> str:
        return f"{value:,} files" if unit == "files" else f"{value / 2**20:,.0f} MiB"

    last = state["last"]
    done = (f"last pass {_when(last['at'])}: {last['files']:,} files in {_duration(last['duration_s'])}, "
            f"{last['changed']} changed" if last else "no pass done yet")
    running = state["running"]
    if running:
        left = f", {_duration(running['eta_s'])} left" if running["eta_s"] is not None else ""
        return (f"{amount(running['done'])} of {amount(running['total'])}{left}, {running['changed']} changed "
                f"so far; {done}")
    return f"{done}; next in {_duration(state['next_in_s'] or 0)}"


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "never"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"
