"""The watchdog adapter on real inotify: dirty paths, no events for reads, real overflows, real watch limits."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bifrostd.observe.settle import Dirty
from bifrostd.observe.watch import Mode, OverflowSignal, RootPlan, Watcher, inotify_fds

pytestmark = pytest.mark.inotify

QUEUE_SYSCTL = Path("/proc/sys/fs/inotify/max_queued_events")


class Collector:
    def __init__(self):
        self.dirty: list[Dirty] = []
        self.rescans: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    def on_dirty(self, dirty):
        with self.changed:
            self.dirty.append(dirty)
            self.changed.notify_all()

    def on_rescan(self, root, why):
        with self.changed:
            self.rescans.append((root, why))
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def saw(self, *expected: Dirty, timeout=5.0) -> bool:
        return self.wait_for(lambda: all(e in self.dirty for e in expected), timeout)


def watching(path: Path, collector: Collector, name="projects") -> Watcher:
    plan = RootPlan(name, str(path), "ext4", Mode.WATCH, "test")
    return Watcher([plan], on_dirty=collector.on_dirty, on_rescan=collector.on_rescan).start()


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "shots" / "sh010").mkdir(parents=True)
    (root / "shots" / "sh020").mkdir(parents=True)
    (root / "shots" / "sh010" / "old.ma").write_bytes(b"old")
    return root


def test_changes_become_dirty_paths(tree):
    got = Collector()
    watcher = watching(tree, got)
    try:
        (tree / "shots" / "sh010" / "new.ma").write_bytes(b"x")
        assert got.saw(Dirty("projects", "shots/sh010/new.ma"))
        os.rename(tree / "shots" / "sh010" / "new.ma", tree / "shots" / "sh020" / "moved.ma")
        assert got.saw(Dirty("projects", "shots/sh010/new.ma"), Dirty("projects", "shots/sh020/moved.ma"))
        (tree / "shots" / "sh010" / "old.ma").unlink()
        assert got.saw(Dirty("projects", "shots/sh010/old.ma"))
        (tree / "shots" / "sh030" / "anim").mkdir(parents=True)
        assert got.saw(Dirty("projects", "shots/sh030", is_dir=True))
        shutil.rmtree(tree / "shots" / "sh020")
        assert got.saw(Dirty("projects", "shots/sh020", is_dir=True))
    finally:
        watcher.stop()
    assert got.rescans == []


def test_reading_files_produces_no_events(tree):
    got = Collector()
    watcher = watching(tree, got)
    try:
        for _ in range(50):
            (tree / "shots" / "sh010" / "old.ma").read_bytes()
            os.listdir(tree / "shots")
        (tree / "marker").write_bytes(b"")
        assert got.saw(Dirty("projects", "marker"))
    finally:
        watcher.stop()
    assert all(d.relative == "marker" for d in got.dirty)


def test_one_watch_per_folder_counted_from_fdinfo(tree):
    before = inotify_fds()
    got = Collector()
    watcher = watching(tree, got)
    try:
        state = watcher.roots["projects"].state
        assert state.watching and state.watches == 4  # root, shots, sh010, sh020
        assert len(inotify_fds() - before) == 1
        assert watcher.roots["projects"].check_coverage(4)
        assert watcher.status()[0]["mode"] == "watch"
    finally:
        watcher.stop()
    assert not inotify_fds() - before  # ours is closed (an instance another test left may close meanwhile)


def test_a_missing_root_falls_back_to_polling(tmp_path):
    got = Collector()
    watcher = watching(tmp_path / "absent", got)
    try:
        state = watcher.roots["projects"].state
        assert state.mode is Mode.POLL and not state.watching
        assert "cannot watch" in state.reason
    finally:
        watcher.stop()


def test_deleting_the_root_asks_for_a_rescan(tree):
    got = Collector()
    watcher = watching(tree, got)
    try:
        shutil.rmtree(tree)
        assert got.wait_for(lambda: ("projects", "root deleted or moved") in got.rescans)
    finally:
        watcher.stop()


def test_overflow_signal_counts_each_watch_record_and_attributes_it_by_path():
    calls = []
    signal = OverflowSignal(calls.append).install()
    signal.paths["/srv/projects"] = "projects"
    try:
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).propagate = False
        logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
        watch_log = logging.getLogger("watchdog.observers.inotify")
        watch_log.warning("Inotify queue overflowed; reconciling recursive watches below %r", b"/srv/projects")
        watch_log.warning("Inotify queue overflowed; reconciling recursive watches below %r", b"/elsewhere")
        watch_log.warning("Unable to watch %r: %s", b"/srv/projects/x", "No space left on device")
    finally:
        signal.uninstall()
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).propagate = True
    assert calls == ["projects", None]  # the instance's own record is not counted twice; an unknown path: every root
    assert signal.count == 2


def small_queue(size: int):
    """Lower the kernel's inotify queue for instances created now; the caller restores it."""
    if not os.access(QUEUE_SYSCTL, os.W_OK):
        pytest.skip("needs root to lower fs.inotify.max_queued_events")
    old = QUEUE_SYSCTL.read_text()
    QUEUE_SYSCTL.write_text(str(size))
    return old


