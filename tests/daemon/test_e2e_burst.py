"""Bursts and crashes: kill -9 in the middle of a burst, and 50,000 files written as fast as possible on a tmpfs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import wait_until

WRITER = """
import os, sys, time
base, count, folders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for f in range(folders):
    os.makedirs(os.path.join(base, f"d{f:03d}"), exist_ok=True)
started = time.perf_counter()
for i in range(count):
    fd = os.open(f"{base}/d{i % folders:03d}/burst_v001.{i:06d}.exr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x")
    os.close(fd)
print(count / (time.perf_counter() - started), flush=True)
"""


def write_burst(base: Path, count: int, folders: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(base), str(count), str(folders)],
                            stdout=subprocess.PIPE, text=True)


def disk_files(studio: Path) -> set[tuple[str, str]]:
    out = set()
    for root in ("projects", "renders"):
        base = studio / root
        for folder, _, names in os.walk(base):
            for name in names:
                out.add((root, os.path.relpath(os.path.join(folder, name), base)))
    return out


def catalog_files(studio: Path) -> tuple[set[tuple[str, str]], str]:
    from bifrostd.catalog import Catalog

    with Catalog.open(studio / ".bifrost" / "catalog.db") as catalog:
        present = {(r.root, r.relative) for r in catalog.present_records()}
        return present, catalog.integrity()


def present_count(studio: Path, root: str, folder: str) -> int:
    from bifrostd.catalog import Catalog
    from bifrostd.catalog.queries import files_under

    with Catalog.open(studio / ".bifrost" / "catalog.db") as catalog:
        return sum(r.state == "present" for r in files_under(catalog._conn, root, folder, limit=10**7))


@pytest.mark.slow
def test_kill_9_mid_burst_then_restart_converges_to_the_disk(studio, daemon_factory):
    first = daemon_factory(studio / "bifrost.yaml")
    writer = write_burst(studio / "renders" / "demo" / "burst", 20000, 40)
    wait_until(lambda: first.status()["counts"]["actions"] > 0, timeout=30, what="some of the burst applied")
    first.process.send_signal(signal.SIGKILL)
    assert first.stop() == -signal.SIGKILL
    assert writer.wait(timeout=120) == 0
    writer.stdout.close()
    (studio / "projects" / "demo" / "after_crash.txt").write_text("made while no daemon ran")
    second = daemon_factory(studio / "bifrost.yaml")
    present, integrity = catalog_files(studio)
    assert integrity == "ok"
    assert present == disk_files(studio)
    assert second.stop() == 0


@pytest.mark.slow
def test_burst_of_50000_files_on_tmpfs_is_all_catalogued(tmpfs, daemon_factory):
    from .conftest import demo_studio

    studio = demo_studio(tmpfs / "studio")
    d = daemon_factory(studio / "bifrost.yaml")
    count = 50_000
    started = time.monotonic()
    writer = write_burst(studio / "renders" / "demo" / "burst", count, 100)
    rate = float(writer.stdout.readline())
    assert writer.wait(timeout=120) == 0
    writer.stdout.close()
    wait_until(lambda: present_count(studio, "renders", "demo/burst") == count, timeout=150, interval=0.5,
               what=f"{count} files catalogued")
    caught_up = time.monotonic() - started
    status = d.status()
    print(f"\nburst: {count} files at {rate:,.0f} files/s; catalogued after {caught_up:.1f} s; "
          f"{status['overflows']} overflows, {status['counts']['batches']} batches, "
          f"{status['counts']['rescans']} rescans")
    present, integrity = catalog_files(studio)
    assert integrity == "ok" and present == disk_files(studio)
    assert d.stop() == 0
