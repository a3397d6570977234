"""Content hashing: digests, refusal of links and specials, torn reads, and the batch API."""

from __future__ import annotations

import os
import threading

import pytest
import xxhash

from bifrostd.observe import hashing
from bifrostd.observe.hashing import (
    BUFFER_SIZE, HashStatus, NotRegularFile, hash_file, hash_many, hash_stable, shutdown_pool, uses_pool,
)
from bifrostd.model import FileState, FindingKind


@pytest.mark.parametrize("size", [0, 1, 4096, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1, 3 * BUFFER_SIZE + 7])
def test_hash_file_is_xxh3_128_of_the_content(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert hash_file(path) == xxhash.xxh3_128_hexdigest(data)
    assert hash_file(path, buffer=bytearray(4096)) == xxhash.xxh3_128_hexdigest(data)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")  # no writer: a blocking open would hang the test
    with pytest.raises(NotRegularFile):
        hash_file(tmp_path / "pipe")
    outcome = hash_stable(tmp_path / "pipe", os.stat(tmp_path / "pipe"))
    assert outcome.status is HashStatus.NOT_REGULAR and outcome.digest is None


def test_a_symlink_swapped_in_is_not_followed(tmp_path):
    (tmp_path / "real.exr").write_bytes(b"frame")
    before = os.stat(tmp_path / "real.exr")
    (tmp_path / "link.exr").symlink_to(tmp_path / "real.exr")
    outcome = hash_stable(tmp_path / "link.exr", before)
    assert outcome.status is HashStatus.NOT_REGULAR
    assert outcome.finding("r", "link.exr").kind is FindingKind.SPECIAL_FILE


def test_a_stable_file_gets_its_digest_from_a_file_state(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"pixels")
    st = os.stat(path)
    before = FileState("r", "a.exr", st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    outcome = hash_stable(path, before)
    assert outcome.status is HashStatus.STABLE and not outcome.changed
    assert outcome.digest == xxhash.xxh3_128_hexdigest(b"pixels")
    assert outcome.finding("r", "a.exr") is None


def test_a_file_changed_since_it_was_observed_is_not_read(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"v1")
    before = os.stat(path)
    path.write_bytes(b"v2 longer")
    outcome = hash_stable(path, before)
    assert outcome.changed and outcome.digest is None


def test_a_write_between_read_and_restat_is_reported_changed(tmp_path):
    """The torn case: content read, then the file grows before the re-check."""
    path = tmp_path / "render.exr"
    path.write_bytes(b"first half")
    before = os.stat(path)

    def writer_then_stat(name, *, dir_fd=None, follow_symlinks=True):
        with open(name, "ab") as f:
            f.write(b" second half")
        return os.stat(name, follow_symlinks=follow_symlinks)

    outcome = hash_stable(path, before, stat=writer_then_stat)
    assert outcome.status is HashStatus.CHANGED and outcome.digest is None
    assert outcome.finding("r", "render.exr").kind is FindingKind.CHANGED_WHILE_READING


def test_a_file_replaced_by_rename_after_reading_is_reported_changed(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"old")
    before = os.stat(path)

    def replace_then_stat(name, *, dir_fd=None, follow_symlinks=True):
        (tmp_path / "new.tmp").write_bytes(b"new")
        os.replace(tmp_path / "new.tmp", name)  # an atomic save: same size, new inode
        return os.stat(name, follow_symlinks=follow_symlinks)

    assert hash_stable(path, before, stat=replace_then_stat).status is HashStatus.CHANGED


def test_a_vanished_file_is_reported(tmp_path):
    path = tmp_path / "a.exr"
    path.write_bytes(b"x")
    before = os.stat(path)
    path.unlink()
    outcome = hash_stable(path, before)
    assert outcome.status is HashStatus.VANISHED and outcome.changed
    assert outcome.finding("r", "a.exr").kind is FindingKind.VANISHED


def test_a_real_writer_never_gets_a_torn_hash_recorded(tmp_path):
    """A writer appending while we hash: every STABLE digest must match the content at that size."""
    path = tmp_path / "growing.exr"
    path.write_bytes(b"")
    stop = threading.Event()
    limit = 64 * 1024 * 1024  # bounded, so a slow reader on a loaded machine can never fill the disk

    def writer():
        with open(path, "ab") as f:
            written = 0
            while not stop.is_set() and written < limit:
                f.write(b"z" * 65536)
                f.flush()
                written += 65536

    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = []
    try:
        while thread.is_alive() and len(outcomes) < 200:
            before = os.stat(path)
            outcomes.append((hash_stable(path, before), before))
    finally:
        stop.set()
        thread.join()
    assert outcomes
    for outcome, before in outcomes:
        if outcome.status is HashStatus.STABLE:
            assert outcome.digest == xxhash.xxh3_128_hexdigest(b"z" * before.st_size)
        else:
            assert outcome.status is HashStatus.CHANGED


def test_hash_many_keeps_input_order_across_small_and_big_files(tmp_path):
    contents = [os.urandom(n) for n in (10, 5 * BUFFER_SIZE, 0, 6 * BUFFER_SIZE, 300)]
    items = []
    for i, data in enumerate(contents):
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        items.append((path, os.stat(path)))
    for workers in (1, 2):
        outcomes = hash_many(items, workers=workers, big_file=4 * BUFFER_SIZE)
        assert [o.digest for o in outcomes] == [xxhash.xxh3_128_hexdigest(d) for d in contents]
        assert [o.path for o in outcomes] == [str(p) for p, _ in items]


def test_hash_many_reports_problems_per_file(tmp_path):
    (tmp_path / "ok").write_bytes(b"ok")
    (tmp_path / "gone").write_bytes(b"gone")
    items = [(tmp_path / "ok", os.stat(tmp_path / "ok")), (tmp_path / "gone", os.stat(tmp_path / "gone"))]
    (tmp_path / "gone").unlink()
    assert [o.status for o in hash_many(items)] == [HashStatus.STABLE, HashStatus.VANISHED]


def test_worker_processes_give_the_same_outcomes_in_input_order(tmp_path):
    contents = [os.urandom(n) for n in range(0, 3000, 97)]
    items = []
    for i, data in enumerate(contents):
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        items.append((path, os.stat(path)))
    (tmp_path / "f3").unlink()  # vanished: reported by the worker that met it
    os.utime(tmp_path / "f5", ns=(1, 1))  # changed since observed: never read
    outcomes = hash_many(items, workers=3, pool_min_files=1, pool_min_bytes=0)
    assert [o.path for o in outcomes] == [str(p) for p, _ in items]
    assert outcomes[3].status is HashStatus.VANISHED and outcomes[3].digest is None
    assert outcomes[5].status is HashStatus.CHANGED and outcomes[5].digest is None
    expected = [xxhash.xxh3_128_hexdigest(d) for d in contents]
    assert [o.digest for i, o in enumerate(outcomes) if i not in (3, 5)] == [d for i, d in enumerate(expected)
                                                                             if i not in (3, 5)]


def test_files_hashed_folder_by_folder_keep_their_outcomes_when_a_folder_goes(tmp_path):
    items, contents = [], {}
    for folder in ("a", "b", "c", "d"):
        for n in range(3):
            path = tmp_path / "shot" / folder / f"f{n}.exr"
            path.parent.mkdir(parents=True, exist_ok=True)
            contents[str(path)] = os.urandom(50 + n)
            path.write_bytes(contents[str(path)])
            items.append((path, os.stat(path)))
    lone = tmp_path / "lone.txt"  # a folder with one file: opened by path
    lone.write_bytes(b"alone")
    items.append((lone, os.stat(lone)))
    for path in (tmp_path / "shot" / "b").iterdir():
        path.unlink()
    (tmp_path / "shot" / "b").rmdir()  # the whole folder vanished after the walk
    for workers, pool_min_files in ((1, 2000), (3, 1)):
        outcomes = hash_many(items, workers=workers, pool_min_files=pool_min_files, pool_min_bytes=0)
        assert [o.path for o in outcomes] == [str(p) for p, _ in items]
        by_folder = {o.path: o for o in outcomes}
        for path, outcome in by_folder.items():
            if "/shot/b/" in path:
                assert outcome.status is HashStatus.VANISHED
            else:
                assert outcome.digest == xxhash.xxh3_128_hexdigest(contents.get(path, b"alone")), path


def small_files(folder, sizes):
    items = []
    for i, size in enumerate(sizes):
        path = folder / f"f{i}.exr"
        path.write_bytes(os.urandom(size))
        items.append((path, os.stat(path)))
    return items


@pytest.mark.parametrize(("min_files", "min_bytes", "pooled"), [
    (10, 10 * 3000, True),        # exactly at both thresholds
    (11, 10 * 3000, False),       # one file short
    (10, 10 * 3000 + 1, False),   # one byte short
    (1, 0, True),
])
def test_small_files_go_to_a_worker_only_at_both_thresholds(tmp_path, min_files, min_bytes, pooled):
    items = [(str(p), (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)) for p, st in small_files(tmp_path, [3000] * 10)]
    assert uses_pool(items, 2, min_files, min_bytes) is pooled
    assert uses_pool(items, 1, min_files, min_bytes) is False  # one worker: never a process


@pytest.mark.parametrize("pooled", [False, True])
def test_inline_and_pooled_hashing_give_identical_outcomes(tmp_path, pooled):
    items = small_files(tmp_path, [n * 37 % 4097 for n in range(60)])
    total = sum(st.st_size for _, st in items)
    (tmp_path / "f7.exr").unlink()  # vanished after it was observed
    os.utime(tmp_path / "f9.exr", ns=(1, 1))  # changed since observed
    shutdown_pool()
    outcomes = hash_many(items, workers=2, pool_min_files=1, pool_min_bytes=total if pooled else total + 1)
    assert (hashing._POOL is not None) is pooled  # a process was started only above the threshold
    inline = hash_many(items, workers=1)
    assert outcomes == inline
    assert [o.path for o in outcomes] == [str(p) for p, _ in items]
    assert outcomes[7].status is HashStatus.VANISHED and outcomes[9].status is HashStatus.CHANGED
    assert all(o.digest == xxhash.xxh3_128_hexdigest(p.read_bytes()) for i, (p, _) in enumerate(items)
               if i not in (7, 9) for o in [outcomes[i]])


def test_the_flat_loop_refuses_what_hash_at_refuses(tmp_path):
    """The inline loop and ``hash_stable`` agree on links, FIFOs, changed and vanished files."""
    (tmp_path / "real.exr").write_bytes(b"frame")
    (tmp_path / "link.exr").symlink_to(tmp_path / "real.exr")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "grown.exr").write_bytes(b"v1")
    paths = ["real.exr", "link.exr", "pipe", "grown.exr", "gone.exr"]
    (tmp_path / "gone.exr").write_bytes(b"x")
    items = [(tmp_path / name, os.stat(tmp_path / ("real.exr" if name == "link.exr" else name))) for name in paths]
    (tmp_path / "grown.exr").write_bytes(b"v2 longer")
    (tmp_path / "gone.exr").unlink()
    outcomes = hash_many(items, workers=1)
    assert outcomes == [hash_stable(path, before) for path, before in items]
    assert [o.status for o in outcomes] == [HashStatus.STABLE, HashStatus.NOT_REGULAR, HashStatus.NOT_REGULAR,
                                            HashStatus.CHANGED, HashStatus.VANISHED]
