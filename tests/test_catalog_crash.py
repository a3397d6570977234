"""Crash safety: kill -9 real ``bifrostctl scan`` processes at random moments, repeatedly.

After each kill the catalog must pass ``PRAGMA integrity_check``; after the
last, one ordinary scan must bring it to exactly the disk's state.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from studio_tree import age_tree, make_tree, write, write_config

pytestmark = pytest.mark.slow

#: Scans killed per test; a scan that finishes before its random kill point is not counted, and another is run.
KILLS = 8


def disk_state(tree):
    found = {}
    for folder, _, names in os.walk(os.fsencode(tree)):
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            found[os.fsdecode(os.path.relpath(path, os.fsencode(tree)))] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def catalog_state(db):
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT path, raw, size, mtime_ns, inode FROM files WHERE state = 'present'")
        return {(os.fsdecode(bytes(raw)) if raw else path): (size, mtime, inode) for path, raw, size, mtime, inode in rows}
    finally:
        conn.close()


def mutate(tree, rng: random.Random, round_: int) -> None:
    """Adds, deletes, renames and rewrites, so scans have every kind of action to apply.

    Rewrites replace the file (as applications save); a write in place into an
    unchanged folder is for the watcher and ``--full``, not for a pruned scan.
    """
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    for path in rng.sample(files, min(len(files), 150)):
        choice = rng.random()
        if choice < 0.3:
            path.unlink()
        elif choice < 0.6:
            path.rename(path.with_name(f"r{round_}_{path.name}"))
        else:  # saved the way applications save: a temp file renamed over the old one
            os.replace(write(path.with_name(path.name + ".tmp"), os.urandom(rng.randint(1, 64))), path)
    for n in range(300):
        write(tree / f"demo/new{round_ % 3}/batch{round_}" / f"f{n}.txt", b"%d" % n)


@pytest.mark.parametrize("seed", [1234, 4321])
def test_kill_9_at_random_points_never_corrupts_and_the_next_scan_converges(bifrostctl_bin, tmp_path, seed):
    tree = tmp_path / "projects"
    make_tree(tree, shots=20, versions=3, frames=40)
    age_tree(tree)
    config = write_config(tmp_path, tree)
    db = tmp_path / "state" / "catalog.db"
    rng = random.Random(seed)
    command = [bifrostctl_bin, "--config", str(config), "scan"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    typical = time.perf_counter() - started
    kills = rounds = 0
    while kills < KILLS:  # a scan that ends before its kill point is no kill: draw again, however fast the machine
        rounds += 1
        assert rounds <= 4 * KILLS, f"only {kills} of {rounds} scans were still running at their kill point"
        mutate(tree, rng, rounds)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, typical * 0.9))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        else:
            typical *= 0.7  # scans run faster than the first one did: aim earlier
        process.wait(timeout=300)
        catalog_state(db)  # integrity after every kill
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    assert catalog_state(db) == disk_state(tree)
    done = subprocess.run(command + ["--full", "--dry-run"], check=True, capture_output=True, text=True, timeout=300)
    assert done.stdout == ""