def stall_this_process(seconds: float) -> None:
    """Keep every other thread of this process off the CPU, as a daemon busy elsewhere would be.

    The main thread holds the GIL in a loop that makes no system call, so the watcher's
    reader thread cannot take the events the kernel queues; a writer in another process
    fills the queue meanwhile. Without this the reader on a second core may keep up.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(seconds * 10)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass
    finally:
        sys.setswitchinterval(interval)


def start_with_a_small_queue(watcher: Watcher, root: str, size: int) -> None:
    """The kernel queue is captured when an inotify instance is created: shrink it only for that moment."""
    old = small_queue(size)
    try:
        watcher.roots[root].start(watcher.overflow)
    finally:
        QUEUE_SYSCTL.write_text(old)


def write_while_stalled(folder: Path, files: int, seconds: float) -> None:
    """Another process creates ``files`` files in ``folder`` while this one is stalled."""
    writer = subprocess.Popen([sys.executable, "-c", (
        "import os, sys\n"
        "for i in range(int(sys.argv[2])):\n"
        "    with open(os.path.join(sys.argv[1], f'f{i:05d}.exr'), 'wb') as f: f.write(b'x')\n"
    ), str(folder), str(files)])
    stall_this_process(seconds)
    assert writer.wait(timeout=60) == 0


@pytest.mark.slow
def test_a_real_queue_overflow_is_detected_and_asks_for_a_rescan(tree, tmp_path):
    got = Collector()
    other = tmp_path / "other"
    other.mkdir()
    plans = [RootPlan("renders", str(other), "ext4", Mode.WATCH, "test"),
             RootPlan("projects", str(tree), "ext4", Mode.WATCH, "test")]
    watcher = Watcher(plans, on_dirty=got.on_dirty, on_rescan=got.on_rescan)
    watcher.overflow.install()
    watcher.roots["renders"].start(watcher.overflow)  # created with the normal queue
    start_with_a_small_queue(watcher, "projects", 32)
    try:
        write_while_stalled(tree / "shots" / "sh010", 3000, 3.0)
        seen = got.wait_for(lambda: ("projects", "overflow") in got.rescans, timeout=10)
        assert seen, (got.rescans, watcher.overflow.count, len(got.dirty), watcher.status())
        assert watcher.roots["projects"].state.overflows >= 1
        assert watcher.overflow.count >= 1
        (other / "after.exr").write_bytes(b"x")
        assert got.saw(Dirty("renders", "after.exr"))
    finally:
        watcher.stop()
    assert ("renders", "overflow") not in got.rescans
    assert watcher.roots["renders"].state.overflows == 0


@pytest.mark.slow
def test_a_root_with_more_folders_than_the_queue_stops_overflowing_once_renewed(tmp_path):
    """watchdog's rebuild after an overflow queues one IN_IGNORED per watch: with more folders than the
    queue holds it overflows again, endlessly, until the daemon gives the root a fresh instance."""
    root = tmp_path / "root"
    for n in range(200):
        (root / f"d{n:03d}").mkdir(parents=True)
    got = Collector()
    watcher = Watcher([RootPlan("renders", str(root), "ext4", Mode.WATCH, "test")], on_dirty=got.on_dirty,
                      on_rescan=got.on_rescan)
    watcher.overflow.install()
    start_with_a_small_queue(watcher, "renders", 64)
    try:
        write_while_stalled(root / "d000", 500, 2.0)
        state = watcher.roots["renders"].state
        assert got.wait_for(lambda: state.overflows >= 3, timeout=10), state.overflows  # it feeds itself
        assert watcher.renew_overflowed() == ["renders"]
        assert watcher.roots["renders"].state.watching and state.watches >= 201
        settled = state.overflows
        time.sleep(2.0)
        assert state.overflows <= settled + 1  # at most one the old instance logged while being closed
        watcher.renew_overflowed()
        counted = state.overflows
        time.sleep(1.0)
        assert state.overflows == counted and watcher.renew_overflowed() == []
        (root / "d199" / "after.exr").write_bytes(b"x")
        assert got.saw(Dirty("renders", "d199/after.exr"))
    finally:
        watcher.stop()


WATCH_LIMIT_SCRIPT = """
import json, sys
from bifrostd.observe.watch import Mode, RootPlan, Watcher
with open("/proc/sys/user/max_inotify_watches", "w") as f:
    f.write(sys.argv[2])
