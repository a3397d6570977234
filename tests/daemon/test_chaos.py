"""Nothing lost: the state disk fills and frees, and the daemon is killed at random, during a write storm.

The state folder (catalog, lock, socket) lives on a small tmpfs of its own, so
the test can fill it for real. After each fault the catalog must come back to
exactly what is on disk, without a restart when the disk frees and through
the startup reconcile after a kill -9.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from .conftest import fill, tmpfs_at, wait_until

STATE_SIZE = "8m"


@pytest.fixture
def state_on_tmpfs(studio):
    """The demo studio with its state folder on a small tmpfs; its config points there."""
    with tmpfs_at(studio / "state-disk", STATE_SIZE, name="bifrost-state", options=",mode=0750") as state:
        config = studio / "bifrost.yaml"
        config.write_text(config.read_text().replace("state: .bifrost", f"state: {state}/state"))
        yield state


def disk_files(studio: Path) -> dict[str, int]:
    found = {}
    for root in ("projects", "renders"):
        base = studio / root
        for folder, _, names in os.walk(base):
            for name in names:
                path = Path(folder) / name
                found[f"{root}/{path.relative_to(base).as_posix()}"] = path.stat().st_size
    return found


def catalog_files(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        return {f"{root}/{path}": size for root, path, size in
                conn.execute("SELECT root, path, size FROM files WHERE state = 'present'")}
    finally:
        conn.close()


class Storm:
    """Saves, in-place edits, renames and deletes in a shot's work folder from a thread, until stopped."""

    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.stopped = threading.Event()
        self.ops = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Storm:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        while not self.stopped.is_set():
            names = sorted(os.listdir(self.folder))
            choice = self.rng.random()
            if choice < 0.5 or len(names) < 5:
                (self.folder / f"sh0100_anim_v{self.rng.randint(100, 999)}.ma").write_bytes(os.urandom(64))
            elif choice < 0.7:
                with open(self.folder / self.rng.choice(names), "r+b") as f:  # in place: the folder's mtime stays
                    f.write(os.urandom(self.rng.randint(1, 200)))
            elif choice < 0.85:
                old = self.rng.choice(names)
                os.replace(self.folder / old, self.folder / f"sh0100_anim_v{self.rng.randint(100, 999)}.ma")
            else:
                (self.folder / self.rng.choice(names)).unlink(missing_ok=True)
            self.ops += 1
            time.sleep(0.002)


def converged(d, studio: Path, db: Path) -> bool:
    if not d.idle():
        return False
    return catalog_files(db) == disk_files(studio)


@pytest.mark.slow
def test_a_full_state_disk_loses_no_edit_and_the_daemon_catches_up_once_it_frees(studio, state_on_tmpfs,
                                                                                   daemon_factory):
    d = daemon_factory(studio / "bifrost.yaml")
    db = state_on_tmpfs / "state" / "catalog.db"
    work = studio / "projects/demo/sequences/sq010/sh0100/anim/work/maya"
    edited = sorted(work.glob("*.ma"))[0]
    filler = fill(state_on_tmpfs)
    try:
        with open(edited, "r+b") as f:  # an edit in place while nothing can be written to the catalog
            f.write(b"edited while the disk was full")
        (work / "sh0100_anim_v077.ma").write_bytes(b"saved while the disk was full")
        failing = wait_until(lambda: (s := d.status()) and s.get("failing"), timeout=30, what="failing work in status")
        assert any("full" in f["error"] for f in failing), failing
    finally:
        filler.unlink()
    wait_until(lambda: converged(d, studio, db), timeout=90, what="the catalog to catch up once the disk freed")
    assert not d.status()["failing"]
    assert d.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 11])
def test_chaos_full_disk_and_kill_9_during_a_write_storm_lose_nothing(studio, state_on_tmpfs, daemon_factory, seed):
    rng = random.Random(seed)
    config = studio / "bifrost.yaml"
    db = state_on_tmpfs / "state" / "catalog.db"
    work = studio / "projects/demo/sequences/sq010/sh0100/anim/work/storm"
    d = daemon_factory(config)
    with Storm(work, seed) as storm:
        for _ in range(3):
            time.sleep(rng.uniform(0.5, 2.0))
            filler = fill(state_on_tmpfs)
            time.sleep(rng.uniform(1.0, 3.0))
            filler.unlink()
            time.sleep(rng.uniform(0.0, 1.5))
            d.process.kill()  # kill -9, at whatever the daemon was doing
            d.process.wait(timeout=30)
            d = daemon_factory(config)
        assert storm.ops > 100
    wait_until(lambda: converged(d, studio, db), timeout=120, what="catalog = disk after the storm")
    assert d.stop() == 0
    shutil.rmtree(work)


@pytest.mark.slow
def test_ready_waits_until_every_root_is_reconciled(studio, daemon_factory):
    """A root that can't be walked at start is walked again with backoff; the daemon is ready only after."""
    renders = studio / "renders"
    renders.rename(studio / "renders-away")
    d = daemon_factory(studio / "bifrost.yaml", wait=False)
    status = wait_until(lambda: (s := d.status()) and s["failing"] and s, timeout=30, what="the failing walk")
    assert status["phase"] == "reconciling" and status["unreconciled"] == ["renders"]
    assert "renders" in status["failing"][0]["what"]
    assert "still to reconcile: renders" in d.ctl("daemon", "status").stdout
    (studio / "renders-away").rename(renders)
    wait_until(lambda: d.status()["phase"] == "watching", timeout=60, what="ready once the root is back")
    after = d.status()
    assert after["unreconciled"] == [] and after["failing"] == []
    assert d.ctl_json("ls", str(renders / "demo"))["files"] or d.ctl_json("ls", str(renders / "demo"))["children"]
    assert d.stop() == 0
