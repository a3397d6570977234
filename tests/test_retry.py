"""Backoff bookkeeping for failed daemon work: delays double up to a cap, recovery forgets, status says why."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bifrostd.daemon.retry import Retries


def test_delays_double_from_the_first_up_to_the_cap():
    retries = Retries(first=1.0, most=8.0)
    key = ("batch", "projects")
    delays = [retries.failed(key, "batch of projects", "database or disk is full", now=100.0) - 100.0
              for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert retries.waiting(key, 107.9) and not retries.waiting(key, 108.0)
    assert retries.next_wake() == 108.0


def test_recovery_forgets_the_failure_and_status_says_what_why_and_when():
    retries = Retries(first=2.0, most=60.0)
    retries.failed(("rescan", "renders"), "rescan of renders", "disk I/O error", now=10.0)
    retries.failed(("rescan", "renders"), "rescan of renders", "database or disk is full", now=12.0)
    assert retries.to_json(13.0) == [{"what": "rescan of renders", "error": "database or disk is full",
                                      "attempts": 2, "failing_for_s": 3.0, "retry_in_s": 3.0}]
    assert ("rescan", "renders") in retries and retries
    assert retries.succeeded(("rescan", "renders")) and not retries.succeeded(("rescan", "renders"))
    assert not retries and retries.next_wake() is None and retries.to_json(20.0) == []


@given(st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=30),
       st.floats(min_value=0.01, max_value=10.0), st.floats(min_value=10.0, max_value=600.0))
def test_a_retry_is_never_sooner_than_first_nor_later_than_the_cap(gaps, first, most):
    retries = Retries(first=first, most=most)
    now = 0.0
    previous = 0.0
    for gap in gaps:
        now += gap
        delay = retries.failed(("batch", "r"), "batch", "error", now) - now
        assert first - 1e-9 <= delay <= most + 1e-9
        assert delay >= min(previous, most) - 1e-9  # never shrinks while it keeps failing
        previous = delay


def test_a_failed_full_rescan_waits_out_its_backoff_and_keeps_its_request():
    from bifrostd.daemon.timers import DaemonTimers, Rescan

    schedule = DaemonTimers(full_every=3600, poll_every=30, settle=1.0, now=0.0, template_every=3600)
    schedule.retry(Rescan("projects", True, "startup", 5.0), at=20.0)
    assert schedule.requested() == {"projects": "startup"}
    assert schedule.due_rescans(19.9, {}) == [] and schedule.next_wake(10.0) == 20.0  # no busy wake meanwhile
    assert [(r.root, r.full, r.since) for r in schedule.due_rescans(20.0, {})] == [("projects", True, 5.0)]
    assert schedule.requested() == {}


def test_a_failed_poll_is_polled_again_after_its_backoff():
    from bifrostd.daemon.timers import DaemonTimers, Rescan

    schedule = DaemonTimers(full_every=3600, poll_every=30, settle=1.0, now=0.0)
    schedule.poll({"nfs"}, 0.0)
    assert [r.root for r in schedule.due_rescans(30.0, {})] == ["nfs"]
    schedule.retry(Rescan("nfs", False, "poll"), at=34.0)
    assert schedule.due_rescans(31.0, {}) == [] and [r.root for r in schedule.due_rescans(34.0, {})] == ["nfs"]


def test_deferred_paths_come_back_at_the_backoff_not_before_and_are_not_events():
    from bifrostd.observe.settle import Dirty, Settler

    settler = Settler(settle=1.0)
    paths = [Dirty("projects", "a.ma"), Dirty("projects", "b.ma")]
    settler.defer(paths, until=50.0)
    assert settler.take(49.0) == [] and settler.quiet_since("projects") is None
    settler.touch(Dirty("projects", "a.ma"), now=10.0)  # a new event does not make it due before the backoff
    assert settler.take(49.9) == []
    assert sorted(d.relative for d in settler.take(50.0)) == ["a.ma", "b.ma"]
