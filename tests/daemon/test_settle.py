"""Settling with an injected clock: quiet for the interval, then released once, in deadline order."""

from __future__ import annotations

import threading

import pytest

from bifrostd.observe.settle import Dirty, Settler

A = Dirty("projects", "a.ma")
B = Dirty("projects", "b.ma")
D = Dirty("projects", "shots", is_dir=True)


def test_a_path_is_due_only_after_a_quiet_interval():
    settler = Settler(1.0)
    assert settler.touch(A, now=10.0) is True
    assert settler.take(10.9) == []
    assert settler.take(11.0) == [A]
    assert settler.take(20.0) == []
    assert len(settler) == 0


def test_each_event_pushes_the_deadline_back():
    settler = Settler(1.0)
    for now in (0.0, 0.5, 1.0, 1.4):  # a file written in bursts
        settler.touch(A, now)
    assert settler.take(2.3) == []
    assert settler.next_deadline() <= 2.4
    assert settler.take(2.4) == [A]


def test_many_events_one_pending_path():
    settler = Settler(1.0)
    for i in range(1000):
        settler.touch(A, i / 1000)
    assert len(settler) == 1
    assert settler.take(5.0) == [A]
    assert settler.touched == 1000


def test_only_the_first_touch_reports_an_empty_queue():
    settler = Settler(1.0)
    assert settler.touch(A, 0.0)
    assert not settler.touch(B, 0.1)
    settler.take(5.0)
    assert settler.touch(A, 6.0)


def test_due_paths_come_oldest_first_and_in_batches():
    settler = Settler(0.5)
    paths = [Dirty("r", f"f{i:03d}") for i in range(10)]
    for i, dirty in enumerate(reversed(paths)):
        settler.touch(dirty, now=i * 0.01)
    first = settler.take(10.0, limit=4)
    assert first == list(reversed(paths))[:4]
    assert settler.take(10.0) == list(reversed(paths))[4:]


def test_files_and_folders_of_the_same_name_are_distinct():
    settler = Settler(0.0)
    settler.touch(Dirty("projects", "shots"), 0.0)
    settler.touch(D, 0.0)
    assert set(settler.take(0.0)) == {Dirty("projects", "shots"), D}


def test_a_path_touched_after_being_taken_is_pending_again():
    settler = Settler(1.0)
    settler.touch(A, 0.0)
    assert settler.take(1.0) == [A]
    settler.touch(A, 1.5)
    assert settler.take(2.0) == []
    assert settler.take(2.5) == [A]


def test_quiet_since_and_drop_root():
    settler = Settler(1.0)
    settler.touch(A, 3.0)
    settler.touch(Dirty("renders", "x.exr"), 4.0)
    assert settler.quiet_since("projects") == 3.0
    assert settler.quiet_since("nothing") is None
    assert settler.drop_root("projects") == 1
    assert settler.take(100.0) == [Dirty("renders", "x.exr")]


@pytest.mark.parametrize("settle", [0.0, 0.25, 1.0, 30.0])
def test_nothing_is_ever_released_early(settle):
    settler = Settler(settle)
    times = {}
    for i in range(200):
        dirty = Dirty("r", f"f{i % 37}")
        now = i * 0.05
        settler.touch(dirty, now)
        times[dirty] = now
    now = 0.0
    while len(settler):
        now += 0.05
        for dirty in settler.take(now):
            assert now - times[dirty] >= settle


def test_concurrent_touches_lose_nothing():
    settler = Settler(0.0)

    def write(prefix):
        for i in range(2000):
            settler.touch(Dirty("r", f"{prefix}/{i}"), 0.0)

    threads = [threading.Thread(target=write, args=(str(n),)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(settler.take(1.0, limit=10**6)) == 8000
