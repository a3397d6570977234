"""Watching roots: watchdog on inotify as a *hint* feed, network filesystems polled, overflows caught.

This module owns the change feed. It never touches the catalog: watchdog's
emitter thread only queues events, our handler turns each into
:class:`~bifrostd.observe.settle.Dirty` paths (root + relative) and returns, and the
daemon re-observes those paths once they settle. Walks are the truth.

What watchdog 7.1 (7.1.0 and 7.1.1) does that shapes this module (read in its source,
``watchdog/observers/inotify.py`` and ``inotify_c.py``):

- **The event mask comes from ``event_filter``.** Without one, the mask
  includes IN_OPEN and IN_CLOSE_NOWRITE, so watchdog's own directory walks
  (and our hashing) queue events; on trees of more than about 4,000 folders
  that overflows the kernel queue, watchdog rebuilds its watches, walks
  again, overflows again, forever. :data:`EVENT_FILTER` is always passed.
  It leaves out ``DirModifiedEvent``, which only repeats each file event
  on the parent folder (the walk records folder mtimes itself).
- **Queue overflows reach no handler in 7.1.0** (7.1.1 adds an
  ``EventsLostEvent``). Both log "...reconciling recursive watches below
  <path>" on ``watchdog.observers.inotify`` for each recursive watch, then
  rebuild watches and emit nothing for the lost files.
  :class:`OverflowSignal` is a logging handler on that logger that counts
  overflows and asks for a rescan of the root the path names.
- **That rebuild feeds itself.** It removes every watch and adds it again,
  and each removal queues an IN_IGNORED event: on a root with more folders
  than ``max_queued_events`` (16,384 by default) the rebuild overflows the
  queue again, and again, hundreds of times a second for as long as the
  daemon runs. So a root that overflowed gets a fresh inotify instance from
  the daemon's loop (:meth:`Watcher.renew_overflowed`): closing the old one
  ends its rebuilds, and adding watches queues nothing.
- **Running out of watches is mostly silent.** ``inotify_add_watch``
  failing with ENOSPC ("inotify watch limit reached") raises only for the
  root folder; for sub-folders watchdog swallows the error and leaves them
  unwatched. Each root therefore gets its own inotify instance (one
  observer per root), whose watches are counted from
  ``/proc/self/fdinfo`` and compared with the folders the last walk found;
  a root with fewer watches than folders is polled too. The instance's
  descriptor is found in ``/proc/self/fd`` once the observer has started
  (7.1.1 opens it in ``schedule``, 7.1.0 in the constructor), never read
  from watchdog's private attributes.

Network filesystems (NFS, SMB/CIFS, 9p, sshfs…) are polled: inotify only
sees changes made through this host's kernel, never another client's.
The filesystem type comes from the mount table (``/proc/self/mountinfo``,
longest mount point containing the root), injected for tests.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .mounts import Mount, MountTable, filesystem_of, is_network, system_mounts
from .settle import Dirty

log = logging.getLogger("bifrostd.observe.watch")

#: The logger on which each of watchdog's recursive watches reports an inotify queue overflow.
OVERFLOW_LOGGER = "watchdog.observers.inotify"
EMITTER_JOIN = 5.0  # seconds stop() waits for each emitter thread to end (and close its inotify descriptor)


def event_filter() -> list[type]:
    """The events we subscribe to: writes, creations, deletions and moves of files and folders.

    Never IN_OPEN / IN_CLOSE_NOWRITE (reads, including our own hashing) and
    never ``DirModifiedEvent`` (a duplicate of every file event).
    ``FileModifiedEvent`` is kept: it carries IN_ATTRIB, which is how a
    copy that sets mtime after closing (``cp -p``, rsync) shows itself.
    """
    from watchdog.events import (
        DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileClosedEvent, FileCreatedEvent, FileDeletedEvent,
        FileModifiedEvent, FileMovedEvent,
    )

    return [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileDeletedEvent, FileMovedEvent,
            DirCreatedEvent, DirDeletedEvent, DirMovedEvent]


class Mode(str, enum.Enum):
    WATCH = "watch"
    POLL = "poll"


@dataclass(frozen=True, slots=True)
class RootPlan:
    """How one root is watched, and why."""

    name: str
    path: str
    fstype: str
    mode: Mode
    reason: str


def plan_root(name: str, path: str, *, override: str | None, mounts: Iterable[Mount]) -> RootPlan:
    """Watch local filesystems, poll network ones; a config ``mode`` overrides the guess."""
    mount = filesystem_of(Path(path), mounts)
    fstype = mount.fstype if mount else "unknown"
    if override:
        return RootPlan(name, path, fstype, Mode(override), f"set in the config (daemon.roots.{name}.mode)")
    if is_network(fstype):
        return RootPlan(name, path, fstype, Mode.POLL, f"{fstype} is a network filesystem: "
                        "inotify does not see other hosts' changes")
    return RootPlan(name, path, fstype, Mode.WATCH, f"local filesystem ({fstype})")


def plan_roots(roots: Mapping[str, str], overrides: Mapping[str, str | None], *,
               mounts: MountTable = system_mounts) -> list[RootPlan]:
    table = list(mounts())
    return [plan_root(name, path, override=overrides.get(name), mounts=table) for name, path in roots.items()]


# -- events → dirty paths -----------------------------------------------------------------
def relative_to(root_path: str, path: str | bytes) -> str | None:
    """``path`` relative to the root ("" for the root itself), or None when outside it."""
    text = os.fsdecode(path)
    if text == root_path:
        return ""
    prefix = root_path.rstrip("/") + "/"
    return text[len(prefix):] if text.startswith(prefix) else None


class HintHandler:
    """watchdog event handler: each event becomes dirty paths; O(1), never blocks the emitter.

    Moves mark both ends dirty; the catalog pairs them (by inode) into one move.
    """

    def __init__(self, root: str, root_path: str, on_dirty: Callable[[Dirty], None],
                 on_root_gone: Callable[[str], None]) -> None:
        self.root = root
        self.root_path = root_path
        self.on_dirty = on_dirty
        self.on_root_gone = on_root_gone
        self.events = 0
        self.last_event: float | None = None

    def dispatch(self, event: Any) -> None:
        self.events += 1
        self.last_event = time.time()
        is_dir = bool(event.is_directory)
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if not path:
                continue
            relative = relative_to(self.root_path, path)
            if relative == "":
                if event.event_type in ("deleted", "moved"):
                    self.on_root_gone(self.root)
            elif relative is not None:
                self.on_dirty(Dirty(self.root, relative, is_dir))


class OverflowSignal(logging.Handler):
    """Turns watchdog's overflow log records into calls of ``on_overflow(root or None)``.

    Each root has its own inotify instance with one recursive watch, and on
    an overflow each watch logs one record naming its watched folder
    ("...reconciling recursive watches below <path>"): that record is
    counted, and names the root. The instance's own record ("events were
    lost") is logged by whichever thread watchdog dispatches events on,
    which differs between its releases, and is always followed by the
    per-watch one: it is ignored. A per-watch record we cannot attribute
    asks for a rescan of every watched root: a wasted walk is cheap, a lost
    file is not.
    """

    def __init__(self, on_overflow: Callable[[str | None], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.on_overflow = on_overflow
        self.paths: dict[str, str] = {}
        self.count = 0

    def install(self) -> OverflowSignal:
        logging.getLogger(OVERFLOW_LOGGER).addHandler(self)
        return self

    def uninstall(self) -> None:
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().lower()
        except Exception:
            return
        if "overflow" not in message:
            return
        self.count += 1
        self.on_overflow(self._root_of(record))

    def _root_of(self, record: logging.LogRecord) -> str | None:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, (bytes, str)):
                path = os.fsdecode(arg)
                for root_path, root in self.paths.items():
                    if relative_to(root_path, path) is not None:
                        return root
        return None


# -- one root -----------------------------------------------------------------------------
@dataclass(slots=True)
class RootState:
    """The live state of one root, for status (mutable, owned by its RootWatcher)."""

    plan: RootPlan
    mode: Mode
    reason: str
    watching: bool = False
    watches: int = 0
    folders: int | None = None
    overflows: int = 0
    events: int = 0
    last_event: float | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.plan.name, "path": self.plan.path, "fstype": self.plan.fstype,
                "mode": self.mode.value, "reason": self.reason, "inotify": self.watching,
                "watches": self.watches, "folders": self.folders, "overflows": self.overflows,
                "events": self.events, "last_event": self.last_event, "errors": self.errors[-5:]}


class RootWatcher:
    """Watches one root with its own inotify instance, or polls it; stoppable."""

    def __init__(self, plan: RootPlan, handler: HintHandler, *, fd_dir: str = "/proc/self") -> None:
        self.plan = plan
        self.handler = handler
        self.state = RootState(plan, plan.mode, plan.reason)
        self.fd_dir = fd_dir
        self._observer: Any = None
        self._inotify_fd: int | None = None
        self.identity: tuple[int, int] | None = None  # (device, inode) of the folder being watched

    @property
    def polled(self) -> bool:
        """True when the daemon must rescan this root periodically (poll mode, or watches missing)."""
        return self.state.mode is Mode.POLL

    def start(self, overflow: OverflowSignal) -> None:
        if self.plan.mode is not Mode.WATCH:
            return
        from watchdog.observers.inotify import InotifyObserver

        self.identity = path_identity(self.plan.path)

        before = inotify_fds(self.fd_dir)
        observer = InotifyObserver()
        overflow.paths[self.plan.path] = self.plan.name
        try:
            # watchdog only calls dispatch(); subclassing its handler would import watchdog with this module
            observer.schedule(self.handler, self.plan.path, recursive=True,  # type: ignore[arg-type]
                              event_filter=event_filter())
            observer.start()
        except OSError as exc:
            observer.stop()
            self._fall_back(_why(exc))
            return
        self._inotify_fd = self._own_instance(before)
        self._observer = observer
        self.state.watching = True
        self.state.mode, self.state.reason = Mode.WATCH, self.plan.reason
        self.refresh()

    def replaced(self) -> bool:
        """True when the root's path names another folder than the one watched: moved away, replaced,
        remounted, or gone (inotify follows the folder, not the path)."""
        return self.plan.mode is Mode.WATCH and path_identity(self.plan.path) != self.identity

    def _own_instance(self, before: set[int]) -> int | None:
        """The inotify descriptor this root's observer opened: new since ``before``, found once its watches exist.

        Found from the kernel's record (``/proc/self/fd``), never from
        watchdog's attributes: when the descriptor is created (observer,
        ``schedule`` or ``start``) changes between its patch releases. Roots
        start one at a time on the daemon's loop, so one descriptor is new; if
        another appeared meanwhile, the one holding watches is ours.
        """
        new = inotify_fds(self.fd_dir) - before
        return max(new, key=lambda fd: count_watches(fd, self.fd_dir), default=None)

    def _fall_back(self, reason: str) -> None:
        self.state.mode = Mode.POLL
        self.state.reason = f"polling: {reason}"
        self.state.errors.append(reason)
        log.warning("root %s: %s; polling it instead", self.plan.name, reason)

    def refresh(self) -> None:
        self.state.events = self.handler.events
        self.state.last_event = self.handler.last_event
        if self._inotify_fd is not None:
            self.state.watches = count_watches(self._inotify_fd, self.fd_dir)

    def check_coverage(self, folders: int) -> bool:
        """Compare watches with the folders a walk found; poll as well when some are unwatched.

        Returns True when the root is (still) fully watched.
        """
        self.state.folders = folders
        if not self.state.watching:
            return False
        self.refresh()
        if self.state.watches >= folders or self.state.mode is Mode.POLL:
            return self.state.mode is not Mode.POLL
        reason = (f"only {self.state.watches:,} of {folders:,} folders could be watched "
                  f"({probe_watch_limit(self.plan.path)})")
        self.state.mode = Mode.POLL
        self.state.reason = f"inotify and polling: {reason}"
        self.state.errors.append(reason)
        log.warning("root %s: %s; polling it as well (raise fs.inotify.max_user_watches)", self.plan.name, reason)
        return False

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        self.state.watching = False
        if observer is not None:
            emitters = list(observer.emitters)  # stop() forgets them; an emitter closes its inotify fd as it ends
            observer.stop()
            observer.join()
            for emitter in emitters:
                emitter.join(timeout=EMITTER_JOIN)
        self._inotify_fd = None


def path_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the folder at ``path``, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "inotify watch limit reached (fs.inotify.max_user_watches)"
    if exc.errno == errno.EMFILE:
        return "inotify instance limit reached (fs.inotify.max_user_instances)"
    return f"cannot watch: {exc.strerror or exc}"


# -- /proc helpers ------------------------------------------------------------------------
def inotify_fds(fd_dir: str = "/proc/self") -> set[int]:
    """The file descriptors of this process that are inotify instances."""
    found: set[int] = set()
    try:
        names = os.listdir(f"{fd_dir}/fd")
    except OSError:
        return found
    for name in names:
        try:
            if os.readlink(f"{fd_dir}/fd/{name}") == "anon_inode:inotify":
                found.add(int(name))
        except OSError:
            continue
    return found


def count_watches(fd: int, fd_dir: str = "/proc/self") -> int:
    """The watches of one inotify instance: one ``inotify wd:`` line each in its fdinfo."""
    try:
        with open(f"{fd_dir}/fdinfo/{fd}", "rb") as info:
            return sum(1 for line in info if line.startswith(b"inotify wd:"))
    except OSError:
        return 0


def probe_watch_limit(path: str) -> str:
    """Why a watch can't be added now: try one on ``path`` in a fresh instance and report the errno."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        return _why(OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno())))
    try:
        wd = libc.inotify_add_watch(fd, os.fsencode(path), 0x00000100)  # IN_CREATE
        if wd < 0:
            return _why(OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno())))
        return "watches were missing, but one can be added now"
    finally:
        os.close(fd)