plan = RootPlan("projects", sys.argv[1], "ext4", Mode.WATCH, "test")
watcher = Watcher([plan], on_dirty=lambda d: None, on_rescan=lambda r, w: None).start()
root = watcher.roots["projects"]
root.check_coverage(int(sys.argv[3]))
print(json.dumps(root.state.to_json()))
watcher.stop()
"""


def in_user_namespace(*args: str) -> dict:
    """Run a watcher in a new user namespace, where the inotify watch limit is ours to lower."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    done = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-c", WATCH_LIMIT_SCRIPT, *args],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"user namespaces unavailable: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_watch_limit_on_the_root_means_polling(tree):
    state = in_user_namespace(str(tree), "0", "4")
    assert state["mode"] == "poll" and not state["inotify"]
    assert "inotify watch limit reached" in state["reason"]


def test_watch_limit_below_the_folder_count_means_watching_and_polling(tree):
    for i in range(10):
        (tree / "shots" / f"sh{100 + i}").mkdir()
    state = in_user_namespace(str(tree), "5", "14")
    assert state["mode"] == "poll" and "watch limit reached" in state["reason"]
    if state["inotify"]:  # watchdog 7.1.0 keeps the watches it could add; 7.1.1 gives up the root's instance
        assert state["watches"] == 5 and state["folders"] == 14
        assert "only 5 of 14 folders" in state["reason"]


def test_a_root_moved_away_and_replaced_is_watched_again_at_its_path(tree, tmp_path):
    got = Collector()
    watcher = watching(tree, got)
    try:
        assert watcher.check_roots() == []
        tree.rename(tmp_path / "away")  # inotify follows the folder; the path now names nothing
        assert watcher.check_roots() == ["projects"]
        tree.mkdir()  # a new, empty folder at the root's path (or a share mounted again)
        assert watcher.check_roots() == ["projects"] and watcher.check_roots() == []
        assert ("projects", "root folder replaced") in got.rescans
        (tmp_path / "away" / "stray.exr").write_bytes(b"x")  # the old folder is not watched any more
        (tree / "fresh.exr").write_bytes(b"x")
        assert got.saw(Dirty("projects", "fresh.exr"))
        assert Dirty("projects", "stray.exr") not in got.dirty
        assert watcher.roots["projects"].state.watching
    finally:
        watcher.stop()
