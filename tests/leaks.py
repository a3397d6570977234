"""What a test leaves running: threads of this process and its child processes.

The leak check in ``conftest.py`` snapshots both before a test and compares
after it; this module owns the snapshot, the comparison and the short,
commented list of threads that are not leaks. Processes are read from
``/proc/self/task/*/children`` and never waited for here: reaping a child
would steal its exit status from the ``Popen`` that owns it.
"""

from __future__ import annotations

import glob
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pytest

GRACE = 3.0  # seconds a test's threads and children get to finish after it (stop() calls that are still returning)


@dataclass(frozen=True)
class Child:
    """A child process of this one, as /proc shows it."""

    pid: int
    cmdline: str
    zombie: bool  # exited, never waited for: its Popen was dropped without wait()

    def __str__(self) -> str:
        state = "exited, never reaped" if self.zombie else "running"
        return f"pid {self.pid} ({state}): {self.cmdline}"


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[threading.Thread] = frozenset()
    pids: frozenset[int] = frozenset()

    def __or__(self, other: Snapshot) -> Snapshot:
        return Snapshot(self.threads | other.threads, self.pids | other.pids)

    def __sub__(self, other: Snapshot) -> Snapshot:
        return Snapshot(self.threads - other.threads, self.pids - other.pids)


@dataclass(frozen=True)
class Allowed:
    """A process-wide singleton that outlives the test that happened to start it: ``why`` says whose it is,
    ``owns`` returns its threads and processes as they are now (nothing when it is not running)."""

    why: str
    owns: Callable[[], Snapshot]


def _fsspec_loop() -> Snapshot:
    asyn = sys.modules.get("fsspec.asyn")
    thread, loop = (asyn.iothread[0], asyn.loop[0]) if asyn is not None else (None, None)
    if thread is None:
        return Snapshot()
    executor = getattr(loop, "_default_executor", None)  # getaddrinfo runs there: "asyncio_N" threads
    return Snapshot(threads=frozenset({thread, *getattr(executor, "_threads", ())}))


def _gcsfs_closer() -> Snapshot:
    core = sys.modules.get("gcsfs.core")
    worker = getattr(core, "_deferred_close_worker", None)
    return Snapshot(threads=frozenset(t for t in threading.enumerate()
                                      if worker is not None and getattr(t, "_target", None) is worker))


def _multiprocessing_servers() -> Snapshot:
    forkserver = sys.modules.get("multiprocessing.forkserver")
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    pids = {getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None),
            getattr(getattr(tracker, "_resource_tracker", None), "_pid", None)}
    return Snapshot(pids=frozenset(pids - {None}))


def _hashing_pool() -> Snapshot:
    hashing = sys.modules.get("bifrostd.observe.hashing")
    pool = getattr(hashing, "_POOL", None)
    if pool is None:
        return Snapshot()
    threads = {getattr(pool, "_executor_manager_thread", None),
               getattr(getattr(pool, "_call_queue", None), "_thread", None)}  # the call queue's feeder
    return Snapshot(threads=frozenset(threads - {None}))


#: Kept as short as possible. Each entry is started once per process, on first use, and reused by every
#: later test: it is not a leak of the test that happened to start it.
ALLOWED: tuple[Allowed, ...] = (
    Allowed("fsspec runs every async backend (s3fs, gcsfs, adlfs) on one event loop thread per process, "
            "'fsspecIO', started on first use and never stopped (fsspec.asyn.get_loop); the loop's default "
            "executor ('asyncio_N', where aiohttp resolves host names) lives as long as the loop", _fsspec_loop),
    Allowed("gcsfs closes files dropped unclosed on one thread per process, 'gcsfs-deferred-close', "
            "started with the first GCSFile and never stopped (gcsfs.core._start_deferred_close_worker)",
            _gcsfs_closer),
    Allowed("multiprocessing starts one forkserver and one resource tracker per process and shares them "
            "with every pool; they end when this process does", _multiprocessing_servers),
    Allowed("bifrostd's hashing pool (observe/hashing.py) is kept between scans by design and shut down at "
            "exit; its workers are the forkserver's children, only its two threads are ours", _hashing_pool),
)


def allowed() -> Snapshot:
    owned = Snapshot()
    for entry in ALLOWED:
        owned = owned | entry.owns()
    return owned


class FixtureOwnership:
    """A plugin: what a fixture wider than a test (an emulator) starts belongs to it, not to the test
    that happened to ask for it first.

    A plugin rather than a conftest hook: pytest asks a session fixture's hooks of the plugins that
    apply to the session's folder, the repository, and ``tests/conftest.py`` is not one of them.
    """

    def __init__(self) -> None:
        self.owned = Snapshot()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        if fixturedef.scope == "function":
            return (yield)
        before = snapshot()
        try:
            return (yield)
        finally:
            self.owned = self.owned | (snapshot() - before)


def children() -> dict[int, Child]:
    """This process's children, by pid (a forked child of any thread is listed under that thread's task)."""
    pids: set[int] = set()
    for path in glob.glob("/proc/self/task/*/children"):
        try:
            with open(path) as listing:
                pids.update(int(pid) for pid in listing.read().split())
        except OSError:  # the thread ended meanwhile
            continue
    found = {}
    for pid in pids:
        child = _child(pid)
        if child is not None:
            found[pid] = child
    return found


def _child(pid: int) -> Child | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            cmdline = raw.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat") as stat:
            comm, _, rest = stat.read().partition(" (")[2].rpartition(")")
        state = rest.split()[0]
    except (OSError, IndexError):  # reaped meanwhile
        return None
    return Child(pid, cmdline or f"[{comm}]", state == "Z")  # a zombie's cmdline is empty


def snapshot() -> Snapshot:
    return Snapshot(frozenset(threading.enumerate()), frozenset(children()))


def describe(thread: threading.Thread) -> str:
    """Name, target and daemon flag: enough to find the code that started it."""
    target = getattr(thread, "_target", None)  # Thread keeps it until run() returns
    if target is None:
        where = f"{type(thread).__module__}.{type(thread).__qualname__}.run"
    else:
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__qualname__", None) or repr(target)
        module = getattr(target, "__module__", None) or type(owner).__module__
        where = f"{module}.{name}"
    args = getattr(thread, "_args", ())
    shown = f", args {_short(repr(args))}" if args else ""
    return f"{thread.name!r} (target {where}{shown}{', daemon' if thread.daemon else ''})"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def leaked(known: Snapshot) -> tuple[list[threading.Thread], list[Child]]:
    """Threads and children alive now that are not in ``known`` and not allowed."""
    known = known | allowed()
    threads = [t for t in threading.enumerate() if t.is_alive() and t not in known.threads]
    kids = [child for pid, child in children().items() if pid not in known.pids]
    return threads, kids


def wait_for_leaks(known: Snapshot, grace: float = GRACE) -> tuple[list[threading.Thread], list[Child]]:
    """What :func:`leaked` finds once ``grace`` seconds have passed, or nothing as soon as it is all gone."""
    deadline = time.monotonic() + grace
    while True:
        threads, kids = leaked(known)
        if not threads and not kids or time.monotonic() > deadline:
            return threads, kids
        time.sleep(0.05)


def report(threads: list[threading.Thread], kids: list[Child]) -> str:
    lines = [f"the test left {len(threads)} thread(s) and {len(kids)} child process(es) running:"]
    lines += [f"  thread {describe(t)}" for t in threads]
    lines += [f"  process {c}" for c in kids]
    return "\n".join(lines)