def quiet_watchdog_races() -> None:
    """Silence watchdog's warning for a folder watched twice (``mkdir -p`` races its recursive add).

    The warning is harmless (the callback is the same), but it is raised in
    watchdog's reader thread: where warnings are errors it would kill it.
    """
    warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)


class Watcher:
    """All roots: their watchers, the overflow signal, and the callbacks into the daemon.

    ``on_dirty`` receives each dirty path; ``on_rescan`` a root to walk again
    (overflow, root deleted or moved). Both are called from watchdog's
    threads and must return at once.
    """

    def __init__(self, plans: Iterable[RootPlan], *, on_dirty: Callable[[Dirty], None],
                 on_rescan: Callable[[str, str], None]) -> None:
        self.on_rescan = on_rescan
        self.roots = {p.name: RootWatcher(p, HintHandler(p.name, p.path, on_dirty, self._root_gone)) for p in plans}
        self.overflow = OverflowSignal(self._overflowed)
        self._overflowed_roots: set[str] = set()  # added to from watchdog's threads, under the lock
        self._lock = threading.Lock()

    def start(self) -> Watcher:
        quiet_watchdog_races()
        self.overflow.install()
        for watcher in self.roots.values():
            watcher.start(self.overflow)
        return self

    def _overflowed(self, root: str | None) -> None:
        names = [root] if root in self.roots else [n for n, w in self.roots.items() if w.state.watching]
        for name in names:
            self.roots[name].state.overflows += 1
            log.warning("root %s: inotify queue overflow, events were lost; rescanning it", name)
            with self._lock:
                self._overflowed_roots.add(name)
            self.on_rescan(name, "overflow")

    def renew_overflowed(self) -> list[str]:
        """Give each root that overflowed since the last call a fresh inotify instance; their names.

        Called from the daemon's loop, before the rescans the overflows asked
        for, so the walk runs with the new watches in place (``start`` adds
        them before it returns). See the module docstring for why: watchdog's
        own rebuild of a large root overflows the queue again, forever.
        Overflows the old instances report while being stopped are dropped:
        those instances are gone.
        """
        with self._lock:
            names, self._overflowed_roots = self._overflowed_roots, set()
        renewed = [name for name in sorted(names) if self.roots[name].state.watching]
        for name in renewed:
            watcher = self.roots[name]
            watcher.stop()
            watcher.start(self.overflow)
        with self._lock:
            self._overflowed_roots -= names
        return renewed

    def check_roots(self) -> list[str]:
        """Watch again each root whose path now names another folder, and ask for its rescan; their names."""
        again = []
        for name, watcher in self.roots.items():
            if watcher.replaced():
                log.warning("root %s: %s is no longer the folder being watched (moved, replaced or remounted); "
                            "watching it again", name, watcher.plan.path)
                watcher.stop()
                watcher.start(self.overflow)
                self.on_rescan(name, "root folder replaced")
                again.append(name)
        return again

    def _root_gone(self, root: str) -> None:
        self.on_rescan(root, "root deleted or moved")

    def stop(self) -> None:
        for watcher in self.roots.values():
            watcher.stop()
        self.overflow.uninstall()

    def status(self) -> list[dict[str, Any]]:
        out = []
        for watcher in self.roots.values():
            watcher.refresh()
            out.append(watcher.state.to_json())
        return out
