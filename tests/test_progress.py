"""Progress of long work: plain callbacks hear what they always heard; byte-aware ones also hear bytes, in time."""

from __future__ import annotations

import os
import threading

import pytest

from bifrostd.observe.hashing import BUFFER_SIZE, hash_many
from bifrostd.progress import ByteProgress, InFlight, Meter, Reporter, Step

from studio_tree import load, make_tree, write, write_config


class Steps(ByteProgress):
    """Records every step and the thread it came on."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.threads: set[int] = set()

    def step(self, step: Step) -> None:
        self.steps.append(step)
        self.threads.add(threading.get_ident())

    def of(self, stage: str) -> list[Step]:
        return [s for s in self.steps if s.stage == stage]


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- the protocol -----------------------------------------------------------------------------------------------


def test_a_plain_callback_hears_counts_only_and_a_byte_aware_one_hears_both():
    plain: list[tuple] = []
    reporter = Reporter(lambda stage, done, total: plain.append((stage, done, total)))
    assert not reporter.wants_bytes
    reporter.count("hashing", 1, 2, 10, 20)
    reporter.between("hashing", 1, 2, 15, 20)
    assert plain == [("hashing", 1, 2)]
    fine = Steps()
    reporter = Reporter(fine)
    assert reporter.wants_bytes
    reporter.count("hashing", 1, 2, 10, 20)
    reporter.between("hashing", 1, 2, 15, 20)
    assert fine.steps == [Step("hashing", 1, 2, 10, 20), Step("hashing", 1, 2, 15, 20)]
    Reporter(None).count("hashing", 1, 2)  # no callback: nothing to tell


def test_a_byte_progress_is_still_a_plain_callback():
    fine = Steps()
    fine("applying", 3, 4)
    assert fine.steps == [Step("applying", 3, 4)]


def test_a_meter_reports_on_its_own_thread_at_most_once_an_interval():
    clock, seen = Clock(), []
    meter = Meter(lambda files, count: seen.append((files, count)), interval=0.1, clock=clock)
    worker = threading.Thread(target=lambda: [meter.add(10, 1) for _ in range(5)])
    clock.now = 1.0
    worker.start()
    worker.join()
    assert seen == []  # workers only count
    meter.add(5)
    assert seen == [(5, 55)]
    meter.add(5)
    assert seen == [(5, 55)]  # within the interval
    clock.now = 1.2
    meter.poll()
    assert seen == [(5, 55), (5, 60)]


def test_in_flight_bytes_count_once_whatever_a_retry_resends():
    flight = InFlight()
    moved = flight.meter("a", 100)
    moved(60)
    moved(60)  # a retry sends the start again
    assert flight.done == 100
    flight.meter("b", 50)(10)
    assert flight.done == 110
    flight.finish("a", 100)
    flight.finish("b", 50)  # a skipped or failed item is done too: what is left is what counts for time left
    assert flight.done == 150


# -- hashing ----------------------------------------------------------------------------------------------------


class HeldMeter(Meter):
    """A meter whose worker threads wait, after their first buffer, until the calling thread has reported it.

    Without the wait a worker may read the whole file between two polls; with
    it, the test sees what a slow disk shows: bytes moving within one file.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reported = threading.Event()

    def add(self, count: int, files: int = 0) -> None:
        super().add(count, files)
        if count and threading.get_ident() != self._owner:
            assert self.reported.wait(10)

    def poll(self) -> None:
        super().poll()
        if self.bytes:
            self.reported.set()


@pytest.mark.parametrize("workers", [1, 2])
def test_hash_many_reports_bytes_within_a_big_file_on_the_calling_thread(tmp_path, workers, monkeypatch):
    big = write(tmp_path / "big.exr", os.urandom(6 * BUFFER_SIZE + 123))
    small = [write(tmp_path / f"s{n}.txt", b"x" * n) for n in range(1, 4)]
    items = [(p, os.stat(p)) for p in [big, *small]]
    seen, threads = [], set()

    def progress(files: int, count: int) -> None:
        seen.append((files, count))
        threads.add(threading.get_ident())

    monkeypatch.setattr("bifrostd.progress.INTERVAL", 0.0)  # report at every chance
    monkeypatch.setattr("bifrostd.observe.hashing.Meter", HeldMeter)
    outcomes = hash_many(items, workers=workers, big_file=BUFFER_SIZE, progress=progress)
    assert all(o.digest for o in outcomes)
    assert threads == {threading.get_ident()}
    partial = [count for _, count in seen if 0 < count < big.stat().st_size]
    assert partial, f"no report while the big file was read: {seen}"
    assert seen == sorted(seen) and seen[-1] == (4, sum(st.st_size for _, st in items))


def test_hash_many_without_progress_is_unchanged(tmp_path):
    paths = [write(tmp_path / f"f{n}", os.urandom(n * 1000)) for n in range(5)]
    items = [(p, os.stat(p)) for p in paths]
    assert [o.digest for o in hash_many(items)] == [o.digest for o in hash_many(items, progress=lambda f, b: None)]


# -- a scan -----------------------------------------------------------------------------------------------------


def scan_with(config, progress):
    from bifrostd.catalog import Catalog
    from bifrostd.reconcile.scan import ScanOptions, scan

    loaded, template_set = load(config)
    with Catalog.open(loaded.catalog_path, write=True) as catalog:
        return scan(catalog, template_set, ScanOptions(workers=2), progress=progress)


def test_a_scan_tells_a_plain_callback_exactly_what_it_always_did(tmp_path):
    made = make_tree(tmp_path / "projects", shots=1, versions=1, frames=3)
    calls: list[tuple] = []
    scan_with(write_config(tmp_path, tmp_path / "projects"),
              lambda stage, done, total: calls.append((stage, done, total)))
    n = len(made)
    assert calls == [("walking", 0, None), ("walking", n, n), ("hashing", n, n), ("applying", n, n)]


def test_a_scan_tells_a_byte_aware_callback_files_and_bytes(tmp_path, monkeypatch):
    tree = tmp_path / "projects"
    make_tree(tree, shots=1, versions=1, frames=3)
    write(tree / "demo/plates/plate.exr", os.urandom(5 * BUFFER_SIZE))
    total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    monkeypatch.setattr("bifrostd.reconcile.scan.INTERVAL", 0.0)
    steps = Steps()
    scan_with(write_config(tmp_path, tree), steps)
    assert steps.threads == {threading.get_ident()}
    walking = steps.of("walking")
    assert walking[0] == Step("walking", 0, None, 0) and walking[-1].done_bytes == total
    assert len(walking) > 2  # folder by folder, not only at the start and the end
    hashing = steps.of("hashing")
    assert hashing[-1].done_bytes == hashing[-1].total_bytes == total
    assert [s.stage for s in steps.steps][-1] == "applying"
